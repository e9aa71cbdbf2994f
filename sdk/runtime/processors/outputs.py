"""The model's output tensors -> answers: top-k labels with scores, a unit-length embedding, a forecast in the data's
own units (``tensor * std + mean``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from sdk.artifacts.processors_schema import OutputSpec
from sdk.errors import RuntimeFault


def softmax(x: np.ndarray) -> np.ndarray:
    shifted = np.exp(x - x.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


class OutputDecoder:
    def __init__(self, spec: OutputSpec, labels: Sequence[str] | None) -> None:
        self.spec = spec
        self.labels = np.asarray(list(labels or ()), dtype=object)

    def decode(self, tensors: Mapping[str, np.ndarray], *, top_k: int | None = None) -> dict[str, np.ndarray]:
        spec = self.spec
        if spec.output not in tensors:
            raise RuntimeFault(f"the model returned no output '{spec.output}' (it returned {sorted(tensors)})")
        value = np.asarray(tensors[spec.output])
        if spec.kind == "classes":
            return self._classes(value, top_k or spec.top_k)
        if spec.kind == "embedding":
            if spec.normalize == "l2":
                norms = np.linalg.norm(value, axis=-1, keepdims=True)
                value = value / np.maximum(norms, np.finfo(value.dtype).tiny)
            return {spec.output: value.astype(np.float32, copy=False)}
        return {spec.output: (value * np.float32(spec.std) + np.float32(spec.mean)).astype(np.float32, copy=False)}

    def _classes(self, scores: np.ndarray, k: int) -> dict[str, np.ndarray]:
        if self.spec.activation == "softmax":
            scores = softmax(scores.astype(np.float64))
        elif self.spec.activation == "sigmoid":
            scores = 1.0 / (1.0 + np.exp(-scores.astype(np.float64)))
        k = max(1, min(k, scores.shape[-1]))
        best = np.argsort(-scores, axis=-1, kind="stable")[:, :k]
        return {
            "label": self.labels[best],
            "score": np.take_along_axis(scores, best, axis=-1).astype(np.float32),
        }
