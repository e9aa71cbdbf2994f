"""How the inference core builds a session: ``RuntimeConfig``, resolved by ``sdk.settings`` (argument, then
environment variable, then default)."""

from __future__ import annotations

import dataclasses
from typing import Any

from sdk._record import record
from sdk.errors import ConfigError
from sdk.settings import env, resolve

GRAPH_OPTIMIZATION_LEVELS = ("disable", "basic", "extended", "all")
BACKENDS = ("auto", "onnxruntime", "openvino")
# How the process uses a model, which decides what a faster engine may cost at load (sdk.runtime.choice):
#   oneshot   answers once or a few times (`sdk predict`, a script): the cheapest load to the first answer wins;
#   function  a serverless function's init (Lambda): every cold start pays the load, then it answers for a while;
#   server    long-lived (`sdk serve`, an app): the fastest per call wins, measured once per device and remembered;
#   auto      function inside AWS Lambda (AWS_LAMBDA_FUNCTION_NAME is set there), else server.
USAGES = ("auto", "oneshot", "function", "server")


@record(kw_only=True)
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
        "AIAAS_PRECISION",
        None,
        help="artifact precision to run (fp32, fp16, int8), or auto (unset): the fastest artifact that passed its "
        "quality gate; a precision the model lacks falls back to auto",
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
    usage: str = env(
        "AIAAS_USAGE",
        "auto",
        help="how this process uses the model, which weighs load time against per-call speed: oneshot (a CLI call), "
        "function (a serverless function's init), server (long-lived), or auto (function in AWS Lambda, else server)",
    )
    # Set by AWS Lambda in every function's environment (never by a user): what `usage` auto reads.
    aws_lambda_function: str | None = env(
        "AWS_LAMBDA_FUNCTION_NAME", None, help="set by AWS Lambda inside a function: usage auto means function there"
    )
    weights_in_place: bool = env(
        "AIAAS_WEIGHTS_IN_PLACE",
        True,
        help="hand ONNX Runtime a model's weights as views over its verified bytes instead of letting it copy them "
        "(a 58 MB model's session builds ~5x faster)",
    )
    static_shapes: bool = env(
        "AIAAS_STATIC_SHAPES",
        True,
        help="in a long-lived server, compile a static-shape copy of a model's two hottest input shapes in the "
        "background (OpenVINO: faster on those shapes; each copy holds its own compiled weights); off under a memory "
        "budget, which counts what a load adds, not copies made later",
    )
    compile_cache: bool = env(
        "AIAAS_COMPILE_CACHE",
        True,
        help="keep engines' compiled models (OpenVINO's CACHE_DIR) under the cache home, so the next start is fast",
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
        if self.usage not in USAGES:
            raise ConfigError(f"usage={self.usage!r}; expected one of {', '.join(USAGES)}")
        if self.precision in ("auto", ""):
            object.__setattr__(self, "precision", None)  # auto is the default: no precision pinned

    @property
    def process_usage(self) -> str:
        """``usage`` with auto resolved: function inside AWS Lambda, else server."""
        if self.usage != "auto":
            return self.usage
        return "function" if self.aws_lambda_function else "server"

    def usage_default(self, usage: str) -> RuntimeConfig:
        """This config with ``usage`` in place of auto: how an entry point that knows its process says so (`sdk
        predict`: oneshot; `sdk serve`: server) while a usage the user set (AIAAS_USAGE) still wins."""
        if usage not in USAGES:
            raise ConfigError(f"usage={usage!r}; expected one of {', '.join(USAGES)}")
        return self if self.usage != "auto" else dataclasses.replace(self, usage=usage)

    @classmethod
    def from_env(cls, **arguments: Any) -> RuntimeConfig:
        return resolve(cls, **arguments)
