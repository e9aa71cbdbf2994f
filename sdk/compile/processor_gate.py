"""The processor gate: the artifact's processors must reproduce the source's own preprocessing on held-out raw inputs.

Item by item, then all items as one batch (padding included), every model input the processor fills must equal what
the source's preprocessing makes of the same raw input: integers exactly (token ids, attention masks), floats within
``FLOAT_TOLERANCE`` (pixels, scaled series). A wrong tokenizer, truncation side or normalization is the most common
silent accuracy loss when a model moves to ONNX; here it stops the compile, like the model's parity gate. Held-out
text must include items longer than the max length, so that truncation itself is checked.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from sdk._record import record
from sdk.artifacts.manifest import Parity
from sdk.compile.recipe import RawEvaluation
from sdk.compile.sources import CompileSource
from sdk.errors import ConfigError, InvalidInput, ParityFailure
from sdk.runtime.processors import Encoded, Processors

FLOAT_TOLERANCE = 1e-6
SHOWN = 3  # mismatches named in the summary


@record
class ProcessorGateResult:
    reference: str
    kind: str
    samples: int
    mismatched: int  # items (and the whole batch, counted as one) whose tensors differ from the reference's
    max_abs_diff: float
    truncated: int  # held-out items the processor cut to its max length
    failures: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.mismatched == 0 and not self.failures

    def summary(self) -> str:
        head = (
            f"{self.kind}: {self.samples - min(self.mismatched, self.samples)}/{self.samples} items equal to "
            f"{self.reference}, max |diff| {self.max_abs_diff:.3g}"
        )
        if self.kind == "text":
            head += f", {self.truncated} longer than the max length"
        return head + ("; " + "; ".join(self.failures[:SHOWN]) if self.failures else "")

    def to_manifest(self) -> Parity:
        return Parity(
            reference=self.reference,
            metric="mismatched_items",
            value=float(self.mismatched),
            tolerance=0.0,
            passed=self.passed,
            samples=self.samples,
            extra={
                "max_abs_diff": self.max_abs_diff,
                "float_tolerance": FLOAT_TOLERANCE,
                "truncated_items": float(self.truncated),
            },
        )

    def raise_if_failed(self, artifact: str) -> None:
        if not self.passed:
            raise ParityFailure(
                f"{artifact}: the processors failed their gate against {self.reference}: {self.summary()}",
                hint="nothing was written; fix the processors the recipe declares (tokenizer, truncation, scale, "
                "mean/std, layout), or pass --allow-degraded REASON knowingly",
            )


def _compare(got: Encoded, want: Mapping[str, np.ndarray], where: str) -> tuple[float, str | None]:
    """(max |diff| over float inputs, the first difference in words or None)."""
    worst = 0.0
    for name, value in got.feeds.items():
        if name not in want:
            return worst, f"{where}: the reference makes no '{name}' (it makes {sorted(want)})"
        expected = np.asarray(want[name])
        if value.shape != expected.shape:
            return worst, f"{where}: '{name}' has shape {list(value.shape)}, the reference {list(expected.shape)}"
        if value.dtype.kind in "iub" or expected.dtype.kind in "iub":
            if not np.array_equal(value, expected):
                index = tuple(int(i) for i in np.argwhere(value != expected)[0])
                return worst, (
                    f"{where}: '{name}' differs at {list(index)}: {value[index]} vs the reference's {expected[index]}"
                )
            continue
        diff = float(np.max(np.abs(value.astype(np.float64) - expected.astype(np.float64)))) if value.size else 0.0
        worst = max(worst, diff if np.isfinite(diff) else float("inf"))
        if not diff <= FLOAT_TOLERANCE:
            return worst, f"{where}: '{name}' differs by {diff:.3g} (tolerance {FLOAT_TOLERANCE:g})"
    return worst, None


def check_processors(processors: Processors, raw: RawEvaluation) -> ProcessorGateResult:
    """Run ``processors`` on every held-out raw item, alone and in one batch, against ``raw.preprocess``."""
    kind = processors.kind or "output"
    items = list(raw.items)
    failures: list[str] = []
    mismatched, worst, truncated = 0, 0.0, 0
    for i, item in enumerate(items):
        try:
            got = processors.encode([item])
        except InvalidInput as exc:
            mismatched += 1
            failures.append(f"item {i} refused: {exc.message}")
            continue
        truncated += int(np.sum(got.report.get("truncated", 0)))
        diff, problem = _compare(got, raw.preprocess([item]), f"item {i}")
        worst = max(worst, diff)
        if problem:
            mismatched += 1
            failures.append(problem)
    if not mismatched:
        diff, problem = _compare(processors.encode(items), raw.preprocess(items), f"all {len(items)} as one batch")
        worst = max(worst, diff)
        if problem:
            mismatched += 1
            failures.append(problem)
    if kind == "text" and truncated == 0:
        failures.append(
            "no held-out text is longer than the max length, so truncation went unchecked: add longer items"
        )
    return ProcessorGateResult(raw.reference, kind, len(items), mismatched, worst, truncated, tuple(failures))


def check_source_processors(source: CompileSource) -> ProcessorGateResult | None:
    """The gate for ``source.processors`` (None when it declares no input processor: nothing raw to check)."""
    spec = source.processors
    if spec is None or spec.input is None:
        return None
    if source.raw_evaluation is None or not source.raw_evaluation.items:
        raise ConfigError(
            f"{source.name} declares a {type(spec.input).__name__.removesuffix('Spec').lower()} processor but no "
            "held-out raw inputs to check it on",
            hint="give the recipe raw_evaluation=... (raw items and the source's own preprocessing of them)",
        )
    missing = [name for name in spec.files if name not in source.files]
    if missing:
        raise ConfigError(f"{source.name}: the processors read {', '.join(missing)}, which the recipe's files() lacks")
    processors = Processors(
        spec,
        model=source.name,
        inputs=source.inputs,
        labels=source.labels,
        files={name: source.files[name][0] for name in spec.files},
    )
    return check_processors(processors, source.raw_evaluation)
