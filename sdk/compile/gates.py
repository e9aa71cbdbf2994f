"""The task-metric gate for reduced-precision artifacts (fp16, int8).

fp32 artifacts must reproduce the source number for number (``parity.check_parity``, max |diff|). Lower precisions
cannot, so they must keep the task metric instead: accuracy within a drop, RMSE within a relative increase, or the
mean cosine similarity of embeddings above a floor. Both kinds of result are written into the manifest's ``parity``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from typing import Protocol

import numpy as np

from sdk._record import record
from sdk.artifacts.manifest import Parity
from sdk.compile.recipe import QualityGate
from sdk.errors import ParityFailure


class GateResult(Protocol):
    """What the artifact writer needs from any gate's result."""

    @property
    def passed(self) -> bool: ...

    def to_manifest(self) -> Parity: ...

    def raise_if_failed(self, artifact: str) -> None: ...

    def summary(self) -> str: ...


def mean_cosine(reference: np.ndarray, candidate: np.ndarray) -> tuple[float, float]:
    """(mean, min) cosine similarity between matching rows of two [N, D] arrays."""
    ref = reference.reshape(len(reference), -1).astype(np.float64)
    got = candidate.reshape(len(candidate), -1).astype(np.float64)
    norms = np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1)
    cos = (ref * got).sum(axis=1) / np.maximum(norms, 1e-12)
    return float(cos.mean()), float(cos.min())


@record
class QualityResult:
    """How a reduced-precision artifact scored against the fp32 source on the gate's metric."""

    reference: str
    gate: QualityGate
    source_value: float
    artifact_value: float
    samples: int
    extra: Mapping[str, float] = field(default_factory=dict)

    @property
    def change(self) -> float:
        """The number compared with the bound: drop, relative increase, or the value itself (floor)."""
        if self.gate.max_drop is not None:
            return self.source_value - self.artifact_value
        if self.gate.max_relative_increase is not None:
            return (self.artifact_value - self.source_value) / max(abs(self.source_value), 1e-12)
        return self.artifact_value

    @property
    def bound(self) -> float:
        gate = self.gate
        return float(next(b for b in (gate.max_drop, gate.max_relative_increase, gate.minimum) if b is not None))

    @property
    def metric(self) -> str:
        if self.gate.max_drop is not None:
            return f"{self.gate.metric}_drop"
        if self.gate.max_relative_increase is not None:
            return f"{self.gate.metric}_relative_increase"
        return f"mean_{self.gate.metric}"

    @property
    def passed(self) -> bool:
        if not np.isfinite(self.artifact_value):
            return False
        if self.gate.minimum is not None:
            return self.change >= self.bound
        return self.change <= self.bound

    def summary(self) -> str:
        relation = ">=" if self.gate.minimum is not None else "<="
        return (
            f"{self.gate.metric} {self.artifact_value:.4f} vs source {self.source_value:.4f} "
            f"({self.metric} {self.change:.4g}, must be {relation} {self.bound:g})"
        )

    def to_manifest(self) -> Parity:
        extra = {f"{self.gate.metric}.source": self.source_value, f"{self.gate.metric}.artifact": self.artifact_value}
        extra.update(self.extra)
        return Parity(
            reference=self.reference,
            metric=self.metric,
            value=float(self.change),
            tolerance=self.bound,
            passed=self.passed,
            samples=self.samples,
            extra=extra,
        )

    def raise_if_failed(self, artifact: str) -> None:
        if not self.passed:
            raise ParityFailure(
                f"{artifact} failed the quality gate against {self.reference}: {self.summary()} "
                f"on {self.samples} held-out samples",
                hint="the artifact was not written; drop this precision, or pass --allow-degraded REASON knowingly",
            )


def check_quality(
    gate: QualityGate,
    *,
    reference_name: str,
    source_outputs: Mapping[str, np.ndarray],
    artifact_outputs: Mapping[str, np.ndarray],
    source_scores: Mapping[str, float],
    artifact_scores: Mapping[str, float],
    samples: int,
) -> QualityResult:
    """Compare a reduced-precision artifact with the source on the gate's metric; max |diff| is reported beside it."""
    extra: dict[str, float] = {}
    for name, expected in source_outputs.items():
        diff = np.abs(artifact_outputs[name].astype(np.float64) - expected.astype(np.float64))
        extra[f"max_abs_diff.{name}"] = float(diff.max()) if diff.size else 0.0
    if gate.metric == "cosine":
        assert gate.output is not None
        source_value = 1.0
        artifact_value, worst = mean_cosine(source_outputs[gate.output], artifact_outputs[gate.output])
        extra["min_cosine"] = worst
    else:
        if gate.metric not in source_scores:
            raise ParityFailure(
                f"the quality gate needs the metric {gate.metric!r}, which the evaluation does not report "
                f"(it reports: {', '.join(source_scores) or 'nothing'})"
            )
        source_value = float(source_scores[gate.metric])
        artifact_value = float(artifact_scores.get(gate.metric, float("nan")))
    for key, value in artifact_scores.items():
        if key != gate.metric:
            extra[f"{key}.artifact"] = float(value)
    return QualityResult(reference_name, gate, source_value, artifact_value, samples, extra)
