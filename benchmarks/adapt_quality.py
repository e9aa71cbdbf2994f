"""How well ``sdk.adapt`` carries a trained model into a new domain, each row beside its baselines fitted on the same
examples in the same run, mean and spread (std) over ``--seeds`` draws of the examples (issue 18, "Measured, not
claimed").

    .venv/bin/python benchmarks/adapt_quality.py [--quick] [--seeds 5] [--only text,images,series] [--minilm DIR]
                                                 [--json PATH]

- text: MiniLM (fp32, compiled from its recipe in the run, or --minilm DIR) carried to SciPy docstring summaries
  labelled by submodule (models/docstrings: 8 classes, real human-written text, labels no model produced). 8 examples
  per class; everything else held out. Head mode vs TF-IDF + logistic regression on the same examples: target
  >= +10 points. Finetune mode (SetFit-style contrastive pairs, then the head; the artifact as sdk.load runs it) vs
  head mode on the same draw: target >= +5 points; on a base that is not the minilm-l6 recipe's model its row says
  "not built". Forgetting: head mode, the adapted artifact's encoder (the base file it reuses, run by ONNX Runtime)
  against the base on MiniLM's held-out general sentences, mean cosine; finetune, the finetuned encoder against the
  base on the same sentences (measured by sdk.adapt, reported in its result).
- images: a digits CNN trained here on digits 0-4 only, carried to digits 5-9 at 5 examples per class. Head mode
  (on its 64-wide penultimate layer) vs the same CNN trained from scratch on those 25 examples: target >= +15
  points; and vs logistic regression on the raw pixels (a reference, no target). Finetune mode (the CNN rebuilt in
  torch from the artifact's weights, a new output layer, all layers trained on shifted digits) against the same
  baselines; the scratch CNN already scores ~0.9 here, so +15 points is out of reach for any method.
- series: the sunspots LSTM carried to El Nino sea temperatures with the first 20% of the points; head mode (a ridge
  head on the LSTM's forecast, the only float output it has) vs the same LSTM trained from scratch on those points
  (target <= 0.9x RMSE) and vs an AR model fitted on them (target < 1x). The series' points are fixed: the seeds
  vary the head's CV folds and the scratch LSTM's initialization. Finetune mode (the LSTM rebuilt in torch, its linear
  AR path refitted on the new windows, then trained) against the same baselines.
- time: each adaptation (sdk.adapt, wall clock) <= 300 s on this machine.

The CPU model and flags go into --json. The machine may be shared: compare the figures of one run, never across runs.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _adapt_data as data

import sdk
from sdk.adaptation import adapt
from sdk.artifacts import read_manifest

KINDS = ("text", "images", "series")
TIME_LIMIT_S = 300.0


@dataclass(frozen=True)
class Settings:
    seeds: int = 5
    text_per_class: int = 8
    image_per_class: int = 5
    series_share: float = 0.2
    base_cnn_steps: int = 600  # minibatches of 64 on ~720 digits 0-4
    scratch_cnn_steps: int = 300  # full passes over the 25 examples (the batch holds them all)
    lstm_epochs: int = 100  # the sunspots recipe's default, for the base and the scratch LSTM alike
    text_limit: int | None = None  # held-out docstrings scored (None: all)
    finetune_epochs: int | None = None  # None: sdk.adapt's default


QUICK = Settings(seeds=2, base_cnn_steps=60, scratch_cnn_steps=20, lstm_epochs=3, text_limit=40, finetune_epochs=1)


def spread(values: Sequence[float]) -> float:
    return statistics.pstdev(values) if len(values) > 1 else 0.0


def row(
    name: str,
    ours: Sequence[float] | float | None,
    baseline: Sequence[float] | float | None = None,
    *,
    vs: str = "",
    gain: float | None = None,
    most: float | None = None,
    limit: float | None = None,
    floor: float | None = None,
    unit: str = "",
    note: str = "",
) -> dict[str, Any]:
    """One row: ``ours`` and ``baseline`` are per-seed values (mean and spread reported). ``gain``: ours must beat the
    baseline by that much (accuracy points as fractions); ``most``: ours <= most x baseline; ``limit``/``floor``: ours
    <= / >= that value. ``pass`` is None when nothing is asked or nothing was measured ("not built")."""
    ours_v = [ours] if isinstance(ours, (int, float)) else list(ours or [])
    base_v = [baseline] if isinstance(baseline, (int, float)) else list(baseline or [])
    mean = statistics.fmean(ours_v) if ours_v else None
    base = statistics.fmean(base_v) if base_v else None
    checks, target = [], []
    if gain is not None:
        checks.append(mean is not None and base is not None and mean - base >= gain)
        target.append(f">= +{gain * 100:g} points")
    if most is not None:
        checks.append(mean is not None and base is not None and mean <= most * base)
        target.append(f"<= {most:g}x")
    if limit is not None:
        checks.append(mean is not None and mean <= limit)
        target.append(f"<= {limit:g}{unit}")
    if floor is not None:
        checks.append(mean is not None and mean >= floor)
        target.append(f">= {floor:g}{unit}")
    finite = mean is not None and math.isfinite(mean) and (base is None or math.isfinite(base))
    return {
        "row": name,
        "ours": mean,
        "ours_spread": spread(ours_v) if ours_v else None,
        "ours_values": ours_v,
        "baseline": base,
        "baseline_spread": spread(base_v) if base_v else None,
        "baseline_values": base_v,
        "baseline_of": vs,
        "difference": mean - base if mean is not None and base is not None else None,
        "ratio": mean / base if mean is not None and base else None,
        "target": ", ".join(target),
        "pass": (finite and all(checks)) if checks and mean is not None else None,
        "unit": unit,
        "note": note,
    }


def _cell(value: float | None, sd: float | None, unit: str) -> str:
    if value is None:
        return "not built"
    text = f"{value:.3g}{unit}"
    return f"{text} ± {sd:.2g}" if sd else text


def table(rows: Sequence[dict[str, Any]]) -> str:
    lines = ["| row | ours | baseline | ours - baseline | ratio | target | pass |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        unit = r["unit"]
        baseline = "-"
        if r["baseline"] is not None:
            baseline = f"{_cell(r['baseline'], r['baseline_spread'], unit)} ({r['baseline_of']})"
        diff = f"{r['difference']:+.3g}" if r["difference"] is not None else "-"
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None else "-"
        verdict = {True: "yes", False: "NO", None: "-"}[r["pass"]]
        name = f"{r['row']} ({r['note']})" if r["note"] else r["row"]
        ours = _cell(r["ours"], r["ours_spread"], unit)
        lines.append(f"| {name} | {ours} | {baseline} | {diff} | {ratio} | {r['target'] or '-'} | {verdict} |")
    return "\n".join(lines)


def timed_adapt(base: Path, examples: Path, out: Path, seed: int, **options: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = adapt(base, examples, out, seed=seed, **options)
    return result, time.perf_counter() - start


# --- text ---------------------------------------------------------------------------------------------------------


def encoder_agreement(base: Path, adapted: Path, sentences: list[str]) -> float:
    """Mean cosine between the base's feature and the adapted artifact's reused encoder file on ``sentences``."""
    import onnxruntime as ort

    from sdk.artifacts import read_manifest

    fp32 = read_manifest(base).artifact()  # the artifact head mode reads features from (sdk.adaptation.features)
    reuse = read_manifest(adapted).base
    if reuse is None or reuse.files.get(fp32.file) != fp32.sha256:
        raise AssertionError(f"{adapted} does not reuse the base's {fp32.file}")
    with sdk.load(base, precision=fp32.precision) as model:
        assert model.processors is not None
        feeds = model.processors.encode(sentences).feeds
        reference = model(feeds)[reuse.feature]
    file, feature = fp32.file, reuse.feature
    session = ort.InferenceSession(str(adapted / file), providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    got = session.run([feature], {k: v for k, v in feeds.items() if k in names})[0]
    cos = (got * reference).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(reference, axis=1))
    return float(cos.mean())


def text_rows(settings: Settings, minilm: Path, work: Path) -> list[dict[str, Any]]:
    from models.docstrings.data import Docstrings, build

    docs = build()
    labels = np.asarray(docs.labels)
    head, tfidf, seconds, agreement, delta = [], [], [], [], []
    tuned, tuned_head, tuned_seconds, forgetting, answered = [], [], [], [], set()
    finetunes = read_manifest(minilm).name == data.MINILM  # finetune trains the recipe's MiniLM only
    held, general = 0, []
    for seed in range(settings.seeds):
        train, test = data.per_class_draw(labels, settings.text_per_class, seed)
        if settings.text_limit is not None:
            test = np.random.default_rng(seed).choice(test, settings.text_limit, replace=False)
        held = len(test)
        subset = Docstrings([docs.texts[i] for i in train], [docs.labels[i] for i in train], [], docs.version)
        result, took = timed_adapt(minilm, subset.write_jsonl(work / f"text-{seed}.jsonl"), work / f"text-{seed}", seed)
        with sdk.load(result.path) as model:
            predicted = model([docs.texts[i] for i in test]).labels
        head.append(float(np.mean(np.asarray(predicted) == labels[test])))
        if finetunes:
            examples = work / f"text-{seed}.jsonl"
            options = {"mode": "finetune", "epochs": settings.finetune_epochs}
            result_ft, took_ft = timed_adapt(minilm, examples, work / f"text-ft-{seed}", seed, **options)
            with sdk.load(result_ft.path) as model:
                predicted = model([docs.texts[i] for i in test]).labels
                answered.add(model.artifact.file)
            tuned.append(float(np.mean(np.asarray(predicted) == labels[test])))
            tuned_head.append(head[-1])
            tuned_seconds.append(took_ft)
            forgetting.append(result_ft.forgetting)
        train_texts = [docs.texts[i] for i in train]
        tfidf.append(
            data.tfidf_accuracy(train_texts, list(labels[train]), [docs.texts[i] for i in test], list(labels[test]))
        )
        seconds.append(took)
        delta.append(result.delta_share)
        if seed == 0:
            general = data.general_sentences()
            agreement.append(encoder_agreement(minilm, result.path, general))
    k = settings.text_per_class
    setup = f"scipy {docs.version} docstrings, {len(docs.counts())} classes, {k}/class, {held} held out"
    rows = [
        row("text: head accuracy", head, tfidf, vs="TF-IDF + LR", gain=0.10, note=setup),
        row(
            "text: forgetting, encoder cosine vs base",
            agreement,
            floor=0.9999,
            note=f"head mode reuses the base's encoder file; {len(general)} general sentences",
        ),
        row("text: delta bytes / base bytes", delta, limit=0.05, note="head.onnx vs the reused MiniLM files"),
        row("text: adaptation time", seconds, limit=TIME_LIMIT_S, unit=" s"),
    ]
    if not finetunes:
        note = f"not built here: finetune trains the {data.MINILM} recipe's model, the base is another"
        return [*rows, row("text: finetune accuracy", None, head, vs="head mode", gain=0.05, note=note)]
    epochs = settings.finetune_epochs or "default"
    note = f"same draws; {epochs} epochs, all layers; answered by {', '.join(sorted(answered))}"
    return [
        *rows,
        row("text: finetune accuracy", tuned, tuned_head, vs="head mode", gain=0.05, note=note),
        row("text: finetune accuracy", tuned, tfidf, vs="TF-IDF + LR", note="reference"),
        row("text: forgetting, finetuned encoder cosine vs base", forgetting, note=f"{len(general)} general sentences"),
        row("text: finetune adaptation time", tuned_seconds, limit=TIME_LIMIT_S, unit=" s"),
    ]


# --- images -------------------------------------------------------------------------------------------------------


def image_rows(settings: Settings, work: Path) -> list[dict[str, Any]]:
    base, base_accuracy = data.build_digits_base(work / "digits-0to4", steps=settings.base_cnn_steps)
    x, y = data.digits(data.NEW_DIGITS)
    head, scratch, pixels, seconds, tuned, tuned_seconds = [], [], [], [], [], []
    for seed in range(settings.seeds):
        train, test = data.per_class_draw(y, settings.image_per_class, seed)
        examples = work / f"digits-{seed}.npz"
        np.savez(examples, x=x[train], y=y[train])
        result, took = timed_adapt(base, examples, work / f"digits-{seed}", seed)
        with sdk.load(result.path) as model:
            scores = next(iter(model({"image": x[test]}).values()))
        predicted = np.asarray([int(result.head.labels[i]) for i in scores.argmax(1)])
        head.append(float((predicted == y[test]).mean()))
        cnn = data.train_cnn(x[train], y[train], steps=settings.scratch_cnn_steps, seed=seed, batch=len(train))
        scratch.append(data.cnn_accuracy(cnn, x[test], y[test]))
        pixels.append(data.pixel_accuracy(x[train], y[train], x[test], y[test]))
        seconds.append(took)
        options = {"mode": "finetune", "epochs": settings.finetune_epochs}
        tuned_result, took = timed_adapt(base, examples, work / f"digits-ft-{seed}", seed, **options)
        with sdk.load(tuned_result.path) as model:
            scores = next(iter(model({"image": x[test]}).values()))
            labels = np.asarray([int(v) for v in model.manifest.labels or ()])
        tuned.append(float((labels[scores.argmax(1)] == y[test]).mean()))
        tuned_seconds.append(took)
    k = settings.image_per_class
    note = f"base saw digits 0-4 only (its 0-4 accuracy {base_accuracy:.3f}); {k}/class of 5-9"
    room = 1 - statistics.fmean(scratch)
    ceiling = f"scratch scores {1 - room:.3f}: at most +{room:.3f} is possible"
    return [
        row("images: head accuracy", head, scratch, vs="same CNN from scratch", gain=0.15, note=note),
        row("images: head accuracy", head, pixels, vs="LR on raw pixels", note="reference"),
        row("images: finetune accuracy", tuned, scratch, vs="same CNN from scratch", gain=0.15, note=ceiling),
        row("images: finetune accuracy", tuned, head, vs="head mode", note="reference"),
        row("images: adaptation time", seconds, limit=TIME_LIMIT_S, unit=" s"),
        row("images: finetune adaptation time", tuned_seconds, limit=TIME_LIMIT_S, unit=" s"),
    ]


# --- series -------------------------------------------------------------------------------------------------------


def series_rows(settings: Settings, work: Path) -> list[dict[str, Any]]:
    base, base_rmse = data.build_sunspots_base(work / "sunspots", epochs=settings.lstm_epochs)
    task = data.elnino(settings.series_share)
    x_train, y_train = task.train()
    x_test, y_test = task.test()
    examples = work / "elnino.jsonl"
    lines = (json.dumps({"window": w[:, 0].tolist(), "label": float(t)}) for w, t in zip(x_train, y_train))
    examples.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def rmse(forecast: np.ndarray) -> float:  # in degrees C
        return float(np.sqrt(np.mean((forecast.reshape(-1) - y_test) ** 2))) * task.scale

    head, scratch, seconds, tuned, tuned_seconds = [], [], [], [], []
    for seed in range(settings.seeds):
        result, took = timed_adapt(base, examples, work / f"elnino-{seed}", seed)
        with sdk.load(result.path) as model:
            forecast = next(iter(model({"window": x_test}).values()))
        head.append(rmse(np.asarray(forecast, dtype=np.float64)))
        scratch.append(rmse(data.scratch_lstm(task, epochs=settings.lstm_epochs, seed=seed)))
        seconds.append(took)
        options = {"mode": "finetune", "epochs": settings.finetune_epochs}
        tuned_result, took = timed_adapt(base, examples, work / f"elnino-ft-{seed}", seed, **options)
        with sdk.load(tuned_result.path) as model:
            forecast = next(iter(model({"window": x_test}).values()))
        tuned.append(rmse(np.asarray(forecast, dtype=np.float64)))
        tuned_seconds.append(took)
    ar, lags = data.ar_forecasts(task)
    note = (
        f"{task.name}, first {task.train_points} of {len(task.values)} monthly points ({len(y_train)} windows); "
        f"ridge head on the LSTM's 1-wide forecast; base RMSE on sunspots {base_rmse:.1f}"
    )
    return [
        row("series: head RMSE", head, scratch, vs="same LSTM from scratch", most=0.9, unit=" C", note=note),
        row("series: head RMSE", head, [rmse(ar)], vs=f"AR({lags}) on the same points", most=1.0, unit=" C"),
        row("series: finetune RMSE", tuned, scratch, vs="same LSTM from scratch", most=0.9, unit=" C"),
        row("series: finetune RMSE", tuned, [rmse(ar)], vs=f"AR({lags}) on the same points", most=1.0, unit=" C"),
        row("series: adaptation time", seconds, limit=TIME_LIMIT_S, unit=" s"),
        row("series: finetune adaptation time", tuned_seconds, limit=TIME_LIMIT_S, unit=" s"),
    ]


# --- main ---------------------------------------------------------------------------------------------------------


def environment() -> dict[str, Any]:
    from importlib import metadata

    from sdk.artifacts.cpu import this_cpu

    cpu = this_cpu()
    versions: dict[str, str | None] = {}
    for package in ("onnxruntime", "numpy", "scipy", "scikit-learn", "statsmodels", "torch"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {"cpu": {"model": cpu.model, "isa": cpu.isa, "flags": list(cpu.flags)}, "versions": versions}


def run(settings: Settings, kinds: Sequence[str], minilm: Path | None, work: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if "text" in kinds:
        if minilm is None:
            print("compiling minilm-l6 fp32 from its recipe...", file=sys.stderr)
            minilm = data.build_minilm(work / "minilm-l6")
        rows += text_rows(settings, minilm, work)
    if "images" in kinds:
        rows += image_rows(settings, work)
    if "series" in kinds:
        rows += series_rows(settings, work)
    return rows


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few seeds and steps: checks the benchmark runs")
    parser.add_argument("--seeds", type=int, default=None, help="draws of the examples (default 5; --quick 2)")
    parser.add_argument("--only", default=",".join(KINDS), help="comma-separated: text, images, series")
    parser.add_argument("--minilm", type=Path, default=None, help="a compiled minilm-l6 artifact folder to reuse")
    parser.add_argument("--json", type=Path, default=None, help="write rows, settings and the CPU here")
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.only.split(",") if k.strip()]
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        parser.error(f"--only: unknown {unknown}; choose from {', '.join(KINDS)}")
    settings = QUICK if args.quick else Settings()
    if args.seeds is not None:
        if args.seeds < 1:
            parser.error("--seeds must be at least 1")
        settings = Settings(**{**settings.__dict__, "seeds": args.seeds})
    with tempfile.TemporaryDirectory(prefix="adapt-quality-") as tmp:
        rows = run(settings, kinds, args.minilm, Path(tmp))
    env = environment()
    report = {"settings": settings.__dict__, "environment": env, "rows": rows}
    cpu = env["cpu"]
    print(f"CPU: {cpu['model']} ({cpu['isa']}); seeds: {settings.seeds}\n")
    print(table(rows))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


if __name__ == "__main__":
    main()
