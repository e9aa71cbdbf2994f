"""What the processors hand on: the model's feeds with a report on each raw item (``Encoded``), and the answers
(``Processed``), both batched and made of named arrays so that a server can put them on the wire as tensors."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import field

import numpy as np

from sdk._record import record

_NOTE_ITEM = re.compile(r"^(\w+) (\d+): ")  # "text 3: ..." names the item it is about


@record
class Encoded:
    """Raw items turned into the model's feeds. ``report`` says per item what the input processor did (text:
    ``tokens`` before truncation, ``length`` fed, ``truncated``); ``notes`` say it in words (each truncation)."""

    feeds: dict[str, np.ndarray]
    count: int
    report: dict[str, np.ndarray] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


@record
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

    def split(self, counts: Sequence[int]) -> list[Processed]:
        """Consecutive pieces of ``counts`` rows each (a server's merged batch handed back per request); each piece's
        notes are its own, renumbered from 0."""
        pieces, start = [], 0
        for count in counts:
            end = start + count
            notes = []
            for note in self.notes:
                found = _NOTE_ITEM.match(note)
                if found is not None and start <= int(found.group(2)) < end:
                    notes.append(f"{found.group(1)} {int(found.group(2)) - start}: {note[found.end() :]}")
            pieces.append(
                Processed(
                    outputs={k: v[start:end] for k, v in self.outputs.items()},
                    inputs={k: v[start:end] for k, v in self.inputs.items()},
                    tensors={k: v[start:end] for k, v in self.tensors.items()},
                    notes=tuple(notes),
                )
            )
            start = end
        return pieces

    @staticmethod
    def join(parts: Sequence[Processed]) -> Processed:
        """Consecutive pieces back as one (the inverse of ``split``: notes renumbered by their offset)."""
        if len(parts) == 1:
            return parts[0]
        notes: list[str] = []
        offset = 0
        for part in parts:
            for note in part.notes:
                found = _NOTE_ITEM.match(note)
                if found is None:
                    notes.append(note)
                else:
                    notes.append(f"{found.group(1)} {int(found.group(2)) + offset}: {note[found.end() :]}")
            offset += len(part)

        def cat(name: str) -> dict[str, np.ndarray]:
            first: dict[str, np.ndarray] = getattr(parts[0], name)
            return {k: np.concatenate([getattr(p, name)[k] for p in parts], axis=0) for k in first}

        return Processed(outputs=cat("outputs"), inputs=cat("inputs"), tensors=cat("tensors"), notes=tuple(notes))

    def describe(self, item: int, top: int = 1) -> str:
        """One item as a line: ``7 (0.99)`` for a classifier (``top`` classes), else its first output's shape."""
        if "label" in self.outputs:
            labels, scores = self.outputs["label"][item], self.outputs["score"][item]
            return " · ".join(f"{labels[j]} ({scores[j]:.2f})" for j in range(min(max(1, top), len(labels))))
        name, value = next(iter(self.outputs.items()))
        return f"{name} {value.dtype} {list(value[item].shape)}"
