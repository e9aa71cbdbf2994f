"""aiaas: serverless edge-and-cloud inference.

``import sdk`` loads no ML runtime and no AWS SDK; those load when first used.
"""

from sdk._version import __version__
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
    "load",
]
