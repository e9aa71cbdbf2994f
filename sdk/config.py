"""Typed, frozen configuration objects.

Every value resolves as: explicit argument, then environment variable, then default. The environment variable that
feeds a field is declared beside the field (``env(...)``), so ``sdk doctor`` and the docs can list them all.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sdk.errors import ConfigError

T = TypeVar("T")

GRAPH_OPTIMIZATION_LEVELS = ("disable", "basic", "extended", "all")


def env(name: str, default: Any, *, help: str) -> Any:
    """A dataclass field read from the environment variable ``name`` when no argument is given."""
    if isinstance(default, (list, dict, set)):
        raise TypeError("use an immutable default")
    return field(default=default, metadata={"env": name, "help": help})


def _parse(raw: str, kind: Any, var: str) -> Any:
    text = raw.strip()
    if isinstance(kind, str):
        kind = kind.replace(" | None", "")
    try:
        if kind in (bool, "bool"):
            lowered = text.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(text)
        if kind in (int, "int"):
            return int(text)
        if kind in (float, "float"):
            return float(text)
        if kind in (Path, "Path"):
            return Path(text).expanduser()
        if kind in ("tuple[str, ...]",):
            return tuple(part.strip() for part in text.split(",") if part.strip())
        return text
    except ValueError as exc:
        raise ConfigError(f"environment variable {var}={raw!r} is not a valid {kind}") from exc


def resolve(cls: type[T], *, file_values: Mapping[str, Any] | None = None, **arguments: Any) -> T:
    """Build ``cls`` from explicit ``arguments`` (``None`` means not given), then env vars, then ``file_values``
    (a config file's settings), then defaults."""
    values: dict[str, Any] = {}
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(arguments) - names
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} setting(s): {', '.join(sorted(unknown))}")
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        given = arguments.get(f.name)
        if given is not None:
            values[f.name] = given
            continue
        var = f.metadata.get("env")
        if var and os.environ.get(var) is not None:
            values[f.name] = _parse(os.environ[var], f.type, var)
        elif file_values and file_values.get(f.name) is not None:
            value = file_values[f.name]
            values[f.name] = tuple(value) if isinstance(value, list) else value
    return cls(**values)


def env_vars(cls: type) -> Mapping[str, str]:
    """Environment variable name -> help, for the fields of ``cls`` that read one."""
    return {f.metadata["env"]: f.metadata["help"] for f in dataclasses.fields(cls) if "env" in f.metadata}


BACKENDS = ("auto", "onnxruntime", "openvino")


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "aiaas"


@dataclass(frozen=True, kw_only=True)
class RuntimeConfig:
    """How the inference core builds a session. ``threads=0`` lets ONNX Runtime choose."""

    threads: int = env("AIAAS_THREADS", 0, help="intra-op threads per session (0: runtime default)")
    inter_op_threads: int = env("AIAAS_INTER_OP_THREADS", 1, help="inter-op threads per session")
    graph_optimization: str = env(
        "AIAAS_GRAPH_OPTIMIZATION", "all", help="graph optimization level: disable|basic|extended|all"
    )
    providers: tuple[str, ...] = env(
        "AIAAS_PROVIDERS",
        ("auto",),
        help="execution providers in order of preference, or 'auto' (TensorRT, CUDA, CPU as available)",
    )
    # Spin-waiting threads steal the CPU from a Python server on small machines (FACTS.md: ~45% throughput).
    allow_spinning: bool = env("AIAAS_ALLOW_SPINNING", False, help="let runtime threads spin-wait")
    warmup_runs: int = env("AIAAS_WARMUP_RUNS", 1, help="runs on a synthetic input right after loading")
    precision: str | None = env(
        "AIAAS_PRECISION", None, help="preferred artifact precision (fp32, fp16, int8); fp32 when the model lacks it"
    )
    trusted_keys: tuple[str, ...] = env(
        "AIAAS_TRUSTED_KEYS",
        (),
        help="trusted public keys (comma-separated .pub files or ed25519:BASE64); when set, only models whose "
        "manifest one of them signed are loaded",
    )
    backend: str = env(
        "AIAAS_BACKEND",
        "auto",
        help="engine: auto (measure the candidates on this device once, keep the fastest), onnxruntime, openvino",
    )

    def __post_init__(self) -> None:
        if self.threads < 0 or self.inter_op_threads < 0:
            raise ConfigError("thread counts must be >= 0")
        if self.graph_optimization not in GRAPH_OPTIMIZATION_LEVELS:
            raise ConfigError(
                f"graph_optimization={self.graph_optimization!r}; "
                f"expected one of {', '.join(GRAPH_OPTIMIZATION_LEVELS)}"
            )
        if not self.providers:
            raise ConfigError("providers must name at least one execution provider, or 'auto'")
        if self.warmup_runs < 0:
            raise ConfigError("warmup_runs must be >= 0")
        if self.backend not in BACKENDS:
            raise ConfigError(f"backend={self.backend!r}; expected one of {', '.join(BACKENDS)}")

    @classmethod
    def from_env(cls, **arguments: Any) -> RuntimeConfig:
        return resolve(cls, **arguments)


@dataclass(frozen=True, kw_only=True)
class StoreConfig:
    """Where models live on this machine. The built-in store (models shipped inside the package) is read-only."""

    root: Path = env("AIAAS_STORE", None, help="local model store root (default: ~/.cache/aiaas/models)")
    include_builtin: bool = env(
        "AIAAS_INCLUDE_BUILTIN", True, help="also look up the models shipped inside the package"
    )

    def __post_init__(self) -> None:
        # Resolved here, not at import, so XDG_CACHE_HOME set after `import sdk` still counts.
        root = default_cache_dir() / "models" if self.root is None else Path(self.root).expanduser()
        object.__setattr__(self, "root", root)

    @classmethod
    def from_env(cls, **arguments: Any) -> StoreConfig:
        return resolve(cls, **arguments)
