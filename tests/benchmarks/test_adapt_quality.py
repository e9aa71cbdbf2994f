"""benchmarks/adapt_quality.py on its --quick setting: the report's rows beside their baselines, and verdicts that fail.

One quick run per module (text through a tiny word-level text artifact standing in for MiniLM, so no 90 MB compile;
images and series with a few training steps: about 20 s here). The tiny encoder knows 10 words, so its head loses to
TF-IDF on the docstrings: the run itself shows a text verdict failing.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from typing import Any

import pytest

from tests.conftest import REPO
from tests.sdk.runtime.text_artifact import write_text_artifact

pytestmark = pytest.mark.slow
pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("statsmodels")
pytest.importorskip("tokenizers")


def _module() -> Any:
    spec = importlib.util.spec_from_file_location("adapt_quality", REPO / "benchmarks" / "adapt_quality.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


quality = _module()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("adapt-quality")
    tiny = write_text_artifact(folder / "tiny-text")
    path = folder / "report.json"
    quality.main(["--quick", "--minilm", str(tiny), "--json", str(path)])
    written = json.loads(path.read_text(encoding="utf-8"))
    assert written["rows"] == json.loads(json.dumps(written["rows"]))
    return written


def rows_named(report: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    return [r for r in report["rows"] if r["row"].startswith(prefix)]


def test_quick_run_reports_every_domain_beside_its_baselines(report: dict[str, Any]) -> None:
    names = {(r["row"], r["baseline_of"]) for r in report["rows"]}
    assert ("text: head accuracy", "TF-IDF + LR") in names
    assert ("images: head accuracy", "same CNN from scratch") in names
    assert ("images: head accuracy", "LR on raw pixels") in names
    assert ("series: head RMSE", "same LSTM from scratch") in names
    assert any(r["row"] == "series: head RMSE" and r["baseline_of"].startswith("AR(") for r in report["rows"])
    for r in report["rows"]:
        if r["baseline_of"] and r["ours"] is not None:
            assert r["baseline"] is not None and r["difference"] == pytest.approx(r["ours"] - r["baseline"])
    seeds = report["settings"]["seeds"]
    for r in rows_named(report, "images: head") + rows_named(report, "text: head"):
        assert len(r["ours_values"]) == seeds and len(r["baseline_values"]) == seeds  # one per draw, same draws
    assert report["environment"]["cpu"]["flags"]


def test_every_adaptation_is_timed_against_the_five_minute_target(report: dict[str, Any]) -> None:
    times = [r for r in report["rows"] if r["row"].endswith("adaptation time")]
    assert [r["row"].split(":")[0] for r in times] == ["text", "images", "images", "series", "series"]
    for r in times:
        assert r["target"] == "<= 300 s" and 0 < r["ours"] < 300 and r["pass"] is True


def test_image_and_series_finetune_rows_stand_beside_the_same_baselines_as_head_mode(report: dict[str, Any]) -> None:
    seeds = report["settings"]["seeds"]
    for kind, scratch in (
        ("images: finetune accuracy", "same CNN from scratch"),
        ("series: finetune RMSE", "same LSTM from scratch"),
    ):
        (row,) = [r for r in rows_named(report, kind) if r["baseline_of"] == scratch]
        head = next(
            r for r in report["rows"] if r["row"] == kind.replace("finetune", "head") and r["baseline_of"] == scratch
        )
        assert len(row["ours_values"]) == seeds and row["baseline_values"] == head["baseline_values"]
        assert row["ours"] is not None and row["pass"] in (True, False)


def test_finetune_is_reported_as_not_built_never_as_a_figure(report: dict[str, Any]) -> None:
    (finetune,) = rows_named(report, "text: finetune")
    assert finetune["ours"] is None and finetune["pass"] is None and "not built" in finetune["note"]
    assert "| not built |" in quality.table([finetune])


def test_head_mode_leaves_the_reused_encoder_unchanged(report: dict[str, Any]) -> None:
    (forgetting,) = rows_named(report, "text: forgetting")
    assert forgetting["ours"] == pytest.approx(1.0, abs=1e-6) and forgetting["pass"] is True


def test_a_head_on_an_encoder_that_knows_no_scipy_words_fails_against_tfidf(report: dict[str, Any]) -> None:
    (text,) = [r for r in rows_named(report, "text: head accuracy")]
    assert text["pass"] is False and text["difference"] < 0.10


def test_gain_verdict_fails_below_the_target_and_passes_above() -> None:
    assert quality.row("r", [0.70, 0.72], [0.65, 0.61], gain=0.10)["pass"] is False
    assert quality.row("r", [0.80, 0.78], [0.65, 0.61], gain=0.10)["pass"] is True
    assert quality.row("r", [1.0], [1.0], most=0.9)["pass"] is False
    assert quality.row("r", [0.8], [1.0], most=0.9)["pass"] is True
    assert quality.row("r", [301.0], limit=300)["pass"] is False


def test_an_unknown_domain_is_refused_by_name() -> None:
    with pytest.raises(SystemExit) as exit_info:
        quality.main(["--only", "audio"])
    assert exit_info.value.code == 2
