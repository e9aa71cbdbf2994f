"""fp16 and TensorRT for models past the external-data threshold: converted from the verified shards with the same
converter small models use, written straight back into shards, gated, and loaded by the mapped runtime; TensorRT
parses such a model from its file (so it finds the shards) under a key that covers every shard's sha256.
Shown on the scale-test recipe at a tiny size with a low threshold, as tests/sdk/compile/test_large_export.py."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import pytest

from sdk import load
from sdk.artifacts import read_manifest, verify_artifact
from sdk.compile import compile_source
from sdk.compile import tensorrt as trt_support
from sdk.compile.external import ExternalDataConfig, LargeModel, model_sha256, shard_onnx_file
from sdk.compile.optimize import to_fp16
from sdk.compile.pipeline import CompileResult
from sdk.compile.sources import CompileSource, resolve_source
from sdk.compile.torch_export import run_onnx
from sdk.errors import ArtifactError
from sdk.runtime.config import RuntimeConfig
from tests.sdk.compile.test_tensorrt import TEXT, FakeTensorRT

REPO = Path(__file__).resolve().parents[3]
SHAPE = "2,64,2,500"  # 2 layers x 64 wide, vocabulary 500: 0.6 MB of fp32 weights, 0.3 MB in fp16
SMALL = ExternalDataConfig(threshold=100_000, shard_bytes=200_000, min_tensor_bytes=1024)


@pytest.fixture(scope="module", autouse=True)
def small_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The recipe's tiny shape and a low external-data threshold for the whole module (export reads them)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIAAS_SCALE_TEST_SHAPE", SHAPE)
        patch.setenv("AIAAS_EXTERNAL_DATA_THRESHOLD", str(SMALL.threshold))
        patch.setenv("AIAAS_EXTERNAL_DATA_SHARD_BYTES", str(SMALL.shard_bytes))
        yield


@pytest.fixture(scope="module")
def source() -> CompileSource:
    return resolve_source("scale-test", root=REPO)


@pytest.fixture(scope="module")
def exported(source: CompileSource) -> Iterator[LargeModel]:
    model = source.export()
    assert isinstance(model, LargeModel)
    yield model
    model.discard()


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> tuple[CompileResult, dict[str, np.ndarray]]:
    made = resolve_source("scale-test", root=REPO)
    reference = made.run(made.evaluation.inputs)
    out = tmp_path_factory.mktemp("scale-fp16") / "scale-test"
    return compile_source(made, out, precisions="fp32,fp16", external_data=SMALL), reference


def inline_bytes(model: LargeModel) -> bytes:
    """The same model as one protobuf with every weight inline: what a small model's fp16 conversion starts from."""
    return bytes(onnx.load_model(str(model.path), load_external_data=True).SerializeToString())


def test_fp16_of_a_large_model_is_converted_from_its_shards_into_fp16_shards_answering_as_the_small_path(
    exported: LargeModel, source: CompileSource
) -> None:
    fp16 = to_fp16(exported, external_data=SMALL)
    assert isinstance(fp16, LargeModel) and fp16.shards
    assert all(s.bytes <= SMALL.shard_bytes for s in fp16.shards)
    fp32_weights = sum(s.bytes for s in exported.shards)
    assert sum(s.bytes for s in fp16.shards) == pytest.approx(fp32_weights / 2, rel=0.02)  # the weights are fp16
    small = to_fp16(inline_bytes(exported))  # the converter small models use, on the same weights
    assert isinstance(small, bytes)
    inputs = source.evaluation.inputs
    np.testing.assert_array_equal(run_onnx(fp16, inputs)["embedding"], run_onnx(small, inputs)["embedding"])
    fp16.discard()


def test_fp16_of_a_large_model_that_fits_under_the_threshold_comes_back_as_one_file(exported: LargeModel) -> None:
    high = ExternalDataConfig(threshold=10**8, shard_bytes=200_000, min_tensor_bytes=1024)
    fp16 = to_fp16(exported, external_data=high)
    assert isinstance(fp16, bytes)
    assert fp16 == to_fp16(inline_bytes(exported))


