"""Past the external-data threshold, `sdk compile` never holds a model as one protobuf: the export goes straight to
disk and into the artifact's shards, the parity gate runs on the mapped shards, and int8 is quantized with its
output written as external data. Shown here on the scale-test recipe at a tiny size with a low threshold."""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from sdk import load
from sdk.artifacts import read_manifest, verify_artifact
from sdk.compile import compile_source
from sdk.compile.external import ExternalDataConfig, LargeModel, shard_name, shard_onnx_file
from sdk.compile.optimize import INT8_SCHEMES, quantize_int8
from sdk.compile.pipeline import CompileResult
from sdk.compile.sources import CompileSource, resolve_source
from sdk.compile.torch_export import run_onnx
from sdk.runtime.config import RuntimeConfig

REPO = Path(__file__).resolve().parents[3]
SHAPE = "2,64,2,500"  # 2 layers x 64 wide, vocabulary 500: 0.6 MB of weights
SMALL = ExternalDataConfig(threshold=100_000, shard_bytes=200_000, min_tensor_bytes=1024)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private temporary folder for the module, so a leftover temporary folder is seen."""
    tmp_path_factory.getbasetemp()  # pytest's own folder, made before tempfile's default changes
    with tempfile.TemporaryDirectory() as tmp:
        before, tempfile.tempdir = tempfile.tempdir, tmp
        try:
            yield Path(tmp)
        finally:
            tempfile.tempdir = before


@pytest.fixture(scope="module", autouse=True)
def small_settings() -> Iterator[None]:
    """The recipe's tiny shape and a low external-data threshold, for the whole module (export reads them)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIAAS_SCALE_TEST_SHAPE", SHAPE)
        patch.setenv("AIAAS_EXTERNAL_DATA_THRESHOLD", str(SMALL.threshold))
        patch.setenv("AIAAS_EXTERNAL_DATA_SHARD_BYTES", str(SMALL.shard_bytes))
        yield


def scale_source() -> CompileSource:
    return resolve_source("scale-test", root=REPO)


@pytest.fixture(scope="module")
def source(scratch: Path) -> CompileSource:
    """The tiny scale-test model, never compiled (a large compile releases its source's weights)."""
    return scale_source()


@dataclass
class Compiled:
    result: CompileResult
    reference: dict[str, np.ndarray]  # the source's outputs, taken before the compile released it
    released: int


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory, scratch: Path) -> Compiled:
    made = scale_source()
    reference = made.run(made.evaluation.inputs)
    calls = []
    assert made.release is not None
    release = made.release

    def counted() -> None:
        calls.append(1)
        release()

    made = dataclasses.replace(made, release=counted)
    out = tmp_path_factory.mktemp("scale") / "scale-test"
    result = compile_source(made, out, precisions="fp32,int8", external_data=SMALL)
    return Compiled(result, reference, len(calls))


def test_a_model_over_the_threshold_is_exported_straight_into_shards_never_as_one_protobuf(
    source: CompileSource,
) -> None:
    exported = source.export()
    assert isinstance(exported, LargeModel)
    assert len(exported.graph) < 100_000 < exported.nbytes  # the weights are in the shards, not the graph
    assert [s.file for s in exported.shards] == [shard_name("model.onnx", i) for i in range(len(exported.shards))]
    assert len(exported.shards) >= 3 and all(s.bytes <= SMALL.shard_bytes for s in exported.shards)
    for shard in exported.shards:
        data = (exported.folder / shard.file).read_bytes()
        assert (hashlib.sha256(data).hexdigest(), len(data)) == (shard.sha256, shard.bytes)
    want = source.run(source.evaluation.inputs)
    got = run_onnx(exported, source.evaluation.inputs)  # from the mapped, verified shards
    np.testing.assert_allclose(got["embedding"], want["embedding"], rtol=0, atol=1e-5)
    folder = exported.folder
    exported.discard()
    assert not folder.exists()


