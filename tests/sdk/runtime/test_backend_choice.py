"""Engine choice by measurement: several artifacts of one precision, each for its engine, the fastest kept and
remembered per device. Real engines throughout: the shipped digits CNN under ONNX Runtime and under OpenVINO."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from sdk import RuntimeConfig, load
from sdk.artifacts import TensorSpec
from sdk.artifacts.integrity import sha256_bytes
from sdk.errors import ConfigError, IntegrityError, ManifestError, MissingDependency
from sdk.runtime import choice

needs_openvino = pytest.mark.skipif(not choice.installed("openvino"), reason='needs pip install "aiaas-sdk[openvino]"')
OPENVINO_FILE = "model.openvino.onnx"


@pytest.fixture
def two_engines(artifact_copy: Path) -> Path:
    """The shipped CNN folder with its fp32 graph listed a second time, for OpenVINO (same bytes, same gate)."""
    manifest_path = artifact_copy / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    data = (artifact_copy / "model.onnx").read_bytes()
    (artifact_copy / OPENVINO_FILE).write_bytes(data)
    second = json.loads(json.dumps(manifest["artifacts"][0]))
    second.update(file=OPENVINO_FILE, sha256=sha256_bytes(data), bytes=len(data))
    second["target"]["runtime"] = "openvino"
    manifest["artifacts"].append(second)
    manifest_path.write_text(json.dumps(manifest))
    return artifact_copy


def cache_file() -> Path:
    return choice.ChoiceCache().path


@needs_openvino
def test_auto_measures_every_engine_keeps_the_fastest_and_remembers_it(two_engines: Path, digits_split) -> None:
    first = load(two_engines)
    made = first.info.extra["backend_choice"]
    assert made["cached"] is False and made["probe"] == "1x1x8x8"
    assert set(made["timings_ms"]) == {"model.onnx", OPENVINO_FILE}
    assert all(ms > 0 for ms in made["timings_ms"].values())
    assert first.info.artifact == choice.fastest(made["timings_ms"])
    assert first.info.runtime == ("openvino" if first.info.artifact == OPENVINO_FILE else "onnxruntime")
    assert any("chosen by speed (measured now" in n for n in first.info.notes)
    accuracy = float((first({"image": digits_split.x_test})["logits"].argmax(-1) == digits_split.y_test).mean())
    assert accuracy >= 0.98

    stored = json.loads(cache_file().read_text())
    assert [entry["file"] for entry in stored.values()] == [first.info.artifact]
    again = load(two_engines)
    assert again.info.extra["backend_choice"]["cached"] is True
    assert again.info.artifact == first.info.artifact
    assert any("measured earlier on this device" in n for n in again.info.notes)


@needs_openvino
def test_a_remembered_choice_is_kept_even_when_it_names_the_other_engine(two_engines: Path) -> None:
    """The cache decides without measuring: plant the slower-looking engine and it is what loads."""
    load(two_engines)
    stored = json.loads(cache_file().read_text())
    (key,) = stored
    loser = next(f for f in stored[key]["timings_ms"] if f != stored[key]["file"])
    stored[key]["file"] = loser
    cache_file().write_text(json.dumps(stored))
    assert load(two_engines).info.artifact == loser


@needs_openvino
def test_an_unreadable_or_unwritable_cache_only_costs_a_new_measurement(two_engines: Path, tmp_path: Path) -> None:
    cache_file().parent.mkdir(parents=True, exist_ok=True)
    cache_file().write_text("{not json")
    assert load(two_engines).info.extra["backend_choice"]["cached"] is False
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")
    cache = choice.ChoiceCache(blocked / "choice.json")
    assert cache.put("k", {"file": "model.onnx"}) is False and cache.get("k") is None


@needs_openvino
def test_forced_engines_run_their_own_artifact_and_agree(two_engines: Path, digits_split) -> None:
    x = digits_split.x_test[:64]
    ov = load(two_engines, config=RuntimeConfig(backend="openvino"))
    ort = load(two_engines, config=RuntimeConfig(backend="onnxruntime"))
    assert (ov.info.runtime, ov.info.artifact) == ("openvino", OPENVINO_FILE)
    assert (ort.info.runtime, ort.info.artifact) == ("onnxruntime", "model.onnx")
    assert "backend_choice" not in ov.info.extra  # nothing to choose between
    assert any("inference precision f32" in n for n in ov.info.notes)
    np.testing.assert_allclose(ov({"image": x})["logits"], ort({"image": x})["logits"], atol=1e-4)
    assert not cache_file().exists()


@needs_openvino
def test_openvino_loads_only_the_checked_bytes(two_engines: Path) -> None:
    path = two_engines / OPENVINO_FILE
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=OPENVINO_FILE):
        load(two_engines, config=RuntimeConfig(backend="openvino"))


@needs_openvino
def test_openvino_backend_is_thread_safe(two_engines: Path, digits_split) -> None:
    from concurrent.futures import ThreadPoolExecutor

    model = load(two_engines, config=RuntimeConfig(backend="openvino"))
    rows = digits_split.x_test[:40]
    expected = model({"image": rows})["logits"].argmax(-1)
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda i: int(model({"image": rows[i : i + 1]})["logits"].argmax()), range(len(rows))))
    assert got == expected.tolist()
    model.close()  # a server process: 40 calls of one shape started a static copy's compile; wait for it


def test_a_forced_engine_the_model_has_no_artifact_for_is_a_clear_error(artifact_copy: Path) -> None:
    with pytest.raises(ManifestError, match=r"no fp32 artifact for backend openvino \(it has: model.onnx"):
        load(artifact_copy, config=RuntimeConfig(backend="openvino"))
    with pytest.raises(ConfigError, match="backend='tensorflow'"):
        RuntimeConfig(backend="tensorflow")


def test_without_openvino_auto_uses_onnxruntime_and_says_why(
    two_engines: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)  # as if the extra were not installed
    monkeypatch.setattr(choice, "installed", lambda engine: engine != "openvino")
    model = load(two_engines)
    assert (model.info.runtime, model.info.artifact) == ("onnxruntime", "model.onnx")
    assert any('not installed here (pip install "aiaas-sdk[openvino]")' in n for n in model.info.notes)
    with pytest.raises(MissingDependency, match="openvino") as caught:
        load(two_engines, config=RuntimeConfig(backend="openvino"))
    assert caught.value.command == 'pip install "aiaas-sdk[openvino]"'


def test_fastest_needs_a_clear_margin_over_the_first_listed_engine() -> None:
    assert choice.fastest({"a.onnx": 3.0, "b.onnx": 1.5, "c.onnx": 2.0}) == "b.onnx"
    assert choice.fastest({"ort.onnx": 2.0, "ov.onnx": 2.0}) == "ort.onnx"
    assert choice.fastest({"ort.onnx": 10.0, "ov.onnx": 9.7}) == "ort.onnx"  # 3%: noise could flip it
    assert choice.fastest({"ort.onnx": 10.0, "ov.onnx": 9.0}) == "ov.onnx"
    assert choice.fastest({"ort.onnx": 10.0, "ov.onnx": 9.7}, margin=0.0) == "ov.onnx"


def test_candidates_take_turns_call_by_call() -> None:
    order: list[str] = []
    runs = {name: (lambda feeds, name=name: order.append(name)) for name in ("a", "b")}
    timings = choice.time_calls(runs, {}, rounds=3)
    assert order == ["a", "a", "b", "b"] + ["a", "b"] * 3  # two warm-ups each, then alternating
    assert set(timings) == {"a", "b"} and all(ms >= 0 for ms in timings.values())


def test_probe_input_is_one_row_of_representative_length_within_the_limits() -> None:
    text = TensorSpec(name="ids", dtype="int64", shape=(-1, -1), dim_names=("batch", "sequence"))
    short = TensorSpec(name="mask", dtype="int64", shape=(-1, -1), dim_names=("batch", "sequence"), max_shape=(-1, 32))
    image = TensorSpec(name="image", dtype="float32", shape=(-1, 1, 8, 8), dim_names=("batch", None, None, None))
    feeds = choice.probe_feeds([text, short, image])
    assert feeds["ids"].shape == (1, choice.PROBE_LENGTH) and not feeds["ids"].any()
    assert feeds["mask"].shape == (1, 32)
    assert feeds["image"].shape == (1, 1, 8, 8) and feeds["image"].dtype == np.float32 and feeds["image"].std() > 0.5


def test_cache_key_changes_with_what_decides_speed(two_engines: Path) -> None:
    from sdk.artifacts import read_manifest

    artifacts = read_manifest(two_engines).artifacts
    base = choice.cache_key(artifacts, {"onnxruntime": "1.32.0", "openvino": "2026.4.1"}, RuntimeConfig())
    assert base == choice.cache_key(artifacts, {"onnxruntime": "1.32.0", "openvino": "2026.4.1"}, RuntimeConfig())
    assert base != choice.cache_key(artifacts, {"onnxruntime": "1.33.0", "openvino": "2026.4.1"}, RuntimeConfig())
    assert base != choice.cache_key(
        artifacts, {"onnxruntime": "1.32.0", "openvino": "2026.4.1"}, RuntimeConfig(threads=1)
    )
    assert base != choice.cache_key(artifacts[:1], {"onnxruntime": "1.32.0"}, RuntimeConfig())


def test_a_copied_folder_is_a_separate_cache_entry_only_if_its_bytes_differ(two_engines: Path, tmp_path: Path) -> None:
    """Keys are content hashes: the same artifact in another folder (another store, a pulled copy) shares its entry."""
    from sdk.artifacts import read_manifest

    copy = tmp_path / "elsewhere"
    shutil.copytree(two_engines, copy)
    versions = {"onnxruntime": "x"}
    assert choice.cache_key(read_manifest(copy).artifacts, versions, RuntimeConfig()) == choice.cache_key(
        read_manifest(two_engines).artifacts, versions, RuntimeConfig()
    )


def test_a_precision_preference_ignores_artifacts_for_engines_not_installed(
    artifact_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A device that prefers int8 but lacks OpenVINO loads fp32, not an error, when the only int8 is OpenVINO's."""
    manifest_path = artifact_copy / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    data = (artifact_copy / "model.onnx").read_bytes()
    (artifact_copy / "model.int8.openvino.onnx").write_bytes(data)
    int8 = json.loads(json.dumps(manifest["artifacts"][0]))
    int8.update(file="model.int8.openvino.onnx", precision="int8", sha256=sha256_bytes(data), bytes=len(data))
    int8["target"]["runtime"] = "openvino"
    manifest["artifacts"].append(int8)
    manifest_path.write_text(json.dumps(manifest))
    monkeypatch.setattr(choice, "installed", lambda engine: engine != "openvino")
    model = load(artifact_copy, config=RuntimeConfig(precision="int8"))
    assert (model.info.precision, model.info.runtime) == ("fp32", "onnxruntime")


@needs_openvino
def test_an_engine_that_cannot_load_is_left_out_with_a_note_but_tampered_bytes_are_not(
    two_engines: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sdk.errors import ArtifactError
    from sdk.runtime import openvino_backend

    def broken(*args: object, **kwargs: object) -> None:
        raise ArtifactError("OpenVINO could not load model.openvino.onnx: unsupported operator")

    with monkeypatch.context() as patched:
        patched.setattr(openvino_backend, "OpenVinoBackend", broken)
        model = load(two_engines)
    assert (model.info.runtime, model.info.artifact) == ("onnxruntime", "model.onnx")
    assert any("model.openvino.onnx left out: OpenVINO could not load" in n for n in model.info.notes)
    assert "backend_choice" not in model.info.extra and not cache_file().exists()  # nothing was measured
    data = bytearray((two_engines / OPENVINO_FILE).read_bytes())
    data[-10] ^= 0xFF
    (two_engines / OPENVINO_FILE).write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=OPENVINO_FILE):
        load(two_engines)