def test_fp16_refuses_a_large_model_whose_shard_changed_after_it_was_written(exported: LargeModel) -> None:
    copy = shard_onnx_file(
        exported.path, Path(tempfile.mkdtemp(prefix="aiaas-large-")), file="model.onnx", config=SMALL
    )
    shard = copy.folder / copy.shards[1].file
    data = bytearray(shard.read_bytes())
    data[100] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match=copy.shards[1].file):
        to_fp16(copy, external_data=SMALL)
    copy.discard()


def test_the_compiled_large_artifact_ships_gated_fp16_shards_that_the_mapped_runtime_answers_from(
    compiled: tuple[CompileResult, dict[str, np.ndarray]], source: CompileSource
) -> None:
    result, reference = compiled
    folder = result.folder
    manifest = read_manifest(folder)
    verify_artifact(folder, manifest)
    fp16 = manifest.artifact(precision="fp16")
    assert fp16.external and all(s.bytes <= SMALL.shard_bytes for s in fp16.external)
    assert fp16.parity is not None and fp16.parity.passed and fp16.parity.metric == "mean_cosine"
    with load(folder, precision="fp16", config=RuntimeConfig(warmup_runs=0)) as model:
        got = model(source.evaluation.inputs)["embedding"]
        assert any("mapped shards" in note for note in model.info.notes)
    assert got.dtype == np.float32  # inputs and outputs stay fp32
    np.testing.assert_allclose(got, reference["embedding"], rtol=0, atol=0.05)
    assert not any("fp16 not built" in note for note in result.notes)


PROBE = """
import json, sys, tempfile
from pathlib import Path
from types import SimpleNamespace
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sdk.compile.external import ExternalDataConfig, shard_onnx_file
from sdk.compile.optimize import to_fp16

megabytes, width = int(sys.argv[1]), 1024
layers = max(1, round(megabytes * 1e6 / (width * width * 4)))
rng = np.random.default_rng(0)
nodes = [helper.make_node("MatMul", [f"h{i}", f"w{i}"], [f"h{i + 1}"]) for i in range(layers)]
graph = helper.make_graph(
    nodes, "g",
    [helper.make_tensor_value_info("h0", TensorProto.FLOAT, ["batch", width])],
    [helper.make_tensor_value_info(f"h{layers}", TensorProto.FLOAT, ["batch", width])],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
raw = Path(tempfile.mkdtemp())
for i in range(layers):  # one tensor in memory at a time
    w = rng.standard_normal((width, width), dtype=np.float32) / np.float32(np.sqrt(width))
    model.graph.initializer.append(numpy_helper.from_array(w, f"w{i}"))
    onnx.external_data_helper.convert_model_to_external_data(model, location=f"w{i}.bin", size_threshold=1024)
    onnx.external_data_helper.write_external_data_tensors(model, str(raw))
onnx.save_model(model, str(raw / "m.onnx"))
del model
config = ExternalDataConfig(threshold=0, shard_bytes=64 << 20, min_tensor_bytes=1024)
large = shard_onnx_file(raw / "m.onnx", Path(tempfile.mkdtemp()), file="model.onnx", config=config)
# the converter's imports, outside the measure
to_fp16(helper.make_model(helper.make_graph([], "e", [], [])).SerializeToString())


def status(key):
    line = next(l for l in open("/proc/self/status") if l.startswith(key + ":"))
    return int(line.split()[1]) * 1024


open("/proc/self/clear_refs", "w").write("5")  # resets the peak (VmHWM) to the current RSS
base = status("VmRSS")
fp16 = to_fp16(large, external_data=config)
print(json.dumps({"weights": sum(s.bytes for s in large.shards), "peak": status("VmHWM") - base,
                  "fp16": sum(s.bytes for s in fp16.shards)}))
"""


