"""The engine choice probes a text model at a real sentence's length as well as at 128 tokens (#20 item 5): OpenVINO's
static int8 won MiniLM at 1x128 but lost real 13-24 token sentences by 2x to ONNX Runtime's dynamic int8, so a probe
at 128 alone chose the slower engine for what clients send. Decisions are checked on recorded figures; the end-to-end
test loads a real (tiny) text artifact under both engines. The last tests fake the CPU's flags: a measurement made
on a VNNI CPU is never reused on an AVX2-only one, which measures for itself."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sdk import RuntimeConfig, load
from sdk.artifacts.cpu import CpuDescription
from sdk.artifacts.integrity import sha256_bytes
from sdk.artifacts.manifest import TensorSpec
from sdk.runtime import choice
from tests.sdk.runtime.text_artifact import write_text_artifact

TEXT = ("batch", "sequence")
IDS = TensorSpec(name="input_ids", dtype="int64", shape=(-1, -1), dim_names=TEXT, max_shape=(-1, 512))
MASK = TensorSpec(name="attention_mask", dtype="int64", shape=(-1, -1), dim_names=TEXT, max_shape=(-1, 512))
IMAGE = TensorSpec(name="image", dtype="float32", shape=(-1, 1, 8, 8), dim_names=("batch", None, None, None))
ORT, OV = "model.int8.onnx", "model.int8.openvino.onnx"
# MiniLM int8, ms per call, measured in one run on the AVX-512 VNNI EPYC (benchmarks/int8_ceiling.py, load ~13).
AT_16 = {ORT: 7.91, OV: 16.46}
AT_128 = {ORT: 52.93, OV: 46.10}
VNNI = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni", "avx512_bf16")
AVX2 = ("sse4_2", "avx", "avx2", "fma")


def test_a_text_model_is_probed_at_a_real_sentence_length_and_at_128() -> None:
    probes = choice.probe_set([IDS, MASK])
    assert [p["input_ids"].shape for p in probes] == [(1, choice.SHORT_PROBE_LENGTH), (1, choice.PROBE_LENGTH)]
    assert [p["attention_mask"].shape for p in probes] == [(1, 16), (1, 128)]
    assert choice.probe_label(probes) == "1x16+1x128"


def test_a_model_without_a_sequence_dimension_keeps_one_probe() -> None:
    probes = choice.probe_set([IMAGE])
    assert len(probes) == 1 and probes[0]["image"].shape == (1, 1, 8, 8)
    assert choice.probe_label(probes) == "1x1x8x8"


def test_an_engine_faster_only_at_128_tokens_does_not_win_on_real_sentences() -> None:
    assert choice.fastest(AT_128) == OV  # what the 1x128 probe alone chose
    combined = choice.combine([AT_16, AT_128])
    assert choice.fastest(combined) == ORT
    assert combined[ORT] == pytest.approx((7.91 * 52.93) ** 0.5)


def test_an_engine_faster_at_both_lengths_still_wins() -> None:
    assert choice.fastest(choice.combine([{ORT: 7.9, OV: 6.0}, {ORT: 52.9, OV: 37.0}])) == OV


def test_probes_are_timed_one_after_the_other_with_candidates_taking_turns() -> None:
    seen: list[tuple[str, int]] = []
    runs = {name: (lambda feeds, name=name: seen.append((name, int(feeds["x"])))) for name in ("a", "b")}
    timings = choice.time_probes(runs, [{"x": np.array(16)}, {"x": np.array(128)}], rounds=2)
    assert (
        seen
        == [("a", 16)] * 2
        + [("b", 16)] * 2
        + [("a", 16), ("b", 16)] * 2
        + [("a", 128)] * 2
        + [("b", 128)] * 2
        + [("a", 128), ("b", 128)] * 2
    )
    assert set(timings) == {"a", "b"}


@pytest.mark.skipif(not choice.installed("openvino"), reason='needs pip install "aiaas-sdk[openvino]"')
def test_a_server_load_of_a_text_model_measures_both_probes_and_says_so(tmp_path: Path) -> None:
    folder = write_text_artifact(tmp_path / "tiny-text" / "1", max_length=200)
    manifest = json.loads((folder / "manifest.json").read_text())
    data = (folder / "model.onnx").read_bytes()
    (folder / "model.openvino.onnx").write_bytes(data)
    gate = {"reference": "onnx", "metric": "max_abs_diff", "value": 0.0, "tolerance": 1e-4, "passed": True}
    manifest["artifacts"][0]["parity"] = {**gate, "samples": 1}
    second = json.loads(json.dumps(manifest["artifacts"][0]))
    second.update(file="model.openvino.onnx", sha256=sha256_bytes(data), bytes=len(data), target={})
    second["target"]["runtime"] = "openvino"
    manifest["artifacts"].append(second)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    model = load(folder, config=RuntimeConfig(usage="server"))
    made = model.info.extra["backend_choice"]
    assert made["probe"] == "1x16+1x128"
    assert set(made["timings_ms"]) == {"model.onnx", "model.openvino.onnx"}
    assert any("1x16+1x128 probe, geometric mean of the probes' medians" in n for n in model.info.notes)


def test_a_measurement_made_with_other_probes_is_not_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    from sdk.artifacts.manifest import ArtifactFile

    artifacts = [ArtifactFile(kind="onnx", file=ORT, sha256="0" * 64, bytes=1, precision="int8")]
    before = choice.cache_key(artifacts, {"onnxruntime": "1"}, RuntimeConfig())
    monkeypatch.setattr(choice, "SHORT_PROBE_LENGTH", 32)
    assert choice.cache_key(artifacts, {"onnxruntime": "1"}, RuntimeConfig()) != before


def signature_on(monkeypatch: pytest.MonkeyPatch, flags: tuple[str, ...]) -> str:
    monkeypatch.setattr(choice, "this_cpu", lambda: CpuDescription("x86_64", "AMD EPYC", flags))
    return choice.device_signature.__wrapped__()


def test_a_choice_measured_on_a_vnni_cpu_is_not_reused_on_an_avx2_only_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenVINO's int8 won on the VNNI EPYC and ran ~2x slower than ONNX Runtime on the AVX2-only one (FACTS.md):
    the cache is keyed by the CPU's flags, so the AVX2 machine measures for itself."""
    vnni, avx2 = signature_on(monkeypatch, VNNI), signature_on(monkeypatch, AVX2)
    assert vnni != avx2
    assert signature_on(monkeypatch, VNNI) == vnni


def test_without_measurements_every_cpu_kind_starts_on_onnx_runtime() -> None:
    """The prior never assumes OpenVINO's int8 is faster, whatever the CPU: only a measurement here can pick it."""
    ranked = choice.decide(
        [choice.Candidate(ORT, "onnxruntime", "int8"), choice.Candidate(OV, "openvino", "int8")], "server"
    )
    assert ranked.file == ORT and not ranked.measured
