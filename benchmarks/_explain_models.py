"""What benchmarks/explain_quality.py needs beside its measurements: the models, built in the run from the recipes
under models/; the reference explainers (shap over ``sdk.explain.Scorer``, captum); the report's rows and table.

Digits CNN: trained (seeded) and compiled fp32 + int8 (the static Q/DQ int8 OpenVINO runs; dynamic int8 is refused
for convolutions by policy), the trained PyTorch module kept for captum. Sunspots LSTM: trained with few epochs (the
benchmark compares attributions, not forecasts) and compiled fp32. MiniLM: compiled fp32 + int8 from its recipe, or
an existing artifact folder reused. Everything goes into one temporary folder.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TOP = 3  # units removed in the top-k rows


@dataclass
class Digits:
    folder: Path  # the artifact folder (fp32, and int8 when it passed its gate)
    module: Any  # the trained torch DigitsCNN, in eval mode
    x_test: np.ndarray  # held-out digits [N, 1, 8, 8] in [0, 1]
    y_test: np.ndarray
    int8: bool  # whether an int8 artifact was shipped
    accuracy: float


@dataclass
class Series:
    folder: Path
    x_test: np.ndarray  # held-out windows [N, 20, 1], sunspot numbers
    rmse: float


def _project_on_path() -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def build_digits(out: Path, *, epochs: int, seed: int = 0) -> Digits:
    """Train the digits CNN and compile it fp32 + int8 (static, calibrated on real training digits)."""
    _project_on_path()
    from models.digits_cnn.data import load_split
    from sdk.compile import compile_source, from_recipe, load_recipe

    recipe = load_recipe("digits-cnn", root=ROOT)
    trained = recipe.train(seed=seed, epochs=epochs, progress=False)
    split = load_split(seed)
    source = from_recipe(recipe, trained, seed=seed)
    calibration = tuple({"image": split.x_train[i : i + 32]} for i in range(0, 320, 32))
    source = dataclasses.replace(source, calibration=calibration)
    result = compile_source(source, out, precisions="fp32,int8")
    trained.model.eval()
    return Digits(
        folder=out,
        module=trained.model,
        x_test=split.x_test,
        y_test=split.y_test,
        int8=any(c.precision == "int8" for c in result.candidates),
        accuracy=float(trained.metrics["test_accuracy"]),
    )


def build_series(out: Path, *, epochs: int, seed: int = 0) -> Series:
    """Train the sunspots LSTM briefly and compile it fp32."""
    _project_on_path()
    from models.sunspots_lstm.data import load_split
    from sdk.compile import compile_source, from_recipe, load_recipe

    recipe = load_recipe("sunspots-lstm", root=ROOT)
    trained = recipe.train(seed=seed, epochs=epochs, progress=False)
    compile_source(from_recipe(recipe, trained, seed=seed), out, precisions="fp32")
    return Series(folder=out, x_test=load_split().x_test, rmse=float(trained.metrics["test_rmse"]))


def build_minilm(out: Path) -> Path:
    """Compile MiniLM fp32 + int8 from its recipe (about 30 s here); the pretrained weights come from their package."""
    _project_on_path()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sdk.compile import compile_source, from_recipe, load_recipe

    recipe = load_recipe("minilm-l6", root=ROOT)
    compile_source(from_recipe(recipe, recipe.train(), seed=0), out, precisions="fp32,int8")
    return out


def held_out_sentences() -> list[str]:
    """The recipe's real sentences that neither calibration nor anything else here has seen."""
    _project_on_path()
    from models.minilm_l6.recipe import CALIBRATION_COUNT, sentences

    return sentences()[CALIBRATION_COUNT:]


def kernel_explainer(scorer: Any, nsamples: int, seed: int, index: int = 0) -> np.ndarray:
    """shap's KernelExplainer over the same units on the same artifact: ``f(X)`` is ``sdk.explain.Scorer`` (the
    artifact run on the masks X, with explain's units, removal and target; the background is every unit removed,
    the instance every unit kept), ``nsamples`` coalitions. ``l1_reg=False`` is plain KernelSHAP, the estimator ours
    is (shap's default keeps 10 features by a LARS path: slower, and it zeroes the rest)."""
    import warnings

    with warnings.catch_warnings():  # shap's imports (matplotlib, numba) warn on import under -W error
        warnings.simplefilter("ignore")
        import shap

        n = len(scorer.units[index])
        np.random.seed(seed)  # KernelExplainer samples with numpy's global generator
        explainer = shap.KernelExplainer(lambda x: scorer(x, index), np.zeros((1, n)))
        values = explainer.shap_values(np.ones((1, n)), nsamples=nsamples, l1_reg=False, silent=True)
    return np.asarray(values, dtype=np.float64).reshape(-1)


