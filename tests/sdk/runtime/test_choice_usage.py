"""The engine choice weighed for how the process uses the model (#20): a CLI call or a function's init does not pay
OpenVINO's compile for a small per-call gain; a server keeps the fastest per call; OpenVINO's compiled-model cache
makes the next start cheap. Decisions are checked on recorded measurements (no wall-clock asserts); loads use the
real shipped CNN under ONNX Runtime and OpenVINO."""

from __future__ import annotations

import dataclasses
import json
from importlib import metadata
from pathlib import Path

import pytest

from sdk import LoadedModel, RuntimeConfig, load
from sdk.artifacts import read_manifest
from sdk.artifacts.integrity import sha256_bytes
from sdk.artifacts.manifest import ArtifactFile
from sdk.errors import ConfigError
from sdk.runtime import choice, engines
from sdk.runtime.providers import CPU, CUDA, Machine, plan_providers
from tests.partial_install import need

needs_openvino = pytest.mark.skipif(not choice.installed("openvino"), reason='needs pip install "aiaas-sdk[openvino]"')
OV = "model.openvino.onnx"

# Recorded on this project's machines (issue #20, FACTS.md): MiniLM int8 1x128, ms.
ORT_INT8 = choice.Candidate("model.int8.onnx", "onnxruntime", "int8", call_ms=9.0, load_ms=120.0, import_ms=40.0)
OV_COLD = choice.Candidate("model.int8.openvino.onnx", "openvino", "int8", call_ms=6.9, load_ms=1000.0, import_ms=120.0)
OV_WARM = choice.Candidate("model.int8.openvino.onnx", "openvino", "int8", call_ms=6.9, load_ms=170.0, import_ms=120.0)


def from_cache(model: LoadedModel) -> bool:
    """Whether OpenVINO read the compiled model from its cache (its LOADED_FROM_CACHE property)."""
    from sdk.runtime.openvino_backend import OpenVinoBackend

    assert isinstance(model.backend, OpenVinoBackend)
    return model.backend.from_cache


@pytest.fixture
def two_engines(artifact_copy: Path) -> Path:
    """The shipped CNN with its fp32 graph listed again for OpenVINO (same bytes, same gate)."""
    manifest_path = artifact_copy / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    data = (artifact_copy / "model.onnx").read_bytes()
    (artifact_copy / OV).write_bytes(data)
    second = json.loads(json.dumps(manifest["artifacts"][0]))
    second.update(file=OV, sha256=sha256_bytes(data), bytes=len(data))
    second["target"]["runtime"] = "openvino"
    manifest["artifacts"].append(second)
    manifest_path.write_text(json.dumps(manifest))
    return artifact_copy


def test_a_oneshot_call_does_not_pay_a_compile_for_a_two_millisecond_gain() -> None:
    made = choice.decide([ORT_INT8, OV_COLD], "oneshot")
    assert made.file == ORT_INT8.file and made.measured
    assert "import + load + 1 call" in made.reason
    assert "model.int8.onnx 169 ms, model.int8.openvino.onnx 1127 ms" in made.reason  # 40+120+9 vs 120+1000+6.9


def test_a_function_init_weighs_a_hundred_calls_against_the_compile() -> None:
    assert choice.decide([ORT_INT8, OV_COLD], "function").file == ORT_INT8.file  # 1060 vs 1810 ms
    # From OpenVINO's compiled-model cache the load is cheap, and 100 calls at 2.1 ms less each pay for the rest.
    assert choice.decide([ORT_INT8, OV_WARM], "function").file == OV_WARM.file  # 1060 vs 980 ms
    assert choice.decide([ORT_INT8, OV_WARM], "oneshot").file == ORT_INT8.file  # 169 vs 297 ms


def test_a_server_keeps_the_fastest_per_call_whatever_the_load_costs() -> None:
    made = choice.decide([ORT_INT8, OV_COLD], "server")
    assert made.file == OV_COLD.file and "fastest per call" in made.reason


