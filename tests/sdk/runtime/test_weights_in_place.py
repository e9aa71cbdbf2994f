"""A model's weights handed to ONNX Runtime in place (sdk.runtime.inplace, #20 item 1): the session runs the very
bytes whose sha256 was checked, gives the outputs a plain load gives, never reads the weights from disk, and falls
back to a plain load when the rewritten graph is refused."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from sdk import RuntimeConfig, load
from sdk.artifacts import Source, TensorSpec
from sdk.artifacts.integrity import read_verified_padded
from sdk.compile import ArtifactWriter, check_parity
from sdk.compile.torch_export import run_onnx
from sdk.runtime import inplace
from sdk.runtime.inplace import InPlace, Padded, split
from sdk.runtime.onnx_backend import OnnxRuntimeBackend

WEIGHTS = np.arange(1024, dtype=np.float32).reshape(1, 1024) / 7


@pytest.fixture(autouse=True)
def small_models_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """The models here are kilobytes: let them go in place as a large one does."""
    monkeypatch.setattr(inplace, "MIN_MODEL_BYTES", 0)


def add_model(weights: np.ndarray, pad: int) -> bytes:
    """Y = X + W, W an initializer; ``pad`` more characters of graph name shift where W's raw bytes land."""
    w = numpy_helper.from_array(weights, name="W")
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 1024])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 1024])
    graph = helper.make_graph([helper.make_node("Add", ["X", "W"], ["Y"])], "g" * (1 + pad), [x], [y], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def _raw_address(model: bytes) -> int:
    return np.frombuffer(model, dtype=np.uint8).ctypes.data + model.index(WEIGHTS.tobytes())


@pytest.fixture(scope="module")
def models() -> dict[str, bytes]:
    """An Add model whose weights lie aligned for float32 in its bytes, and one where they do not."""
    found: dict[str, bytes] = {}
    for pad in range(8):
        model = add_model(WEIGHTS, pad)
        found.setdefault("aligned" if _raw_address(model) % 4 == 0 else "misaligned", model)
    assert set(found) == {"aligned", "misaligned"}
    return found


def _backend(model: bytes, folder: Path, *, in_place: bool = True) -> OnnxRuntimeBackend:
    (folder / "model.onnx").write_bytes(model)
    config = RuntimeConfig(warmup_runs=0, weights_in_place=in_place, providers=("CPUExecutionProvider",))
    return OnnxRuntimeBackend(model, config, origin="model.onnx", folder=folder)


def test_aligned_weights_are_views_over_the_model_bytes_themselves(models: dict[str, bytes]) -> None:
    model = models["aligned"]
    moved = split(model)
    assert moved is not None and list(moved.arrays) == ["W"]
    assert np.shares_memory(moved.arrays["W"], np.frombuffer(model, dtype=np.uint8))
    np.testing.assert_array_equal(moved.arrays["W"], WEIGHTS)
    assert WEIGHTS.tobytes() not in moved.graph  # the graph no longer carries them
    assert len(moved.graph) < len(model) - WEIGHTS.nbytes + 200


def test_misaligned_weights_are_copied_once_to_an_aligned_block(models: dict[str, bytes]) -> None:
    model = models["misaligned"]
    moved = split(model)
    assert moved is not None
    array = moved.arrays["W"]
    assert array.ctypes.data % 64 == 0 and not array.flags.writeable
    assert not np.shares_memory(array, np.frombuffer(model, dtype=np.uint8))
    np.testing.assert_array_equal(array, WEIGHTS)


@pytest.mark.parametrize("layout", ["aligned", "misaligned"])
def test_in_place_session_answers_as_a_plain_one(models: dict[str, bytes], layout: str, tmp_path: Path) -> None:
    x = {"X": np.linspace(-1, 1, 1024, dtype=np.float32).reshape(1, 1024)}
    moved = _backend(models[layout], tmp_path)
    plain = _backend(models[layout], tmp_path, in_place=False)
    assert moved._in_place is not None and plain._in_place is None
    np.testing.assert_array_equal(moved.run(x)["Y"], plain.run(x)["Y"])
    np.testing.assert_allclose(moved.run(x)["Y"], x["X"] + WEIGHTS, rtol=1e-6)


def test_the_weights_on_disk_are_never_read_only_the_verified_bytes(models: dict[str, bytes], tmp_path: Path) -> None:
    verified = models["aligned"]
    backend = _backend(verified, tmp_path)
    # The file beside it now holds other weights at the very same offsets.
    (tmp_path / "model.onnx").write_bytes(verified.replace(WEIGHTS.tobytes(), np.zeros_like(WEIGHTS).tobytes()))
    out = backend.run({"X": np.zeros((1, 1024), dtype=np.float32)})["Y"]
    np.testing.assert_allclose(out, WEIGHTS, rtol=1e-6)


def test_an_optimizer_that_wants_a_weights_values_gets_a_plain_load_never_the_file(
    digits_artifact: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The digits CNN's layout pass reads its conv weights: with them in place ORT cannot (their location is a
    folder), so the model loads as it is, quietly; the file on disk, zeroed, is never what runs."""
    verified = (digits_artifact / "model.onnx").read_bytes()
    moved = split(verified)
    assert moved is not None
    zeroed = bytearray(verified)
    for array in moved.arrays.values():
        start = verified.index(array.tobytes())
        zeroed[start : start + array.nbytes] = bytes(array.nbytes)
    (tmp_path / "model.onnx").write_bytes(bytes(zeroed))
    config = RuntimeConfig(warmup_runs=0, providers=("CPUExecutionProvider",))
    backend = OnnxRuntimeBackend(verified, config, origin="model.onnx", folder=tmp_path)
    plain = OnnxRuntimeBackend(verified, RuntimeConfig(warmup_runs=0, weights_in_place=False), origin="model.onnx")
    assert backend._in_place is None
    x = {"image": np.random.default_rng(0).random((4, 1, 8, 8), dtype=np.float32)}
    np.testing.assert_array_equal(backend.run(x)["logits"], plain.run(x)["logits"])
    assert "onnxruntime" not in capfd.readouterr().err  # the expected refusal is not logged as an error


def test_a_refused_rewrite_falls_back_to_a_plain_load(
    models: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sdk.runtime.onnx_backend.split", lambda model: InPlace(b"\x08\x07not a graph", {"W": WEIGHTS}))
    backend = _backend(models["aligned"], tmp_path)
    assert backend._in_place is None
    out = backend.run({"X": np.zeros((1, 1024), dtype=np.float32)})["Y"]
    np.testing.assert_allclose(out, WEIGHTS, rtol=1e-6)


def test_bytes_that_are_no_model_or_hold_no_large_weight_are_left_alone() -> None:
    assert split(b"\x08\x07this is not an onnx model") is None
    assert split(b"\xff\xff\xff") is None
    small = add_model(WEIGHTS[:, :8], 0)
    assert split(small, min_bytes=inplace.MIN_BYTES) is None
    assert split(small, min_bytes=16) is not None


def test_load_hands_the_weights_over_in_place_and_answers_as_a_plain_load(
    models: dict[str, bytes], tmp_path: Path
) -> None:
    writer = ArtifactWriter(
        tmp_path / "add",
        name="add",
        version="1",
        source=Source(framework="onnx"),
        inputs=(TensorSpec(name="X", dtype="float32", shape=(1, 1024)),),
        outputs=(TensorSpec(name="Y", dtype="float32", shape=(1, 1024)),),
    )
    x = {"X": np.linspace(-1, 1, 1024, dtype=np.float32).reshape(1, 1024)}
    out = run_onnx(models["misaligned"], x)
    parity = check_parity(out, out, tolerance=0, reference_name="self")
    writer.add_model(models["misaligned"], file="model.onnx", parity=parity)
    writer.write()
    fast = load(tmp_path / "add", config=RuntimeConfig(weights_in_place=True))
    plain = load(tmp_path / "add", config=RuntimeConfig(weights_in_place=False))
    assert fast.backend._in_place is not None and plain.backend._in_place is None  # type: ignore[attr-defined]
    np.testing.assert_array_equal(fast(x)["Y"], plain(x)["Y"])


def test_rewritten_graph_is_a_valid_onnx_model_with_external_weights(models: dict[str, bytes]) -> None:
    moved = split(models["misaligned"])
    assert moved is not None
    graph = onnx.load_from_string(moved.graph)
    (w,) = graph.graph.initializer
    assert w.data_location == TensorProto.EXTERNAL and not w.raw_data
    table = {e.key: e.value for e in w.external_data}
    assert table["location"] == inplace.NOWHERE and int(table["length"]) == WEIGHTS.nbytes


def test_a_small_model_loads_as_it_is(
    models: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inplace, "MIN_MODEL_BYTES", len(models["aligned"]) + 1)
    assert _backend(models["aligned"], tmp_path)._in_place is None


def _padded(model: bytes, folder: Path) -> Padded:
    (folder / "model.onnx").write_bytes(model)
    digest = hashlib.sha256(model).hexdigest()
    return Padded(read_verified_padded(folder, "model.onnx", digest, len(model), slack=inplace.SLACK), len(model))


def test_a_padded_read_is_shifted_in_place_to_align_its_weights(models: dict[str, bytes], tmp_path: Path) -> None:
    padded = _padded(models["misaligned"], tmp_path)
    moved = split(padded)
    assert moved is not None and padded.shift > 0
    array = moved.arrays["W"]
    assert np.shares_memory(array, padded.buffer)  # moved within the buffer read, not copied out of it
    assert array.ctypes.data % 64 == 0 and not array.flags.writeable
    np.testing.assert_array_equal(array, WEIGHTS)
    assert padded.tobytes() == models["misaligned"]  # the model, where it now lies


def test_a_padded_model_refused_in_place_loads_from_its_shifted_bytes(digits_artifact: Path, digits_split) -> None:
    x = {"image": digits_split.x_test[:32]}
    fast = load(digits_artifact, config=RuntimeConfig(weights_in_place=True))
    plain = load(digits_artifact, config=RuntimeConfig(weights_in_place=False))
    assert fast.backend._in_place is None  # type: ignore[attr-defined]  # its layout pass reads the conv weights
    np.testing.assert_array_equal(fast(x)["logits"], plain(x)["logits"])
