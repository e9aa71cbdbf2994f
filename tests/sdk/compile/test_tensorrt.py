"""TensorRT support, tested on the CPU: engine keys, the cache, profiles, the fallback ladder, and the build calls
(against a stand-in for the TensorRT module). The real build is a `gpu` test."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from sdk.artifacts import TensorSpec
from sdk.compile import tensorrt as trt_support
from sdk.compile.tensorrt import EngineCache, EngineKey, choose, fallback_order, profile_shapes
from sdk.errors import ArtifactError, ConfigError

KEY = EngineKey("a" * 64, "9.0", "10.13.0", "fp16")
TEXT = TensorSpec(name="ids", dtype="int64", shape=(-1, -1), dim_names=("batch", "sequence"), max_shape=(-1, 512))


def test_engine_key_changes_with_every_field_and_names_its_target() -> None:
    variants = [
        EngineKey("b" * 64, "9.0", "10.13.0", "fp16"),
        EngineKey("a" * 64, "8.9", "10.13.0", "fp16"),
        EngineKey("a" * 64, "9.0", "10.14.0", "fp16"),
        EngineKey("a" * 64, "9.0", "10.13.0", "fp32"),
    ]
    assert len({KEY.digest, *(v.digest for v in variants)}) == 5
    assert KEY.digest == EngineKey("a" * 64, "9.0", "10.13.0", "fp16").digest
    assert KEY.file.startswith("engines/fp16-sm90-trt10.13.0-") and KEY.file.endswith(".plan")
    assert KEY.target() == {
        "runtime": "tensorrt",
        "onnx_sha256": "a" * 64,
        "compute_capability": "9.0",
        "tensorrt_version": "10.13.0",
        "precision": "fp16",
    }
    with pytest.raises(ConfigError, match="precision"):
        EngineKey("a" * 64, "9.0", "10", "bf8")


def test_cache_hits_only_the_same_key_and_refuses_a_modified_engine(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    assert cache.lookup(KEY) is None
    path = cache.store(KEY, b"engine bytes")
    assert cache.lookup(KEY) == b"engine bytes"
    assert cache.lookup(EngineKey("a" * 64, "8.9", "10.13.0", "fp16")) is None
    path.write_bytes(b"tampered")
    with pytest.raises(ArtifactError, match="does not match its record"):
        cache.lookup(KEY)


def test_profile_covers_dynamic_dims_up_to_the_manifest_bounds() -> None:
    assert profile_shapes(TEXT) == ((1, 1), (1, 128), (32, 512))
    image = TensorSpec(name="image", dtype="float32", shape=(-1, 1, 8, 8), dim_names=("batch", None, None, None))
    assert profile_shapes(image) == ((1, 1, 8, 8), (1, 1, 8, 8), (32, 1, 8, 8))


def test_fallback_order_prefers_cached_engine_then_build_then_ort_providers(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    gpu_providers = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    ladder = fallback_order(KEY, cache=cache, can_build=None, providers=gpu_providers, cuda=None)
    assert [c.runtime for c in ladder] == [
        "tensorrt engine (cached)",
        "tensorrt engine (build)",
        "onnxruntime tensorrt",
        "onnxruntime cuda",
        "onnxruntime cpu",
    ]
    assert choose(ladder).runtime == "tensorrt engine (build)"
    cache.store(KEY, b"engine")
    assert choose(fallback_order(KEY, cache=cache, can_build=None, providers=gpu_providers, cuda=None)).runtime == (
        "tensorrt engine (cached)"
    )
    no_trt = fallback_order(KEY, cache=None, can_build="TensorRT is not installed", providers=gpu_providers, cuda=None)
    assert choose(no_trt).runtime == "onnxruntime tensorrt"
    cpu_only = fallback_order(
        KEY, cache=None, can_build="no GPU", providers=["CPUExecutionProvider"], cuda="no CUDA driver"
    )
    assert choose(cpu_only).runtime == "onnxruntime cpu"
    assert "built without CUDAExecutionProvider" in cpu_only[3].reason


def test_without_tensorrt_the_reason_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "tensorrt", None)
    reason = trt_support.unavailable_reason()
    assert reason is not None and "\n" not in reason and "TensorRT is not installed" in reason
    # Whatever this host has (a GPU machine runs this file too): first none visible, then one.
    monkeypatch.setattr(trt_support, "gpu_compute_capability", lambda: None)
    assert "no NVIDIA GPU" in (trt_support.unavailable_reason(trt=SimpleNamespace(), compute_capability=None) or "")
    monkeypatch.setattr(trt_support, "gpu_compute_capability", lambda: "9.0")
    assert trt_support.unavailable_reason(trt=SimpleNamespace(), compute_capability=None) is None


class FakeTensorRT:
    """Records what build_engine asks of TensorRT's Python API."""

    def __init__(self, parse_ok: bool = True) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.parse_ok = parse_ok
        fake = self

        class Enum(SimpleNamespace):
            pass

        self.Logger = type("Logger", (), {"WARNING": 2, "__init__": lambda s, level: None})
        self.NetworkDefinitionCreationFlag = Enum()
        self.MemoryPoolType = Enum(WORKSPACE="workspace")
        self.BuilderFlag = Enum(FP16="fp16", INT8="int8")

        class Profile:
            def set_shape(self, name: str, low: Any, opt: Any, high: Any) -> None:
                fake.calls.append(("profile", (name, low, opt, high)))

        class Cache:
            def serialize(self) -> bytes:
                return b"timing"

        class Config:
            def set_memory_pool_limit(self, pool: str, size: int) -> None:
                fake.calls.append(("pool", (pool, size)))

            def set_flag(self, flag: str) -> None:
                fake.calls.append(("flag", flag))

            def create_timing_cache(self, data: bytes) -> Cache:
                fake.calls.append(("timing_cache_in", data))
                return Cache()

            def set_timing_cache(self, cache: Cache, ignore_mismatch: bool) -> None:
                pass

            def get_timing_cache(self) -> Cache:
                return Cache()

            def add_optimization_profile(self, profile: Profile) -> None:
                fake.calls.append(("add_profile", None))

        class Builder:
            def __init__(self, logger: Any) -> None:
                pass

            def create_network(self, flags: int) -> str:
                return "network"

            def create_builder_config(self) -> Config:
                return Config()

            def create_optimization_profile(self) -> Profile:
                return Profile()

            def build_serialized_network(self, network: str, config: Config) -> bytes:
                return b"serialized engine"

        class OnnxParser:
            num_errors = 1

            def __init__(self, network: str, logger: Any) -> None:
                pass

            def parse(self, data: bytes) -> bool:
                return fake.parse_ok

            def get_error(self, i: int) -> str:
                return "Unsupported operator XYZ"

        self.Builder = Builder
        self.OnnxParser = OnnxParser


