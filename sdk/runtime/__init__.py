"""The one inference core: load a verified artifact, validate inputs against its manifest, run it.

The edge route, the function handlers and the GPU server all go through ``load``::

    model = sdk.runtime.load("digits-cnn")      # verify sha256, build the session, warm up
    outputs = model({"image": batch})           # validate, run; outputs by name
    answers = model(Path("digit_7.png"))        # raw input through the manifest's processors: Processed
"""

from sdk.runtime.backend import Backend
from sdk.runtime.model import LoadedModel, RuntimeInfo, load
from sdk.runtime.processors import Encoded, Processed, Processors, open_processors
from sdk.runtime.providers import ProviderPlan, plan_providers, probe_machine
from sdk.runtime.validation import InputValidator

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
