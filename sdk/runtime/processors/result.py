"""What the processors hand on: the model's feeds with a report on each raw item (``Encoded``), and the answers
(``Processed``), both batched and made of named arrays so that a server can put them on the wire as tensors."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Encoded:
    """Raw items turned into the model's feeds. ``report`` says per item what the input processor did (text:
    ``tokens`` before truncation, ``length`` fed, ``truncated``); ``notes`` say it in words (each truncation)."""

    feeds: dict[str, np.ndarray]
    count: int
    report: dict[str, np.ndarray] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Processed:
    """Answers for raw inputs, one row per item.

    ``outputs``: the answers by name: ``label`` (str) and ``score`` [batch, top_k] for a classifier, best first; the
    (normalized) embedding; the forecast in the data's own units. ``inputs``: ``Encoded.report`` (text: ``tokens``,
    ``length``, ``truncated``). ``tensors``: the model's own outputs, as it returned them. ``notes``: truncations."""

    outputs: dict[str, np.ndarray]
    inputs: dict[str, np.ndarray] = field(default_factory=dict)
    tensors: dict[str, np.ndarray] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def __getitem__(self, name: str) -> np.ndarray:
        return self.outputs[name]

    def __len__(self) -> int:
        return len(next(iter(self.outputs.values()))) if self.outputs else 0

    @property
    def labels(self) -> list[str] | None:
        """Each item's best class (a classifier's answer); None for other models."""
        if "label" not in self.outputs:
            return None
        return [str(row[0]) for row in self.outputs["label"]]

    @property
    def truncated(self) -> list[bool]:
        """Per item: whether its text was cut to the tokenizer's max length (all False for other inputs)."""
        flags = self.inputs.get("truncated")
        return [bool(v) for v in flags] if flags is not None else [False] * len(self)

    def describe(self, item: int, top: int = 1) -> str:
        """One item as a line: ``7 (0.99)`` for a classifier (``top`` classes), else its first output's shape."""
        if "label" in self.outputs:
            labels, scores = self.outputs["label"][item], self.outputs["score"][item]
            return " · ".join(f"{labels[j]} ({scores[j]:.2f})" for j in range(min(max(1, top), len(labels))))
        name, value = next(iter(self.outputs.items()))
        return f"{name} {value.dtype} {list(value[item].shape)}"