def test_build_engine_sets_profile_flags_and_timing_cache(tmp_path: Path) -> None:
    fake = FakeTensorRT()
    cache = tmp_path / "timing.cache"
    cache.write_bytes(b"previous")
    engine = trt_support.build_engine(b"onnx", [TEXT], "fp16", timing_cache=cache, trt=fake)
    assert engine == b"serialized engine"
    assert ("flag", "fp16") in fake.calls and ("flag", "int8") not in fake.calls
    assert ("profile", ("ids", (1, 1), (1, 128), (32, 512))) in fake.calls
    assert ("timing_cache_in", b"previous") in fake.calls
    assert cache.read_bytes() == b"timing"
    int8 = FakeTensorRT()
    trt_support.build_engine(b"onnx", [TEXT], "int8", trt=int8)
    assert ("flag", "int8") in int8.calls


def test_build_engine_reports_parser_errors() -> None:
    with pytest.raises(ArtifactError, match="Unsupported operator XYZ"):
        trt_support.build_engine(b"onnx", [TEXT], "fp32", trt=FakeTensorRT(parse_ok=False))


@pytest.mark.gpu
def test_real_engine_build_on_a_gpu(tmp_path: Path) -> None:
    reason = trt_support.unavailable_reason()
    if reason:
        pytest.skip(f"needs TensorRT and an NVIDIA GPU: {reason}")
    from tests.sdk.onnx_models import two_input_model

    specs = [
        TensorSpec(name="ids", dtype="int64", shape=(-1, -1), dim_names=("batch", "sequence")),
        TensorSpec(name="mask", dtype="float32", shape=(-1, -1), dim_names=("batch", "sequence")),
    ]
    engine = trt_support.build_engine(two_input_model(), specs, "fp16", timing_cache=tmp_path / "t.cache")
    assert len(engine) > 0 and (tmp_path / "t.cache").is_file()
    json.dumps(KEY.target())
