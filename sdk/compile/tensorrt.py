"""TensorRT engines: key, cache, build, and the order in which a GPU host falls back when it has no engine.

An engine only runs on the GPU architecture and TensorRT version that built it, so it is keyed by
(ONNX sha256, compute capability, TensorRT version, precision; for a model with external data the sha256 covers
the graph and every shard's sha256, ``LargeModel.sha256``) and cached under that key. A GPU host with no matching
engine builds one if allowed, else runs the ONNX with ORT's TensorRT provider, else CUDA, else the CPU.
TensorRT cannot be installed on the machines that run our tests (FACTS.md): everything here except ``build_engine``'s
calls into TensorRT is exercised on the CPU; the real build is a `gpu` test.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from sdk._record import record
from sdk.artifacts.manifest import TensorSpec
from sdk.compile.external import LargeModel, OnnxModel, verify_shards
from sdk.compile.extras import require
from sdk.errors import ArtifactError, ConfigError
from sdk.extras import GPU, optional

ENGINE_PRECISIONS = ("fp32", "fp16", "int8")
# Optimization profile defaults for dynamic dimensions that the manifest does not bound.
DEFAULT_MAX = {"batch": 32, "sequence": 512}
DEFAULT_OPT = {"batch": 1, "sequence": 128}
WORKSPACE_BYTES = 1 << 30


@record
class EngineKey:
    onnx_sha256: str
    compute_capability: str
    tensorrt_version: str
    precision: str

    def __post_init__(self) -> None:
        if self.precision not in ENGINE_PRECISIONS:
            raise ConfigError(f"TensorRT precision {self.precision!r} must be one of {', '.join(ENGINE_PRECISIONS)}")

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()

    @property
    def file(self) -> str:
        """The engine's file name inside an artifact folder or the cache; readable and unique per key."""
        cc = self.compute_capability.replace(".", "")
        return f"engines/{self.precision}-sm{cc}-trt{self.tensorrt_version}-{self.digest[:16]}.plan"

    def target(self) -> dict[str, str]:
        """The manifest ``target`` of an engine built for this key."""
        return {"runtime": "tensorrt", **asdict(self)}


def unavailable_reason(trt: ModuleType | None = None, compute_capability: str | None = None) -> str | None:
    """Why no engine can be built here (one line), or None when TensorRT and a GPU are both present."""
    if trt is None and optional("tensorrt") is None:  # present is all that is asked here
        return f"TensorRT is not installed ({GPU.command} on a host with an NVIDIA GPU)"
    if (compute_capability or gpu_compute_capability()) is None:
        return "no NVIDIA GPU is visible (nvidia-smi found none)"
    return None


def gpu_compute_capability() -> str | None:
    """The first GPU's compute capability (e.g. "9.0"), from nvidia-smi; None without a GPU."""
    if not shutil.which("nvidia-smi"):
        return None
    try:
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=compute_cap", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    return lines[0] if done.returncode == 0 and lines else None


class EngineCache:
    """Engines on disk, one file per key, each with a sidecar recording its key and sha256."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _paths(self, key: EngineKey) -> tuple[Path, Path]:
        path = self.root / key.file
        return path, path.with_suffix(".json")

    def lookup(self, key: EngineKey) -> bytes | None:
        """The cached engine for ``key``; None when absent. A file whose bytes changed is an error, never a hit."""
        path, sidecar = self._paths(key)
        if not path.is_file() or not sidecar.is_file():
            return None
        record = json.loads(sidecar.read_text(encoding="utf-8"))
        data = path.read_bytes()
        if record.get("key") != asdict(key) or record.get("sha256") != hashlib.sha256(data).hexdigest():
            raise ArtifactError(
                f"cached TensorRT engine {path} does not match its record",
                hint=f"delete {path} and its .json to rebuild it",
            )
        return data

    def store(self, key: EngineKey, engine: bytes) -> Path:
        path, sidecar = self._paths(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(engine)
        record = {"key": asdict(key), "sha256": hashlib.sha256(engine).hexdigest(), "bytes": len(engine)}
        sidecar.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        return path


def profile_shapes(spec: TensorSpec) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(min, opt, max) shapes of one input for TensorRT's optimization profile."""
    names = spec.dim_names or (None,) * len(spec.shape)
    bounds = spec.max_shape or (-1,) * len(spec.shape)
    low, opt, high = [], [], []
    for size, name, bound in zip(spec.shape, names, bounds):
        if size != -1:
            low.append(size)
            opt.append(size)
            high.append(size)
            continue
        top = bound if bound > 0 else DEFAULT_MAX.get(name or "batch", DEFAULT_MAX["batch"])
        low.append(1)
        opt.append(min(DEFAULT_OPT.get(name or "batch", 1), top))
        high.append(top)
    return tuple(low), tuple(opt), tuple(high)