def test_the_compiled_scale_test_artifact_ships_sharded_fp32_and_gated_int8_and_says_it_is_a_scale_test(
    compiled: Compiled, source: CompileSource
) -> None:
    folder = compiled.result.folder
    manifest = read_manifest(folder)
    verify_artifact(folder, manifest)
    assert manifest.task == "scale-test" and "SCALE TEST" in manifest.description
    assert manifest.metrics["scale_test"] == 1.0
    fp32, int8 = manifest.artifact(precision="fp32"), manifest.artifact(precision="int8")
    assert fp32.external and fp32.parity is not None and fp32.parity.passed
    assert int8.parity is not None and int8.parity.passed and int8.parity.metric == "mean_cosine"
    inputs = source.evaluation.inputs
    want = compiled.reference["embedding"]
    for precision, atol in (("fp32", 1e-5), ("int8", 0.2)):
        with load(folder, precision=precision, config=RuntimeConfig(warmup_runs=0)) as model:
            np.testing.assert_allclose(model(inputs)["embedding"], want, rtol=0, atol=atol)


def test_int8_of_a_large_model_is_quantized_from_its_shards_and_sharded_again_past_the_threshold(
    source: CompileSource,
) -> None:
    exported = source.export()
    assert isinstance(exported, LargeModel)
    low = ExternalDataConfig(threshold=50_000, shard_bytes=200_000, min_tensor_bytes=1024)
    int8 = quantize_int8(exported, INT8_SCHEMES[0], external_data=low)
    assert isinstance(int8, LargeModel) and int8.shards
    high = ExternalDataConfig(threshold=10**8, shard_bytes=200_000, min_tensor_bytes=1024)
    small = quantize_int8(exported, INT8_SCHEMES[0], external_data=high)
    assert isinstance(small, bytes)  # under the threshold: one file, every tensor inline
    inputs = source.evaluation.inputs
    np.testing.assert_allclose(run_onnx(int8, inputs)["embedding"], run_onnx(small, inputs)["embedding"], atol=1e-6)
    for model in (exported, int8):
        model.discard()


def test_a_model_whose_weights_lie_one_file_per_tensor_is_packed_into_aligned_shards(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = [np.full((64, 64), i + 1, np.float32) / 64 for i in range(4)]
    nodes = [helper.make_node("MatMul", [f"h{i}", f"w{i}"], [f"h{i + 1}"]) for i in range(4)]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("h0", TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("h4", TensorProto.FLOAT, [1, 64])],
        [numpy_helper.from_array(w, f"w{i}") for i, w in enumerate(weights)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # what every onnxruntime the edge extra allows reads; a newer onnx writes a newer one
    raw = tmp_path / "raw"
    raw.mkdir()
    # torch's exporter past 2 GB writes this layout: each weight in a file of its own beside the graph
    onnx.save_model(model, str(raw / "m.onnx"), save_as_external_data=True, all_tensors_to_one_file=False)
    assert len(list(raw.iterdir())) == 5
    config = ExternalDataConfig(threshold=0, shard_bytes=40_000, min_tensor_bytes=1024)
    packed = shard_onnx_file(raw / "m.onnx", tmp_path / "packed", file="m.onnx", config=config)
    assert [s.bytes for s in packed.shards] == [32768, 32768]
    x = {"h0": np.ones((1, 64), np.float32)}
    expected = x["h0"] @ weights[0] @ weights[1] @ weights[2] @ weights[3]
    np.testing.assert_allclose(run_onnx(packed, x)["h4"], expected, rtol=1e-6)


def test_a_large_compile_frees_the_source_weights_once_their_outputs_are_taken(compiled: Compiled) -> None:
    assert compiled.released == 1  # before quantizing: the weights are not held twice


def test_releasing_a_torch_module_empties_every_weight_and_buffer() -> None:
    from models.scale_test.model import TINY, build
    from sdk.compile.torch_export import parameter_bytes, release_torch

    module = build(TINY)
    assert parameter_bytes(module) == 4 * TINY.parameters()
    release_torch(module)
    assert parameter_bytes(module) == 0 and all(b.numel() == 0 for b in module.buffers())


def test_compiling_a_large_model_leaves_no_temporary_folder_behind(compiled: Compiled, scratch: Path) -> None:
    compiled.result.candidates.clear()  # the result keeps the gated models until it goes
    gc.collect()
    assert not list(scratch.glob("aiaas-large-*"))
