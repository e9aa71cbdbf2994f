"""The one inference core: load a verified artifact, validate inputs against its manifest, run it.

The edge route, the function handlers and the GPU server all go through ``load``::

    model = sdk.runtime.load("digits-cnn")      # verify sha256, build the session, warm up
    outputs = model({"image": batch})           # validate, run; outputs by name
    answers = model(Path("digit_7.png"))        # raw input through the manifest's processors: Processed
"""

from importlib import import_module

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from sdk.runtime.backend import Backend
    from sdk.runtime.model import LoadedModel, RuntimeInfo, load
    from sdk.runtime.processors import Encoded, Processed, Processors, open_processors
    from sdk.runtime.providers import ProviderPlan, plan_providers, probe_machine
    from sdk.runtime.validation import InputValidator

# Public name -> its module, imported on first use (PEP 562): ``from sdk.runtime.config import RuntimeConfig`` (the
# server's and the CLI's settings) must not pull in numpy, the artifact reader and the processors.
_WHERE = {
    "Backend": "sdk.runtime.backend",
    **dict.fromkeys(("LoadedModel", "RuntimeInfo", "load"), "sdk.runtime.model"),
    **dict.fromkeys(("Encoded", "Processed", "Processors", "open_processors"), "sdk.runtime.processors"),
    **dict.fromkeys(("ProviderPlan", "plan_providers", "probe_machine"), "sdk.runtime.providers"),
    "InputValidator": "sdk.runtime.validation",
}


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'sdk.runtime' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})


__all__ = [
    "Backend",
    "Encoded",
    "InputValidator",
    "LoadedModel",
    "Processed",
    "Processors",
    "ProviderPlan",
    "RuntimeInfo",
    "load",
    "open_processors",
    "plan_providers",
    "probe_machine",
]
