"""The optional packages as `sdk compile` names them: ``sdk.extras``' helpers with onnxruntime coming from the compile
extra (a user compiling installs that one; the base table names the edge extra, the device's)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from types import ModuleType

from sdk import extras
from sdk.extras import COMPILE, Requirement

EXTRAS: Mapping[str, Requirement] = {**extras.EXTRAS, "onnxruntime": Requirement("onnxruntime", COMPILE)}


def require(module: str, *, purpose: str) -> ModuleType:
    """``sdk.extras.require`` with compile's table."""
    return extras.require(module, purpose=purpose, table=EXTRAS)


def translating_imports(what: str, *, hint: str = "install what it imports") -> contextlib.AbstractContextManager[None]:
    """``sdk.extras.translating_imports`` with compile's table."""
    return extras.translating_imports(what, hint=hint, table=EXTRAS)
