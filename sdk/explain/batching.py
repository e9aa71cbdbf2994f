"""Runtime calls of an explanation: rows of every item stacked into few calls, chunked when the manifest caps the
batch dimension, the deadline checked before each call, and every call and row counted."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from sdk.runtime.model import LoadedModel

Forward = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]
Join = Callable[[Sequence[Mapping[str, np.ndarray]]], dict[str, np.ndarray]]


class CountingForward:
    """A forward that counts: ``calls``, ``rows`` and each call's ``batches`` (its row count). Tests wrap the
    model's forward in one to assert an explanation's budget."""

    def __init__(self, forward: Forward) -> None:
        self.forward = forward
        self.batches: list[int] = []

    @property
    def calls(self) -> int:
        return len(self.batches)

    @property
    def rows(self) -> int:
        return sum(self.batches)

    def __call__(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.batches.append(len(next(iter(feeds.values()))))
        return self.forward(feeds)


class Late(Exception):
    """The deadline passed before a call (internal: ``explain`` decides between partial and DeadlineExceeded)."""


def batch_cap(model: LoadedModel) -> int | None:
    """The most rows one call may carry: the smallest bound the manifest sets on an input's batch dimension."""
    caps = []
    for spec in model.manifest.inputs:
        if spec.max_shape is None or not spec.shape or spec.shape[0] != -1:
            continue
        names = spec.dim_names or (None,) * len(spec.shape)
        if (names[0] in (None, "batch")) and spec.max_shape[0] > 0:
            caps.append(spec.max_shape[0])
    return min(caps) if caps else None


def calls_for(rows: int, cap: int | None) -> int:
    return 0 if rows == 0 else (1 if cap is None else math.ceil(rows / cap))


def _concatenate(blocks: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}


class Runner:
    def __init__(self, forward: Forward, cap: int | None, deadline_at: float | None, join: Join = _concatenate) -> None:
        self.forward = forward
        self.join = join
        self.cap = cap
        self.deadline_at = deadline_at
        self.calls = 0
        self.rows = 0

    def run(self, blocks: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """The model's outputs for the blocks' rows, stacked in order (one call, or one per cap-sized chunk)."""
        feeds = self.join(blocks)
        total = len(next(iter(feeds.values())))
        size = total if self.cap is None else self.cap
        parts = []
        for start in range(0, total, size):
            if self.deadline_at is not None and time.perf_counter() >= self.deadline_at:
                raise Late()
            chunk = {k: v[start : start + size] for k, v in feeds.items()}
            parts.append(self.forward(chunk))
            self.calls += 1
            self.rows += len(next(iter(chunk.values())))
        return {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in parts[0]}
