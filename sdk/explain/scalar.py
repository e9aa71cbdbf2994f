"""The explained scalar: what one number per model row the attributions account for, from the output processor.

- classes: the target class's probability (the spec's activation applied: softmax for logits, sigmoid);
- embedding: the cosine between the row's embedding and a reference (the ``compare`` input's embedding, or the
  item's own unperturbed one);
- forecast: the forecast in the data's units (``tensor * std + mean``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from sdk._record import record
from sdk.artifacts.processors_schema import OutputSpec
from sdk.errors import InvalidInput, RuntimeFault
from sdk.explain.options import ExplainOptions
from sdk.runtime.model import LoadedModel
from sdk.runtime.processors.outputs import softmax


@record(frozen=False)
class Target:
    """One item's explained scalar: ``values(outputs)`` for rows of model outputs, and its description."""

    describe: dict[str, Any]
    output: str
    kind: str
    index: int = 0
    reference: np.ndarray | None = None
    spec: OutputSpec | None = None

    def values(self, outputs: Mapping[str, np.ndarray]) -> np.ndarray:
        out = _output(outputs, self.output)
        if self.kind == "class":
            return _activate(out, self.spec)[:, self.index]
        if self.kind == "similarity":
            assert self.reference is not None
            return _cosine(out, self.reference)
        assert self.spec is not None
        return out[:, self.index] * self.spec.std + self.spec.mean


def _output(outputs: Mapping[str, np.ndarray], name: str) -> np.ndarray:
    if name not in outputs:
        raise RuntimeFault(f"the model returned no output '{name}' (it returned {sorted(outputs)})")
    value = np.asarray(outputs[name], dtype=np.float64)
    return value.reshape(len(value), int(np.prod(value.shape[1:], dtype=np.int64)))


def _activate(scores: np.ndarray, spec: OutputSpec | None) -> np.ndarray:
    activation = spec.activation if spec is not None else "none"
    if activation == "softmax":
        return softmax(scores)
    if activation == "sigmoid":
        return 1.0 / (1.0 + np.exp(-scores))
    return scores


def _cosine(rows: np.ndarray, reference: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1) * np.linalg.norm(reference)
    return (rows @ reference) / np.maximum(norms, np.finfo(np.float64).tiny)


class Scalar:
    """Checks the options against the model's output before any call, then builds each item's ``Target``."""

    def __init__(self, model: LoadedModel, options: ExplainOptions) -> None:
        processors = model.processors
        spec = processors.spec.output if processors is not None else None
        if spec is None:
            raise InvalidInput(
                f"{model.manifest.ref} cannot be explained: its manifest declares no output processor, so what to "
                "explain is unknown; declare processors.output (classes, embedding or forecast) in its manifest"
            )
        self.spec = spec
        self.labels = list(model.manifest.labels or ())
        self.kind = {"classes": "class", "embedding": "similarity", "forecast": "forecast"}[spec.kind]
        self.width = _width(model, spec.output)
        target, compare = options.target, options.compare
        self.index: int | None = None
        if self.kind == "class":
            if compare is not None:
                raise InvalidInput(
                    f"parameter 'compare' applies to embedding models; {model.manifest.ref} is a classifier "
                    "(use 'target' to pick the class)"
                )
            if target is not None:
                self.index = self._class_index(target, model.manifest.ref)
        elif self.kind == "similarity":
            if target is not None:
                raise InvalidInput(f"parameter 'target' does not apply to {model.manifest.ref}, an embedding model")
        else:
            if compare is not None:
                raise InvalidInput(f"parameter 'compare' does not apply to {model.manifest.ref}, a forecaster")
            if target is not None:
                if isinstance(target, str) or self.width is None or not 0 <= target < self.width:
                    raise InvalidInput(
                        f"parameter 'target' {target!r} is out of range: {model.manifest.ref}'s forecast "
                        f"'{spec.output}' has {self.width or 'one'} value(s) per row"
                    )
                self.index = target

    def _class_index(self, target: int | str, ref: str) -> int:
        count = len(self.labels) or self.width or 0
        if isinstance(target, str):
            if target not in self.labels:
                shown = ", ".join(self.labels[:20]) + (" ..." if len(self.labels) > 20 else "")
                raise InvalidInput(f"parameter 'target' {target!r} is not a label of {ref} (labels: {shown})")
            return self.labels.index(target)
        if target >= count:
            raise InvalidInput(
                f"parameter 'target' {target} is out of range: {ref} has {count} classes (0-{count - 1})"
            )
        return target

    def targets(self, full: Mapping[str, np.ndarray], compare: Mapping[str, np.ndarray] | None) -> list[Target]:
        """Each item's target, given the model's outputs for the unperturbed items (one row each) and for the
        ``compare`` input (one row)."""
        out = _output(full, self.spec.output)
        made = []
        for row in out:
            if self.kind == "class":
                index = self.index if self.index is not None else int(np.argmax(_activate(row[None], self.spec)[0]))
                label = self.labels[index] if index < len(self.labels) else str(index)
                made.append(
                    Target(
                        {"kind": "class", "index": index, "label": label},
                        self.spec.output,
                        "class",
                        index,
                        None,
                        self.spec,
                    )
                )
            elif self.kind == "similarity":
                reference = _output(compare, self.spec.output)[0] if compare is not None else row
                to = "compare" if compare is not None else "self"
                made.append(Target({"kind": "similarity", "to": to}, self.spec.output, "similarity", 0, reference))
            else:
                describe: dict[str, Any] = {"kind": "forecast", "output": self.spec.output}
                if self.index is not None:
                    describe["index"] = self.index
                made.append(Target(describe, self.spec.output, "forecast", self.index or 0, None, self.spec))
        return made


def _width(model: LoadedModel, name: str) -> int | None:
    for spec in model.manifest.outputs:
        if spec.name == name:
            size = int(np.prod([d for d in spec.shape[1:]])) if all(d > 0 for d in spec.shape[1:]) else None
            return size
    return None
