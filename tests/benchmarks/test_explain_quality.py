"""benchmarks/explain_quality.py on its --quick setting: the report's structure, and that its verdicts can fail.

One quick run per module (tiny training, a few digits and windows, MiniLM skipped: about 40 s here); the tests then
check its rows, its JSON and its table, and feed the benchmark's own measuring functions attributions known to be
bad (reversed, least important first) to show that a row then fails.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow
pytest.importorskip("torch")
pytest.importorskip("shap")
pytest.importorskip("captum")


def _module() -> Any:
    spec = importlib.util.spec_from_file_location("explain_quality", REPO / "benchmarks" / "explain_quality.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


quality = _module()

ROWS = (
    "digits deletion AUC, auto",
    "digits insertion AUC, auto",
    "digits deletion AUC, occlusion",
    "digits insertion AUC, rise",
    "digits ms per explanation, vs shap KernelExplainer",
    "digits deletion AUC, ours vs shap KernelExplainer",
    "digits ms per explanation, vs captum IG",
    "digits Spearman ours vs captum IG",
    "digits fp32 vs int8",
    "digits edge vs cloud",
    "digits ms per explanation, ours at max_evals 128 vs shap KernelExplainer at 256",
    "digits deletion AUC, ours at max_evals 128",
    "LSTM abs forecast change, top 3 vs 3 random, auto (occlusion)",
    "LSTM abs forecast change, top 3 vs 3 random, kernel_shap",
    "LSTM abs forecast change, top 3: ours vs shap KernelExplainer",
    "LSTM ms per explanation, vs shap KernelExplainer",
)


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any], Path]:
    """(the report main returns, the report its --json wrote, the folder its models were built in)."""
    folder = tmp_path_factory.mktemp("explain-quality")
    out = folder / "report.json"
    report = quality.main(["--quick", "--skip-minilm", "--json", str(out), "--keep", str(folder / "models")])
    return report, json.loads(out.read_text(encoding="utf-8")), folder / "models"


def test_quick_run_reports_each_row_beside_its_baseline_target_and_verdict(quick: Any) -> None:
    report, written, _ = quick
    rows = report["rows"]
    names = [r["row"] for r in rows]
    for expected in ROWS:
        assert any(name.startswith(expected) for name in names), f"no row {expected!r} in {names}"
    for r in rows:
        assert r["pass"] in (True, False, None), r
        assert bool(r["target"]) == (r["pass"] is not None), r
        if r["baseline"] is not None:
            assert r["baseline_of"], r
            if r["ratio"] is not None:
                assert r["ratio"] == pytest.approx(r["ours"] / r["baseline"])
    assert [r["row"] for r in written["rows"]] == names
    assert written["settings"]["digits"] == quality.QUICK.digits
    assert "MiniLM skipped (--skip-minilm)" in report["notes"]


def test_report_records_the_cpu_and_the_versions_measured(quick: Any) -> None:
    _, written, _ = quick
    assert written["cpu"]["isa"] and isinstance(written["cpu"]["flags"], list)
    assert written["versions"]["shap"] and written["versions"]["onnxruntime"]


def test_random_baselines_carry_their_spread_over_draws(quick: Any) -> None:
    report, _, _ = quick
    random_rows = [r for r in report["rows"] if r["baseline_of"].startswith("random")]
    assert len(random_rows) >= 7
    assert all(r["baseline_spread"] is not None and r["baseline_spread"] >= 0 for r in random_rows)


def test_edge_and_cloud_give_identical_attributions_for_the_same_seed(quick: Any) -> None:
    report, _, _ = quick
    (edge,) = [r for r in report["rows"] if r["row"].startswith("digits edge vs cloud")]
    assert edge["ours"] == 0.0 and edge["pass"] is True, edge


def test_table_has_one_line_per_row_and_six_cells_each(quick: Any) -> None:
    report, _, _ = quick
    lines = quality.table(report["rows"]).splitlines()
    assert len(lines) == len(report["rows"]) + 2
    assert all(line.count("|") == 7 for line in lines), "a cell holds a stray '|'"
    assert {line.rsplit("|", 2)[1].strip() for line in lines[2:]} <= {"yes", "NO", "-"}


@pytest.mark.parametrize(
    ("kwargs", "ours", "expected"),
    [
        ({"most": 0.6}, 0.5, True),
        ({"most": 0.6}, 0.7, False),
        ({"least": 1.5}, 1.6, True),
        ({"least": 1.5}, 1.4, False),
        ({"limit": 20.0}, 21.0, False),
        ({"floor": 0.8}, 0.79, False),
        ({"most": 0.2, "limit": 20.0}, 0.1, True),
        ({"most": 0.2, "limit": 20.0}, float("nan"), False),
        ({}, 0.5, None),
    ],
)
def test_row_verdict_follows_its_target(kwargs: dict[str, float], ours: float, expected: bool | None) -> None:
    baseline = 1.0 if {"most", "least"} & set(kwargs) else None
    assert quality.row("r", ours, baseline, vs="b", **kwargs)["pass"] is expected


def test_reversed_attributions_fail_the_digits_faithfulness_targets(quick: Any) -> None:
    import sdk
    from models.digits_cnn.data import load_split
    from sdk.explain import explain

    _, _, models = quick
    model = sdk.load(models / "digits-cnn", precision="fp32")
    x = load_split(0).x_test[:6]
    ours = [explain(model, {"image": x[i : i + 1]}).items[0].attributions for i in range(len(x))]
    rows = quality.digits_faithfulness(model, x, {"ours": ours, "reversed": [-a for a in ours]}, draws=3, seed=0)
    verdicts = {r["row"]: r["pass"] for r in rows}
    assert verdicts["digits deletion AUC, ours"] is True
    assert verdicts["digits insertion AUC, ours"] is True
    assert verdicts["digits deletion AUC, reversed"] is False
    assert verdicts["digits insertion AUC, reversed"] is False


def test_removing_the_least_important_lags_fails_the_top_3_target(quick: Any) -> None:
    import sdk
    from models.sunspots_lstm.data import load_split
    from sdk.explain import ExplainOptions, Scorer, explain

    _, _, models = quick
    model = sdk.load(models / "sunspots-lstm", precision="fp32")
    rng = np.random.default_rng(0)
    got = quality.TopK()
    for window in load_split().x_test[:5]:
        item = [window.ravel().tolist()]
        attributions = explain(model, item).items[0].attributions
        scorer = Scorer(model, item, ExplainOptions())
        n = len(scorer.units[0])
        least = quality.without(-np.abs(attributions), n)  # the 3 lags that matter least
        values = scorer(np.vstack([np.ones(n), least, quality.random_removals(rng, n, 3)]))
        effect = np.abs(values[0] - values[1:])
        got.ours.append(float(effect[0]))
        got.shap.append(float(effect[0]))
        got.random.append(effect[1:])
    (versus_random, _) = quality.top_k_rows("LSTM", "abs forecast change", got, 3)
    assert math.isfinite(versus_random["ratio"]) and versus_random["pass"] is False, versus_random
