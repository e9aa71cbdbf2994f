"""The seam between the inference core and an engine (ONNX Runtime, OpenVINO; a TensorRT engine on a GPU)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import numpy as np


class Backend(Protocol):
    """A loaded model in one engine. Inputs reach ``run`` already validated against the manifest."""

    name: str
    version: str
    # The execution providers (or devices) the engine really uses, best first; not merely what was asked for.
    providers: tuple[str, ...]
    notes: tuple[str, ...]

    def signature(self) -> tuple[dict[str, tuple[str, int]], dict[str, tuple[str, int]]]:
        """(inputs, outputs) as name -> (numpy dtype name, rank), as the engine sees the model."""
        ...

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    def close(self) -> None: ...


def first_line(exc: BaseException) -> str:
    """An engine's error message, first line only (engines append stack traces and source locations)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
