"""The parity gate: an artifact ships only if it reproduces its source model on real inputs.

Compared per output: the largest absolute difference (the gate), and for classifiers the share of samples whose
top-1 class agrees (reported beside it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field

import numpy as np

from sdk._record import record
from sdk.artifacts.manifest import Parity
from sdk.errors import ParityFailure


@record
class ParityResult:
    reference: str
    max_abs_diff: float
    tolerance: float
    samples: int
    per_output: Mapping[str, float]
    top1_agreement: float | None = None
    extra: Mapping[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(np.isfinite(self.max_abs_diff)) and self.max_abs_diff <= self.tolerance

    def summary(self) -> str:
        agreement = f", top-1 agreement {self.top1_agreement:.2%}" if self.top1_agreement is not None else ""
        return f"max |diff| {self.max_abs_diff:.3g} (tolerance {self.tolerance:.3g}){agreement}"

    def to_manifest(self) -> Parity:
        extra = {f"max_abs_diff.{k}": v for k, v in self.per_output.items()}
        if self.top1_agreement is not None:
            extra["top1_agreement"] = self.top1_agreement
        extra.update(self.extra)
        return Parity(
            reference=self.reference,
            metric="max_abs_diff",
            value=self.max_abs_diff,
            tolerance=self.tolerance,
            passed=self.passed,
            samples=self.samples,
            extra=extra,
        )

    def raise_if_failed(self, artifact: str) -> None:
        if not self.passed:
            worst = max(self.per_output, key=lambda k: self.per_output[k])
            raise ParityFailure(
                f"{artifact} failed the parity gate against {self.reference}: max |diff| {self.max_abs_diff:.3g} "
                f"on output '{worst}' exceeds the tolerance {self.tolerance:.3g} ({self.samples} samples)",
                hint="the artifact was not written; check the export (opset, dynamic axes), "
                "or loosen --tolerance knowingly",
            )


def check_parity(
    reference: Mapping[str, np.ndarray],
    candidate: Mapping[str, np.ndarray],
    *,
    tolerance: float,
    reference_name: str,
    classify_output: str | None = None,
) -> ParityResult:
    """Compare two runs of the same inputs, output by output."""
    missing = set(reference) - set(candidate)
    if missing:
        raise ParityFailure(f"the artifact has no output(s) {sorted(missing)} that {reference_name} produces")
    per_output: dict[str, float] = {}
    samples = 0
    for name, expected in reference.items():
        got = candidate[name]
        if got.shape != expected.shape:
            raise ParityFailure(f"output '{name}' has shape {got.shape}, {reference_name} gives {expected.shape}")
        diff = np.abs(got.astype(np.float64) - expected.astype(np.float64))
        per_output[name] = float(np.max(diff)) if diff.size else 0.0
        if not np.all(np.isfinite(got)) and np.all(np.isfinite(expected)):
            per_output[name] = float("inf")
        samples = max(samples, int(expected.shape[0]) if expected.ndim else 1)
    agreement = None
    if classify_output is not None:
        agreement = float(np.mean(reference[classify_output].argmax(-1) == candidate[classify_output].argmax(-1)))
    return ParityResult(
        reference=reference_name,
        max_abs_diff=max(per_output.values()),
        tolerance=tolerance,
        samples=samples,
        per_output=per_output,
        top1_agreement=agreement,
    )
