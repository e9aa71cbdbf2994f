"""Series -> the model's window tensor: one window (a flat list of numbers, oldest first) or a list of windows, each
exactly ``window`` long and finite, fed as ``(value - mean) / std``.

A numeric input is raw only when it has fewer axes than the model's tensor (a window [20] or windows [N, 20] for a
[batch, 20, 1] input): a tensor of the model's own rank is passed through as before.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sdk.artifacts.manifest import TensorSpec
from sdk.artifacts.processors_schema import SeriesSpec
from sdk.errors import InvalidInput
from sdk.runtime.processors.result import Encoded

KIND = "series"


class SeriesEncoder:
    kind = KIND

    def __init__(self, spec: SeriesSpec, tensor: TensorSpec, *, model: str) -> None:
        self.spec = spec
        self.model = model
        self._rank = len(tensor.shape)

    def takes(self, raw: Any) -> bool:
        if isinstance(raw, np.ndarray):
            return raw.ndim in (1, 2) and raw.ndim < self._rank
        if not isinstance(raw, (list, tuple)) or not raw:
            return False
        depth = 2 if isinstance(raw[0], (list, tuple, np.ndarray)) else 1
        return depth < self._rank

    def prepare(self) -> None:
        return None

    def encode(self, raw: Any) -> Encoded:
        what = f"input '{self.spec.input}' of {self.model}"
        try:
            values = np.asarray(raw, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(
                f"{what} takes a series of numbers (a window of {self.spec.window}, oldest first, or a list of "
                f"windows): {exc}"
            ) from exc
        windows = values[None] if values.ndim == 1 else values
        if windows.ndim != 2 or windows.shape[0] == 0:
            raise InvalidInput(f"{what} takes a window of {self.spec.window} numbers or a list of such windows")
        if windows.shape[1] != self.spec.window:
            raise InvalidInput(
                f"{what}: each window must hold exactly {self.spec.window} values (oldest first), got "
                f"{windows.shape[1]}"
            )
        bad = ~np.isfinite(windows)
        if bad.any():
            row, col = (int(v) for v in np.argwhere(bad)[0])
            raise InvalidInput(f"{what}: window {row} holds NaN or infinity at position {col}; send finite values")
        scaled = ((windows - self.spec.mean) / self.spec.std).astype(np.float32)
        if self._rank == 3:
            scaled = scaled[:, :, None]
        return Encoded(feeds={self.spec.input: np.ascontiguousarray(scaled)}, count=len(scaled))