def build_engine(
    onnx_model: OnnxModel,
    inputs: Sequence[TensorSpec],
    precision: str,
    *,
    timing_cache: Path | None = None,
    trt: Any = None,
) -> bytes:
    """Build a serialized engine with the TensorRT Python API: one optimization profile covering the dynamic
    dimensions, fp16/int8 flags by precision, and a timing cache reused across builds.

    A ``LargeModel`` is parsed from its graph file (verified shards first), so the parser finds its external-data
    shards beside it; bytes of such a graph would leave the parser no folder to look in."""
    if trt is None:
        trt = require("tensorrt", purpose="building TensorRT engines")
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    if hasattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH"):  # implicit in TensorRT 10
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if isinstance(onnx_model, LargeModel):
        verify_shards(onnx_model)
        parsed = parser.parse_from_file(str(onnx_model.path))
    else:
        parsed = parser.parse(onnx_model)
    if not parsed:
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ArtifactError(f"TensorRT could not parse the ONNX model: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    if precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    elif precision == "int8":
        # Explicit quantization: the int8 ONNX carries its scales (Q/DQ); fp16 lets unquantized layers run fast.
        config.set_flag(trt.BuilderFlag.INT8)
        config.set_flag(trt.BuilderFlag.FP16)
    cache_bytes = timing_cache.read_bytes() if timing_cache and timing_cache.is_file() else b""
    cache = config.create_timing_cache(cache_bytes)
    config.set_timing_cache(cache, ignore_mismatch=False)
    profile = builder.create_optimization_profile()
    for spec in inputs:
        profile.set_shape(spec.name, *profile_shapes(spec))
    config.add_optimization_profile(profile)
    engine = builder.build_serialized_network(network, config)
    if engine is None:
        raise ArtifactError(f"TensorRT failed to build a {precision} engine (see its log above)")
    if timing_cache is not None:
        timing_cache.parent.mkdir(parents=True, exist_ok=True)
        timing_cache.write_bytes(bytes(config.get_timing_cache().serialize()))
    return bytes(engine)


def run_engine(engine: bytes, inputs: Mapping[str, np.ndarray], output_names: Sequence[str]) -> dict[str, np.ndarray]:
    """Run a serialized engine once on ``inputs`` (CUDA memory through torch), for the parity gate on the GPU host."""
    trt = require("tensorrt", purpose="running TensorRT engines")
    torch = require("torch", purpose="running TensorRT engines (CUDA memory through torch)")

    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    loaded = runtime.deserialize_cuda_engine(engine)
    context = loaded.create_execution_context()
    keep = []
    for name, array in inputs.items():
        tensor = torch.from_numpy(np.ascontiguousarray(array)).cuda()
        context.set_input_shape(name, tuple(tensor.shape))
        context.set_tensor_address(name, tensor.data_ptr())
        keep.append(tensor)
    outputs = {}
    for name in output_names:
        shape = tuple(context.get_tensor_shape(name))
        dtype = torch.from_numpy(np.zeros(0, dtype=trt.nptype(loaded.get_tensor_dtype(name)))).dtype
        outputs[name] = torch.empty(shape, dtype=dtype, device="cuda")
        context.set_tensor_address(name, outputs[name].data_ptr())
    stream = torch.cuda.Stream()
    if not context.execute_async_v3(stream.cuda_stream):
        raise ArtifactError("TensorRT failed to run the engine")
    stream.synchronize()
    return {k: v.float().cpu().numpy() for k, v in outputs.items()}


@record
class Choice:
    """One rung of the GPU fallback ladder: what would run, and why it was or was not taken."""

    runtime: str
    usable: bool
    reason: str


def fallback_order(
    key: EngineKey | None,
    *,
    cache: EngineCache | None,
    can_build: str | None,
    providers: Sequence[str],
    cuda: str | None,
) -> list[Choice]:
    """The GPU host's options in order, each marked usable or not with the reason.

    ``can_build`` is None when an engine may be built here (else why not); ``cuda`` is None with a usable CUDA
    driver (else why not); ``providers`` are those onnxruntime was built with.
    """
    cached = cache.lookup(key) if (cache is not None and key is not None) else None
    ladder = [
        Choice("tensorrt engine (cached)", cached is not None, "matching engine in the cache" if cached else "none"),
        Choice("tensorrt engine (build)", can_build is None, can_build or "TensorRT and a GPU are present"),
    ]
    for provider, label in (("TensorrtExecutionProvider", "tensorrt"), ("CUDAExecutionProvider", "cuda")):
        if provider not in providers:
            ladder.append(Choice(f"onnxruntime {label}", False, f"onnxruntime was built without {provider}"))
        elif cuda is not None:
            ladder.append(Choice(f"onnxruntime {label}", False, cuda))
        else:
            ladder.append(Choice(f"onnxruntime {label}", True, f"{provider} with a CUDA driver"))
    ladder.append(Choice("onnxruntime cpu", True, "always available"))
    return ladder


def choose(ladder: Sequence[Choice]) -> Choice:
    return next(c for c in ladder if c.usable)
