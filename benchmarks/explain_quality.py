"""How faithful sdk.explain's attributions are and what they cost, each figure beside a baseline measured in the same
run (issue 17, "How good it must be").

    .venv/bin/python benchmarks/explain_quality.py [--quick] [--skip-minilm] [--minilm DIR] [--json PATH]

Every model is built in the run from its recipe (benchmarks/_explain_models.py); MiniLM can be reused (--minilm DIR,
a folder `sdk compile minilm-l6 --precision fp32,int8` wrote). Everything is scored through the public
``sdk.explain.Scorer`` / ``score_attributions``: explain's own units, removal and explained scalar.

- Digits CNN, 100 held-out test digits: deletion and insertion AUC (sdk.explain.faithfulness) of each method's
  attributions vs the mean of 20 random attributions. Targets: deletion <= 0.6x, insertion >= 1.5x random.
- MiniLM, held-out real sentence pairs (each held-out sentence with its nearest held-out neighbour): how much deleting
  the top 3 words (ours) lowers the pair's cosine vs deleting 3 random words (20 draws). Target >= 2x.
- Sunspots LSTM, held-out windows (1947-2008): how far removing the top 3 lags (by |attribution|) moves the forecast
  vs 3 random lags (20 draws). Target >= 2x. MiniLM and the LSTM also measure the method auto does not run, to
  re-check auto's choice.
- Cost: ms per explanation at the default options (digits and LSTM <= 20 ms, MiniLM at 64 tokens <= 1 s), and against
  shap's KernelExplainer on the same artifact over the same units with the same budget: both sides run max_evals
  model rows per item (shap: nsamples = max_evals - 4, plus the scorer's value and base value and its own
  f(background) and f(instance); ours: the faithfulness curves included), one item per call on each side. Target
  <= 0.2x the time (>= 5x faster) at equal or better faithfulness; ours' method may need fewer rows than the budget:
  each time row's note gives both sides' rows and runtime ms. As the same rows cost both sides the same runtime,
  digits also race ours at half the budget against shap at the full one. captum's IntegratedGradients on the source
  PyTorch CNN: time, faithfulness, and rank agreement (Spearman) with ours.
- Consistency: fp32 vs int8 digits attributions (Spearman per test digit, mean and min >= 0.8; int8 is told the fp32
  artifact's class so both explain the same output); edge vs the serving core in process (sdk.testing) for the same
  seed: identical attributions.

``ratio`` is ours / baseline. Random baselines: the mean over draws, spread = std over draws. Times: medians of calls
interleaved with the reference's (who goes first alternates). The CPU model and flags go into --json. The machine may
be shared: compare figures of one run, never across runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _explain_models as built
from _explain_models import Timed, environment, interleaved, random_removals, row, runtime_note, table, without

import sdk
from sdk.explain import AUTO, ExplainOptions, Explanation, Scorer, explain, score_attributions

METHODS = ("auto", "occlusion", "kernel_shap", "rise")
# Measured beside auto on series and text, to re-check its choice (images: every method's faithfulness rows).
OTHERS = {kind: tuple(m for m in ("occlusion", "kernel_shap") if m != AUTO[kind]) for kind in ("series", "text")}


@dataclass(frozen=True)
class Settings:
    digits: int = 100
    draws: int = 20
    pairs: int | None = None  # MiniLM pairs (None: every held-out sentence)
    windows: int | None = None  # LSTM windows (None: all 62 held-out)
    digits_epochs: int = 40
    lstm_epochs: int = 30
    repeats: int = 5  # MiniLM 64-token timings
    ig_steps: int = 50
    seed: int = 0


QUICK = Settings(digits=6, draws=3, pairs=3, windows=5, digits_epochs=5, lstm_epochs=2, repeats=1, ig_steps=8)


def shap_of(model: Any, item: Any, options: ExplainOptions, forward: Timed | None = None) -> np.ndarray:
    """shap's KernelExplainer on one item, as a user would run it on the artifact: units, f(X), then shap. Its rows
    equal ours: the scorer's reference (2: value and base value), shap's own f(background) and f(instance) (2), and
    ``nsamples`` = max_evals - 4 coalitions."""
    scorer = Scorer(model, item, options, forward=forward)
    return built.kernel_explainer(scorer, options.max_evals - 4, options.seed)


def race(
    model: Any, item: Any, options: ExplainOptions, turn: int, shap_options: ExplainOptions | None = None
) -> tuple[Explanation, np.ndarray, list[float]]:
    """Ours and shap on one item, interleaved: (our explanation, shap's values, [ours ms, shap ms, ours' runtime ms,
    shap's runtime ms, ours' rows, shap's rows]). shap runs ``shap_options`` (default: the same options)."""
    ours_forward, shap_forward = Timed(model.run_validated), Timed(model.run_validated)
    calls: list[Callable[[], Any]] = [
        functools.partial(explain, model, item, options, forward=ours_forward),
        functools.partial(shap_of, model, item, shap_options or options, shap_forward),
    ]
    (got, ours_ms), (shap_values, shap_ms) = interleaved(calls, turn)
    return got, shap_values, [ours_ms, shap_ms, ours_forward.ms, shap_forward.ms, ours_forward.rows, shap_forward.rows]


# --- digits ---------------------------------------------------------------------------------------------------------


def faithfulness_of(model: Any, x: np.ndarray, attributions: Sequence[np.ndarray]) -> tuple[float, float]:
    """Mean deletion and insertion AUC over the digits (items whose value equals their base value have none)."""
    scores = score_attributions(model, {"image": x}, list(attributions))
    deletion = [s["deletion_auc"] for s in scores if s]
    insertion = [s["insertion_auc"] for s in scores if s]
    return float(np.mean(deletion)), float(np.mean(insertion))


def digits_faithfulness(
    model: Any, x: np.ndarray, attributions: dict[str, list[np.ndarray]], draws: int, seed: int
) -> list[dict[str, Any]]:
    """Deletion and insertion AUC of each set of attributions vs the mean of ``draws`` random ones."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(x.shape[1:]))
    random = np.array([faithfulness_of(model, x, list(rng.standard_normal((len(x), n)))) for _ in range(draws)])
    (del_mean, ins_mean), (del_sd, ins_sd) = random.mean(axis=0), random.std(axis=0)
    vs = f"random x{draws}"
    rows = []
    for label, sets in attributions.items():
        deletion, insertion = faithfulness_of(model, x, sets)
        rows.append(row(f"digits deletion AUC, {label}", deletion, del_mean, vs=vs, most=0.6, spread=del_sd))
        rows.append(row(f"digits insertion AUC, {label}", insertion, ins_mean, vs=vs, least=1.5, spread=ins_sd))
    return rows


def digits_section(digits: built.Digits, settings: Settings, notes: list[str]) -> list[dict[str, Any]]:
    model = sdk.load(digits.folder, precision="fp32")
    x = digits.x_test[: settings.digits]
    options = ExplainOptions(seed=settings.seed)
    ig = built.IntegratedGradients(digits.module, steps=settings.ig_steps)
    shap_of(model, {"image": x[:1]}, options)  # warm: shap's first call imports it
    ours: list[Explanation] = []
    shap_att, ig_att, times = [], [], []
    for i in range(len(x)):
        item = {"image": x[i : i + 1]}
        got, shap_values, ms = race(model, item, options, i)
        target = int(got.items[0].target["index"])
        start = time.perf_counter()
        ig_values = ig(x[i], target)
        ig_ms = (time.perf_counter() - start) * 1000
        ours.append(got)
        shap_att.append(shap_values)
        ig_att.append(ig_values)
        times.append([*ms, ig_ms])  # ig_ms last: index 6
    method = ours[0].method
    sets = {f"auto ({method})": [e.items[0].attributions for e in ours]}
    for name in METHODS[1:]:
        if name != method:
            asked = dataclasses.replace(options, method=name)
            sets[name] = [explain(model, {"image": x[i : i + 1]}, asked).items[0].attributions for i in range(len(x))]
    rows = digits_faithfulness(model, x, sets, settings.draws, settings.seed)
    own = [e.items[0].faithfulness for e in ours]
    mine = score_attributions(model, {"image": x}, sets[f"auto ({method})"])
    if any(a and abs(a["deletion_auc"] - b["deletion_auc"]) > 1e-9 for a, b in zip(own, mine)):
        notes.append("digits: the explanations' own faithfulness differs from score_attributions' (same metric)")
    auto = sets[f"auto ({method})"]
    ours_del, ours_ins = faithfulness_of(model, x, auto)
    shap_del, shap_ins = faithfulness_of(model, x, shap_att)
    ig_del, ig_ins = faithfulness_of(model, x, ig_att)
    ms = np.median(np.array(times), axis=0)
    agreement = np.array([built.spearman(a, b) for a, b in zip(auto, ig_att)])
    shap_agreement = np.array([built.spearman(a, b) for a, b in zip(auto, shap_att)])
    rows += [
        row(
            "digits ms per explanation, vs shap KernelExplainer",
            ms[0],
            ms[1],
            vs="shap",
            most=0.2,
            limit=20,
            unit=" ms",
            note=runtime_note(ms),
        ),
        row("digits deletion AUC, ours vs shap KernelExplainer", ours_del, shap_del, vs="shap", most=1.0),
        row("digits insertion AUC, ours vs shap KernelExplainer", ours_ins, shap_ins, vs="shap", least=1.0),
        row("digits Spearman ours vs shap KernelExplainer (mean)", float(np.nanmean(shap_agreement))),
        row("digits ms per explanation, vs captum IG (torch)", ms[0], ms[6], vs="captum IG", unit=" ms"),
        row("digits deletion AUC, ours vs captum IG", ours_del, ig_del, vs="captum IG"),
        row("digits insertion AUC, ours vs captum IG", ours_ins, ig_ins, vs="captum IG"),
        row(
            "digits Spearman ours vs captum IG (mean)",
            float(np.nanmean(agreement)),
            note=f"spread {np.nanstd(agreement):.2f}, min {np.nanmin(agreement):.2f}",
        ),
    ]
    rows += half_budget_rows(model, x, options, (shap_del, shap_ins))
    rows += consistency_rows(digits, model, x, ours, settings)
    return rows


def half_budget_rows(
    model: Any, x: np.ndarray, options: ExplainOptions, shap_faithfulness: tuple[float, float]
) -> list[dict[str, Any]]:
    """Ours at half the budget against shap at the full one, interleaved again: the same rows cost both sides the
    same runtime, which bounds the same-budget ratio (shap's time / ours' runtime); this asks whether ours reaches
    shap's faithfulness with fewer rows, and how much faster it then is."""
    half = dataclasses.replace(options, max_evals=options.max_evals // 2)
    got, times = [], []
    for i in range(len(x)):
        explanation, _, ms = race(model, {"image": x[i : i + 1]}, half, i, shap_options=options)
        got.append(explanation.items[0].attributions)
        times.append(ms)
    ms = np.median(np.array(times), axis=0)
    deletion, insertion = faithfulness_of(model, x, got)
    what = f"max_evals {half.max_evals} vs shap KernelExplainer at {options.max_evals}"
    return [
        row(
            f"digits ms per explanation, ours at {what}",
            ms[0],
            ms[1],
            vs="shap",
            most=0.2,
            unit=" ms",
            note=runtime_note(ms),
        ),
        row(f"digits deletion AUC, ours at {what}", deletion, shap_faithfulness[0], vs="shap", most=1.0),
        row(f"digits insertion AUC, ours at {what}", insertion, shap_faithfulness[1], vs="shap", least=1.0),
    ]


def consistency_rows(
    digits: built.Digits, model: Any, x: np.ndarray, ours: list[Explanation], settings: Settings
) -> list[dict[str, Any]]:
    rows = []
    if digits.int8:
        int8 = sdk.load(digits.folder, precision="int8")
        agree = []
        for i, fp32 in enumerate(ours):
            asked = ExplainOptions(seed=settings.seed, target=int(fp32.items[0].target["index"]))
            other = explain(int8, {"image": x[i : i + 1]}, asked).items[0].attributions
            agree.append(built.spearman(fp32.items[0].attributions, other))
        engine = int8.info.runtime
        rows.append(row(f"digits fp32 vs int8 ({engine}) Spearman, mean", float(np.nanmean(agree)), floor=0.8))
        rows.append(row(f"digits fp32 vs int8 ({engine}) Spearman, min", float(np.nanmin(agree)), floor=0.8))
    rows.append(edge_vs_cloud(digits.folder, model, x[:8], ExplainOptions(seed=settings.seed + 1)))
    return rows


def edge_vs_cloud(folder: Path, model: Any, x: np.ndarray, options: ExplainOptions) -> dict[str, Any]:
    """The same explanation from the serving core (sdk.testing, in process, the bytes a network would carry) and on
    the edge: the largest difference of any attribution."""
    import httpx

    from sdk.runtime.config import RuntimeConfig
    from sdk.testing import in_process

    name = "digits edge vs cloud (sdk.testing), max abs diff of attributions"
    body = {
        "inputs": [{"name": "image", "datatype": "FP32", "shape": list(x.shape), "data": x.reshape(-1).tolist()}],
        "parameters": options.to_parameters(),
    }
    cloud = in_process(folder, runtime=RuntimeConfig(precision="fp32"))
    with cloud, httpx.Client(transport=cloud, base_url=cloud.url) as http:
        if "explain" not in http.get("/v2").json().get("extensions", []):
            return row(name, float("nan"), note="the server does not claim the explain extension")
        answer = http.post(f"/v2/models/{model.name}/explain", json=body)
    if answer.status_code != 200:
        return row(name, float("nan"), limit=0.0, note=f"HTTP {answer.status_code}: {answer.text[:120]}")
    remote = Explanation.from_json(answer.json()["explanation"])
    local = explain(model, {"image": x}, options)
    diff = max(float(np.max(np.abs(a.attributions - b.attributions))) for a, b in zip(local.items, remote.items))
    return row(name, diff, limit=0.0, note=f"{len(local.items)} digits in one request")


# --- top-k: MiniLM and the LSTM ---------------------------------------------------------------------------------------


@dataclass
class TopK:
    method: str = ""  # what auto ran
    ours: list[float] = dataclasses.field(default_factory=list)  # effect of removing our top k, per item
    shap: list[float] = dataclasses.field(default_factory=list)  # the same for shap's top k
    random: list[np.ndarray] = dataclasses.field(default_factory=list)  # per item: one effect per random draw
    times: list[list[float]] = dataclasses.field(default_factory=list)  # race's timings per item
    others: dict[str, list[float]] = dataclasses.field(default_factory=dict)  # the other methods' top-k effects


def top_k(
    model: Any,
    items: Sequence[tuple[Any, ExplainOptions]],
    draws: int,
    *,
    magnitude: bool,
    seed: int,
    others: Sequence[str] = (),
) -> TopK:
    """For each (raw item, options): explain it, run shap on the same units, then the effect on the explained scalar
    of removing our top 3, shap's top 3, each of ``others``' (methods) top 3 and 3 random units (``draws`` times):
    value - f (a drop), or |value - f| with ``magnitude`` (units ranked by |attribution| then)."""
    rng = np.random.default_rng(seed)
    out = TopK(others={name: [] for name in others})
    for turn, (item, options) in enumerate(items):
        scorer = Scorer(model, item, options)
        got, shap_values, ms = race(model, item, options, turn)
        out.method = got.method
        n = len(scorer.units[0])
        ranked = [got.items[0].attributions, shap_values]
        ranked += [explain(model, item, dataclasses.replace(options, method=m)).items[0].attributions for m in others]
        tops = [without(np.abs(a) if magnitude else a, n) for a in ranked]
        values = scorer(np.vstack([np.ones(n), *tops, random_removals(rng, n, draws)]))
        effect = values[0] - values[1:]
        effect = np.abs(effect) if magnitude else effect
        out.ours.append(float(effect[0]))
        out.shap.append(float(effect[1]))
        for k, name in enumerate(others):
            out.others[name].append(float(effect[2 + k]))
        out.random.append(effect[2 + len(others) :])
        out.times.append(ms)
    return out


def top_k_rows(label: str, what: str, got: TopK, draws: int) -> list[dict[str, Any]]:
    per_draw = np.array(got.random).mean(axis=0)  # each draw's mean over the items
    random, spread = float(per_draw.mean()), float(per_draw.std())
    ours = float(np.mean(got.ours))
    rows = [
        row(
            f"{label} {what}, top 3 vs 3 random, auto ({got.method})",
            ours,
            random,
            vs=f"random x{draws}",
            least=2.0,
            spread=spread,
            note=f"{len(got.ours)} items",
        ),
        row(
            f"{label} {what}, top 3: ours vs shap KernelExplainer", ours, float(np.mean(got.shap)), vs="shap", least=1.0
        ),
    ]
    for name, effects in got.others.items():
        rows.append(
            row(
                f"{label} {what}, top 3 vs 3 random, {name}",
                float(np.mean(effects)),
                random,
                vs=f"random x{draws}",
                spread=spread,
            )
        )
    return rows


def series_section(series: built.Series, settings: Settings) -> list[dict[str, Any]]:
    model = sdk.load(series.folder, precision="fp32")
    options = ExplainOptions(seed=settings.seed)
    windows = series.x_test[: settings.windows]
    shap_of(model, [windows[0].ravel().tolist()], options)  # warm
    items = [([w.ravel().tolist()], options) for w in windows]
    got = top_k(model, items, settings.draws, magnitude=True, seed=settings.seed, others=OTHERS["series"])
    ms = np.median(np.array(got.times), axis=0)
    return [
        *top_k_rows("LSTM", "abs forecast change", got, settings.draws),
        row(
            "LSTM ms per explanation, vs shap KernelExplainer",
            ms[0],
            ms[1],
            vs="shap",
            most=0.2,
            limit=20,
            unit=" ms",
            note=runtime_note(ms),
        ),
    ]


def text_of(model: Any, words: Sequence[str], tokens: int) -> str:
    """The shortest prefix of ``words`` that the artifact's tokenizer makes ``tokens`` ids of (specials included)."""
    for n in range(1, len(words) + 1):
        text = " ".join(words[:n])
        if int(model.processors.encode([text]).report["length"][0]) >= tokens:
            return text
    raise ValueError(f"the held-out sentences hold fewer than {tokens} tokens")


def minilm_section(folder: Path, settings: Settings) -> list[dict[str, Any]]:
    model = sdk.load(folder, precision="fp32")
    sentences = built.held_out_sentences()
    assert model.processors is not None, f"{folder} declares no text processor"
    feeds = model.validator(model.processors.encode(sentences).feeds)
    embeddings = model.run_validated(feeds)["embedding"].astype(np.float64)
    similarity = embeddings @ embeddings.T - 2.0 * np.eye(len(sentences))  # never a sentence with itself
    partner = similarity.argmax(axis=1)
    count = settings.pairs or len(sentences)
    pairs = [(s, ExplainOptions(seed=settings.seed, compare=sentences[partner[i]])) for i, s in enumerate(sentences)]
    got = top_k(model, pairs[:count], settings.draws, magnitude=False, seed=settings.seed, others=OTHERS["text"])
    rows = top_k_rows("MiniLM", "pair cosine drop", got, settings.draws)
    text = text_of(model, " ".join(sentences[1:]).split(), 64)
    tokens = int(model.processors.encode([text]).report["length"][0])
    options = ExplainOptions(seed=settings.seed, compare=sentences[0])
    for precision in ("fp32", "int8"):
        runner = model if precision == "fp32" else sdk.load(folder, precision="int8")
        explain(runner, text, options)  # warm
        ms = np.median(np.array([race(runner, text, options, t)[2] for t in range(settings.repeats)]), axis=0)
        rows.append(
            row(
                f"MiniLM 64 tokens ({precision}, {runner.info.runtime}) ms per explanation, vs shap",
                ms[0],
                ms[1],
                vs="shap",
                most=0.2,
                limit=1000,
                unit=" ms",
                note=f"{tokens} tokens, {runtime_note(ms)}",
            )
        )

    return rows


def run(settings: Settings, *, minilm: Path | None, skip_minilm: bool, folder: Path) -> dict[str, Any]:
    """Build the models into ``folder``, measure every section, return the report (rows, notes, environment)."""
    notes: list[str] = []
    started = time.perf_counter()
    digits = built.build_digits(folder / "digits-cnn", epochs=settings.digits_epochs, seed=settings.seed)
    if not digits.int8:
        notes.append("digits int8 missed its quality gate or could not be built: no fp32/int8 rows")
    series = built.build_series(folder / "sunspots-lstm", epochs=settings.lstm_epochs, seed=settings.seed)
    rows = digits_section(digits, settings, notes)
    rows += series_section(series, settings)
    if skip_minilm:
        notes.append("MiniLM skipped (--skip-minilm)")
    else:
        rows += minilm_section(minilm or built.build_minilm(folder / "minilm-l6"), settings)
    return {
        "benchmark": "explain_quality",
        "settings": dataclasses.asdict(settings),
        "models": {"digits_test_accuracy": digits.accuracy, "lstm_test_rmse": series.rmse},
        **environment(),
        "rows": rows,
        "notes": notes,
        "seconds": time.perf_counter() - started,
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a few items and draws, tiny training (a smoke test)")
    parser.add_argument("--skip-minilm", action="store_true", help="leave out the MiniLM rows")
    parser.add_argument("--minilm", type=Path, help="a compiled minilm-l6 folder (fp32,int8) to reuse")
    parser.add_argument("--json", type=Path, help="also write the report as JSON to this file")
    parser.add_argument("--keep", type=Path, help="build the models here (default: a temporary folder)")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else Settings()
    with tempfile.TemporaryDirectory(prefix="explain-quality-") as temp:
        folder = args.keep or Path(temp)
        report = run(settings, minilm=args.minilm, skip_minilm=args.skip_minilm, folder=folder)
    cpu = report["cpu"]
    print(f"CPU: {cpu['model']} ({cpu['isa']}); {report['seconds']:.0f} s; settings {report['settings']}")
    print(table(report["rows"]))
    for note in report["notes"]:
        print(f"note: {note}")
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2, default=float) + "\n", encoding="utf-8")
    return report


if __name__ == "__main__":
    main()
