"""What a routed prediction returns (`Result`), and what its inputs weigh on the wire (the router's payload size)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from sdk._record import record
from sdk.artifacts.manifest import Manifest
from sdk.client.decision import Decision, Route
from sdk.client.raw import is_raw, raw_bytes
from sdk.runtime import RuntimeInfo
from sdk.runtime.processors import Processed


@record(frozen=False)
class Result:
    """A prediction: outputs by name, and the Decision that says where it ran and why.

    For raw inputs (text, images) ``outputs`` are the processed answers (``label`` and ``score`` for a classifier,
    the normalized embedding...), the same names from either route, and ``processed`` carries them with the report
    (``truncated``, ``notes``; ``labels`` per item); ``decision.processed_on`` says where they were processed.
    Tensor calls are unchanged (``processed`` is None).

    ``runtime`` says how this device ran it (runtime, providers, the verified artifact); None when the cloud
    answered. ``manifest`` is this device's manifest of the model: the one that ran, or for a cloud answer the local
    copy's when there is one (read, not loaded; the protocol carries no labels), else None."""

    outputs: dict[str, np.ndarray]
    decision: Decision
    model: str
    runtime: RuntimeInfo | None = None
    manifest: Manifest | None = None
    processed: Processed | None = None

    def __getitem__(self, name: str) -> np.ndarray:
        return self.outputs[name]

    @property
    def route(self) -> Route:
        assert self.decision.route is not None
        return self.decision.route

    @property
    def labels(self) -> tuple[str, ...] | None:
        """The class labels of the outputs' last axis, from ``manifest``; None when unknown."""
        return self.manifest.labels if self.manifest is not None else None


def payload_bytes(inputs: Any) -> int:
    """The bytes ``inputs`` weigh on the wire: raw items as sent (UTF-8 text, image bytes), tensors by size."""
    if type(inputs) is dict and all(type(v) is np.ndarray for v in inputs.values()):
        return sum(v.nbytes for v in inputs.values())  # the common call: no ABC checks
    if is_raw(inputs):
        return raw_bytes(inputs)
    if isinstance(inputs, np.ndarray):
        return int(inputs.nbytes)
    if isinstance(inputs, Mapping):
        return sum(int(v.nbytes) if isinstance(v, np.ndarray) else int(np.asarray(v).nbytes) for v in inputs.values())
    return int(np.asarray(inputs).nbytes)