class IntegratedGradients:
    """captum's IntegratedGradients on the source PyTorch digits CNN, for the target class's probability, from a
    black image (the removal sdk.explain uses for a pixel). torch runs one thread here: on this 38k-parameter CNN one
    is faster than two (measured: ~30 ms vs 200-800 ms per explanation on the shared 2-core machine, where torch's
    spinning OpenMP threads fight the other processes), so the comparison does not flatter ours."""

    def __init__(self, module: Any, steps: int = 50) -> None:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from captum.attr import IntegratedGradients as Captum
        self.method = Captum(lambda image: module(image)[1])
        self.steps = steps

    def __call__(self, image: np.ndarray, target: int) -> np.ndarray:
        import warnings

        import torch

        x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)[None])
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                got = self.method.attribute(x, baselines=torch.zeros_like(x), target=target, n_steps=self.steps)
        finally:
            torch.set_num_threads(threads)
        return got.detach().numpy().astype(np.float64).reshape(-1)  # row-major pixels, as the units are


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (average ranks for ties); NaN when either side is constant."""
    from scipy.stats import rankdata

    ra, rb = rankdata(a), rankdata(b)
    if np.ptp(ra) == 0 or np.ptp(rb) == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


# --- timing and removals ----------------------------------------------------------------------------------------


def interleaved(calls: Sequence[Callable[[], Any]], turn: int) -> list[tuple[Any, float]]:
    """Each call once, starting at a different one each turn; (result, ms) in the given order."""
    out: list[tuple[Any, float]] = [(None, 0.0)] * len(calls)
    for k in range(len(calls)):
        j = (turn + k) % len(calls)
        start = time.perf_counter()
        result = calls[j]()
        out[j] = (result, (time.perf_counter() - start) * 1000)
    return out


def without(scores: np.ndarray, n: int, k: int = TOP) -> np.ndarray:
    """A keep-mask with the ``k`` highest-scoring units removed."""
    mask = np.ones(n)
    mask[np.argsort(-np.asarray(scores), kind="stable")[:k]] = 0.0
    return mask


def random_removals(rng: np.random.Generator, n: int, draws: int, k: int = TOP) -> np.ndarray:
    masks = np.ones((draws, n))
    for d in range(draws):
        masks[d, rng.choice(n, size=min(k, n), replace=False)] = 0.0
    return masks


class Timed:
    """A forward that adds up the time spent in the runtime: what part of an explanation is the model's own cost."""

    def __init__(self, forward: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]) -> None:
        self.forward = forward
        self.ms = 0.0
        self.rows = 0

    def __call__(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.rows += len(next(iter(feeds.values())))
        start = time.perf_counter()
        try:
            return self.forward(feeds)
        finally:
            self.ms += (time.perf_counter() - start) * 1000


def runtime_note(ms: Sequence[float]) -> str:
    """Where the time goes (medians): the runtime's share, and the rows each ran (ours' method may need fewer than
    its budget; shap always runs nsamples)."""
    return f"runtime ms / rows: ours {ms[2]:.3g} / {ms[4]:.0f}, shap {ms[3]:.3g} / {ms[5]:.0f}"


# --- the report -----------------------------------------------------------------------------------------------------


def row(
    name: str,
    ours: float,
    baseline: float | None = None,
    *,
    vs: str = "",
    most: float | None = None,
    least: float | None = None,
    limit: float | None = None,
    floor: float | None = None,
    spread: float | None = None,
    unit: str = "",
    note: str = "",
) -> dict[str, Any]:
    """One table row. ``most``/``least``: ours must be <= / >= that many times the baseline; ``limit``/``floor``:
    ours must be <= / >= that value. ``pass`` is None when nothing is asked (a figure reported for reference)."""
    checks, target = [], []
    # A ratio reads as the targets do only against a positive baseline (faithfulness AUCs are not clipped: a curve
    # that falls below the base value gives a negative deletion AUC); the verdict compares ours with the baseline.
    ratio = ours / baseline if baseline is not None and math.isfinite(baseline) and baseline > 0 else None
    if most is not None:
        checks.append(baseline is not None and ours <= most * baseline)
        target.append(f"<= {most:g}x")
    if least is not None:
        checks.append(baseline is not None and ours >= least * baseline)
        target.append(f">= {least:g}x")
    if limit is not None:
        checks.append(ours <= limit)
        target.append(f"<= {limit:g}{unit}")
    if floor is not None:
        checks.append(ours >= floor)
        target.append(f">= {floor:g}{unit}")
    finite = math.isfinite(ours) and (baseline is None or math.isfinite(baseline))
    return {
        "row": name,
        "ours": ours,
        "baseline": baseline,
        "baseline_of": vs,
        "baseline_spread": spread,
        "ratio": ratio,
        "target": ", ".join(target),
        "pass": (finite and all(checks)) if checks else None,
        "unit": unit,
        "note": note,
    }


def cell(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if not math.isfinite(value):
        return "n/a"
    return f"{value:.3g}{unit}"


def table(rows: Sequence[dict[str, Any]]) -> str:
    lines = ["| row | ours | baseline | ratio | target | pass |", "|---|---|---|---|---|---|"]
    for r in rows:
        unit = r["unit"]
        baseline = cell(r["baseline"], unit)
        if r["baseline"] is not None:
            spread = f" ± {cell(r['baseline_spread'])}" if r["baseline_spread"] is not None else ""
            baseline = f"{baseline}{spread} ({r['baseline_of']})"
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None else "-"
        verdict = {True: "yes", False: "NO", None: "-"}[r["pass"]]
        name = f"{r['row']} ({r['note']})" if r["note"] else r["row"]
        lines.append(f"| {name} | {cell(r['ours'], unit)} | {baseline} | {ratio} | {r['target'] or '-'} | {verdict} |")
    return "\n".join(lines)


def environment() -> dict[str, Any]:
    from importlib import metadata

    from sdk.artifacts.cpu import this_cpu

    cpu = this_cpu()
    versions: dict[str, str | None] = {}
    for package in ("onnxruntime", "openvino", "shap", "captum", "torch", "numpy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {"cpu": {"model": cpu.model, "isa": cpu.isa, "flags": list(cpu.flags)}, "versions": versions}