def test_a_clear_margin_is_needed_to_leave_the_best_ranked_candidate() -> None:
    close = choice.Candidate("ov.onnx", "openvino", "int8", call_ms=8.8, load_ms=0.0, import_ms=0.0)
    assert choice.decide([ORT_INT8, close], "server").file == ORT_INT8.file  # 2% faster: noise could flip it


def test_without_measurements_the_prior_decides_and_says_so() -> None:
    bare = [choice.Candidate(c.file, c.engine, c.precision) for c in (ORT_INT8, OV_COLD)]
    for usage in ("oneshot", "function", "server"):
        made = choice.decide(bare, usage)
        assert (made.file, made.measured) == (ORT_INT8.file, False)
    assert "nothing measured on this device yet" in choice.decide(bare, "oneshot").reason


def test_the_prior_ranks_engines_that_do_not_compile_first_then_int8_fp32_fp16(digits_artifact: Path) -> None:
    base = read_manifest(digits_artifact).artifacts[0]

    def artifact(file: str, precision: str, runtime: str) -> ArtifactFile:
        return dataclasses.replace(base, file=file, precision=precision, target={"runtime": runtime})

    ov8, fp16, fp32, ort8 = (
        artifact("ov8", "int8", "openvino"),
        artifact("fp16", "fp16", "onnxruntime"),
        artifact("fp32", "fp32", "onnxruntime"),
        artifact("ort8", "int8", "onnxruntime"),
    )
    listed = [ov8, fp16, fp32, ort8]
    assert [a.file for a in choice.rank(listed)] == ["ort8", "fp32", "fp16", "ov8"]
    assert [a.file for a in choice.rank(listed, gpu=True)] == ["fp16", "fp32", "ort8", "ov8"]


def test_usage_setting_resolves_from_argument_env_and_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIAAS_USAGE", raising=False)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    assert RuntimeConfig.from_env().process_usage == "server"
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "inference")
    assert RuntimeConfig.from_env().process_usage == "function"  # auto inside AWS Lambda
    monkeypatch.setenv("AIAAS_USAGE", "oneshot")
    assert RuntimeConfig.from_env().process_usage == "oneshot"
    assert RuntimeConfig.from_env(usage="server").process_usage == "server"
    with pytest.raises(ConfigError, match="usage='batch'; expected one of auto, oneshot, function, server"):
        RuntimeConfig(usage="batch")
    assert RuntimeConfig(precision="auto").precision is None
    # An entry point that knows its process (`sdk predict`: oneshot) sets the default; the user's setting wins.
    assert RuntimeConfig.from_env().usage_default("server").usage == "oneshot"
    monkeypatch.delenv("AIAAS_USAGE")
    assert RuntimeConfig.from_env().usage_default("oneshot").process_usage == "oneshot"


@needs_openvino
def test_oneshot_load_without_measurements_takes_onnxruntime_and_measures_nothing(two_engines: Path) -> None:
    model = load(two_engines, config=RuntimeConfig(usage="oneshot"))
    assert (model.info.runtime, model.info.artifact) == ("onnxruntime", "model.onnx")
    made = model.info.extra["backend_choice"]
    assert (made["usage"], made["measured"]) == ("oneshot", False)
    assert any("the prior decides" in note for note in model.info.notes)
    assert not choice.ChoiceCache().path.exists()  # nothing was timed, nothing remembered


@needs_openvino
def test_a_servers_measurement_feeds_later_oneshot_and_function_starts(two_engines: Path) -> None:
    served = load(two_engines, config=RuntimeConfig(usage="server"))
    made = served.info.extra["backend_choice"]
    assert made["cached"] is False and set(made["load_ms"]) == {"model.onnx", OV}
    assert OV in made["load_warm_ms"]  # OpenVINO timed again from its compiled-model cache
    assert all(ms > 0 for ms in (*made["load_ms"].values(), *made["timings_ms"].values()))
    stored = choice.ChoiceCache().path.read_text()
    for usage in ("oneshot", "function"):
        later = load(two_engines, config=RuntimeConfig(usage=usage))
        chosen = later.info.extra["backend_choice"]
        assert chosen["measured"] is True and f"cheapest for a {usage} process" in chosen["reason"]
        preview = engines.plan(read_manifest(two_engines), RuntimeConfig(usage=usage))
        assert preview.artifact.file == later.info.artifact  # `sdk models show` says what a load opens
    assert choice.ChoiceCache().path.read_text() == stored  # they only read the measurement


