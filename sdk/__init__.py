"""aiaas: serverless edge-and-cloud inference.

``import sdk`` loads no ML runtime and no AWS SDK, and none of its own parts either: each name below is imported on
first use (PEP 562), so a process that only loads a model never imports the client (asyncio, httpx) and one that only
calls the cloud never imports the runtime. ``import sdk`` costs a few milliseconds; ``sdk.load`` imports what loading
needs (numpy, the artifact reader, the runtime), ``sdk.Client`` what calling needs.
"""

from __future__ import annotations

from importlib import import_module

from sdk._version import __version__

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (2 ms, more than the rest of this module)
if TYPE_CHECKING:
    from sdk.adaptation import adapt
    from sdk.artifacts import Manifest, TensorSpec
    from sdk.artifacts.config import StoreConfig
    from sdk.client import AsyncClient, Client, ClientConfig, Decision, Mode, Privacy, Reason, Result, Route
    from sdk.errors import (
        AiaasError,
        CloudBadResponse,
        CloudUnavailable,
        ConfigError,
        DeadlineExceeded,
        IntegrityError,
        InvalidInput,
        LocalUnavailable,
        MalformedRequest,
        ManifestError,
        MissingDependency,
        ModelNotFound,
        Overloaded,
        ParityFailure,
        PayloadTooLarge,
        PrivacyViolation,
        RuntimeFault,
        Unauthorized,
    )
    from sdk.runtime import LoadedModel, load
    from sdk.runtime.config import RuntimeConfig

# Public name -> the module that defines it.
_WHERE = {
    "adapt": "sdk.adaptation",
    **dict.fromkeys(("Manifest", "TensorSpec"), "sdk.artifacts"),
    "StoreConfig": "sdk.artifacts.config",
    **dict.fromkeys(
        ("AsyncClient", "Client", "ClientConfig", "Decision", "Mode", "Privacy", "Reason", "Result", "Route"),
        "sdk.client",
    ),
    **dict.fromkeys(
        (
            "AiaasError",
            "CloudBadResponse",
            "CloudUnavailable",
            "ConfigError",
            "DeadlineExceeded",
            "IntegrityError",
            "InvalidInput",
            "LocalUnavailable",
            "MalformedRequest",
            "ManifestError",
            "MissingDependency",
            "ModelNotFound",
            "Overloaded",
            "ParityFailure",
            "PayloadTooLarge",
            "PrivacyViolation",
            "RuntimeFault",
            "Unauthorized",
        ),
        "sdk.errors",
    ),
    **dict.fromkeys(("LoadedModel", "load"), "sdk.runtime"),
    "RuntimeConfig": "sdk.runtime.config",
}


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'sdk' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # imported once: later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})


__all__ = [
    "AiaasError",
    "AsyncClient",
    "Client",
    "ClientConfig",
    "CloudBadResponse",
    "CloudUnavailable",
    "ConfigError",
    "DeadlineExceeded",
    "Decision",
    "IntegrityError",
    "InvalidInput",
    "LoadedModel",
    "LocalUnavailable",
    "MalformedRequest",
    "Manifest",
    "ManifestError",
    "MissingDependency",
    "Mode",
    "ModelNotFound",
    "Overloaded",
    "ParityFailure",
    "PayloadTooLarge",
    "Privacy",
    "PrivacyViolation",
    "Reason",
    "Result",
    "Route",
    "RuntimeConfig",
    "RuntimeFault",
    "StoreConfig",
    "TensorSpec",
    "Unauthorized",
    "__version__",
    "adapt",
    "load",
]