def fp16_peak(megabytes: int) -> dict[str, int]:
    """Peak resident memory added by converting a sharded ``megabytes`` MB model to fp16, in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(megabytes)], capture_output=True, text=True, cwd=REPO, check=True
    )
    return dict(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's /proc peak-RSS reset")
def test_converting_a_large_model_to_fp16_peaks_under_twice_its_fp32_weights() -> None:
    got = fp16_peak(96)
    assert got["fp16"] == got["weights"] // 2
    assert got["peak"] < 2 * got["weights"], got


def test_a_tensorrt_engine_for_a_large_model_is_parsed_from_its_file_beside_its_shards(exported: LargeModel) -> None:
    fake = FakeTensorRT()
    paths: list[str] = []

    def parse_from_file(self: object, path: str) -> bool:
        paths.append(path)
        return all((Path(path).parent / s.file).is_file() for s in exported.shards)

    def parse(self: object, data: bytes) -> bool:
        raise AssertionError("bytes of a graph with external data leave the parser no folder to find the shards in")

    fake.OnnxParser.parse_from_file = parse_from_file  # type: ignore[attr-defined]
    fake.OnnxParser.parse = parse  # type: ignore[method-assign]
    assert trt_support.build_engine(exported, [TEXT], "fp16", trt=fake) == b"serialized engine"
    assert paths == [str(exported.path)]
    assert ("flag", "fp16") in fake.calls


def test_the_tensorrt_key_of_a_large_model_changes_when_any_shard_changes(exported: LargeModel) -> None:
    copy = shard_onnx_file(
        exported.path, Path(tempfile.mkdtemp(prefix="aiaas-large-")), file="model.onnx", config=SMALL
    )
    assert model_sha256(copy) == model_sha256(exported)
    changed = LargeModel(
        copy.folder, copy.file, copy.graph, (dataclasses.replace(copy.shards[0], sha256="0" * 64), *copy.shards[1:])
    )
    same = trt_support.EngineKey(model_sha256(exported), "9.0", "10.0", "fp16")
    other = trt_support.EngineKey(model_sha256(changed), "9.0", "10.0", "fp16")
    assert same.file != other.file
    with pytest.raises(ArtifactError):  # and a build refuses shards that no longer match what was recorded
        trt_support.build_engine(changed, [TEXT], "fp16", trt=FakeTensorRT())
    copy.discard()


def test_compiling_a_large_model_with_tensorrt_builds_its_engine_from_the_sharded_model_keyed_by_its_shards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TensorRT is absent here: the pipeline's side is shown with build and run stubbed at the TensorRT boundary."""
    built: list[tuple[object, str]] = []

    def build(model: object, inputs: object, precision: str) -> bytes:
        assert isinstance(model, LargeModel) and all((model.folder / s.file).is_file() for s in model.shards)
        built.append((model, precision))
        return b"engine for " + model.sha256().encode()

    def run(engine: bytes, inputs: dict[str, np.ndarray], names: object) -> dict[str, np.ndarray]:
        return run_onnx(built[-1][0], inputs)  # type: ignore[arg-type]

    monkeypatch.setitem(sys.modules, "tensorrt", SimpleNamespace(__version__="10.0"))
    monkeypatch.setattr(trt_support, "unavailable_reason", lambda: None)
    monkeypatch.setattr(trt_support, "gpu_compute_capability", lambda: "9.0")
    monkeypatch.setattr(trt_support, "build_engine", build)
    monkeypatch.setattr(trt_support, "run_engine", run)
    result = compile_source(
        resolve_source("scale-test", root=REPO), tmp_path / "out", tensorrt=True, external_data=SMALL
    )
    assert [p for _, p in built] == ["fp32"]
    model = built[0][0]
    assert isinstance(model, LargeModel)
    manifest = read_manifest(result.folder)
    engine = next(a for a in manifest.artifacts if a.target.get("runtime") == "tensorrt")
    assert engine.target["onnx_sha256"] == model.sha256()  # the graph and every shard's sha256
    assert (result.folder / engine.file).read_bytes() == b"engine for " + model.sha256().encode()
