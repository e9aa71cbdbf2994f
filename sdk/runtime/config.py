"""How the inference core builds a session: ``RuntimeConfig``, resolved by ``sdk.settings`` (argument, then
environment variable, then default)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sdk.errors import ConfigError
from sdk.settings import env, resolve

GRAPH_OPTIMIZATION_LEVELS = ("disable", "basic", "extended", "all")
BACKENDS = ("auto", "onnxruntime", "openvino")


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