@needs_openvino
def test_planted_measurements_decide_oneshot_and_server_differently(two_engines: Path) -> None:
    """A cache entry saying OpenVINO is faster per call but costly to load: a server takes it, a CLI call does not."""
    config = RuntimeConfig(usage="server")
    manifest = read_manifest(two_engines)
    options = choice.options(manifest, None, config)
    key = choice.cache_key(options.artifacts, choice.engine_versions(), config)
    entry = {
        "file": OV,
        "timings_ms": {"model.onnx": 2.0, OV: 1.0},
        "load_ms": {"model.onnx": 10.0, OV: 900.0},
        "load_warm_ms": {OV: 850.0},
        "import_ms": {"onnxruntime": 40.0, "openvino": 120.0},
    }
    assert choice.ChoiceCache().put(key, entry)
    assert load(two_engines, config=config).info.artifact == OV
    assert load(two_engines, config=RuntimeConfig(usage="oneshot")).info.artifact == "model.onnx"
    assert load(two_engines, config=RuntimeConfig(usage="function")).info.artifact == "model.onnx"  # 250 vs 1070


@needs_openvino
def test_openvino_compiled_model_cache_is_created_then_reused(two_engines: Path) -> None:
    config = RuntimeConfig(backend="openvino")
    first = load(two_engines, config=config)
    folders = list((choice.ChoiceCache().path.parent / choice.COMPILE_CACHE).iterdir())
    assert len(folders) == 1 and list(folders[0].iterdir())  # one folder for this artifact, holding the blob
    files = sorted(p.name for p in folders[0].iterdir())
    assert from_cache(first) is False and any("compiled now, kept in its cache" in n for n in first.info.notes)
    second = load(two_engines, config=config)
    assert from_cache(second) is True
    assert any("compiled model read from its cache" in n for n in second.info.notes)
    assert sorted(p.name for p in folders[0].iterdir()) == files  # reused, not compiled again
    again = read_manifest(two_engines).artifacts[1]
    expected = choice.compile_cache_dir(again, choice.engine_versions()["openvino"], config, create=False)
    assert expected == folders[0]  # keyed like the choice cache: artifact, engine version, CPU, threads


@needs_openvino
def test_compile_cache_off_or_unwritable_still_loads(two_engines: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    off = load(two_engines, config=RuntimeConfig(backend="openvino", compile_cache=False))
    assert from_cache(off) is False and not (choice.ChoiceCache().path.parent / choice.COMPILE_CACHE).exists()
    blocked = two_engines.parent / "a-file"
    blocked.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked / "cache"))  # a read-only home, as in Lambda
    model = load(two_engines, config=RuntimeConfig(backend="openvino"))
    assert model.info.runtime == "openvino" and from_cache(model) is False


def test_engine_versions_match_the_installed_distributions() -> None:
    need("onnxruntime")
    assert choice.engine_versions()["onnxruntime"] == metadata.version("onnxruntime")
    if choice.installed("openvino"):
        assert choice.engine_versions()["openvino"] == metadata.version("openvino")


def test_a_cpu_only_onnxruntime_is_never_probed_for_gpus() -> None:
    probes: list[int] = []

    def probe() -> Machine:
        probes.append(1)
        return Machine(cuda=None, tensorrt="not installed")

    assert plan_providers(["auto"], [CPU], probe).providers == (CPU,)
    assert probes == []
    assert plan_providers(["auto"], [CUDA, CPU], probe).providers == (CUDA, CPU)
    assert probes == [1]
