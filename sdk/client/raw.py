"""Raw inputs in a client call: text (a string or a list), images (PNG/JPEG bytes, or paths), instead of tensors.

Where they are processed (the Decision's ``processed_on``): on this device by the edge route, with the artifact's
own processors (``LoadedModel.process``); by the server for the cloud route, which sends the raw items as one OIP
BYTES tensor and gets the processed answers back. A public text call goes to the cloud as text, not as token
tensors, by the bytes each way: a sentence is tens of bytes of UTF-8, its tokens hundreds to thousands (8 bytes per
token per model input, padded: MiniLM at 128 tokens is 3 KiB a sentence); an 8x8 PNG is ~125 bytes against 256 for
its float32 pixels. The answers (labels and scores, an embedding) are the same bytes either way.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sdk.client.decision import Decision, Route
from sdk.errors import InvalidInput
from sdk.runtime.processors import Processed

DEVICE = "device"
CLOUD = "cloud"
_RAW_TYPES = (str, bytes, bytearray, memoryview, os.PathLike)


def is_raw(inputs: Any) -> bool:
    """Whether a call's ``inputs`` are raw (text, image bytes or paths, or a list holding any) rather than tensors
    (a dict of arrays, an array, a nested list of numbers)."""
    if type(inputs) is dict:  # the common call, answered before the ABC check of os.PathLike (3 times per call)
        return False
    if isinstance(inputs, _RAW_TYPES):
        return True
    if isinstance(inputs, np.ndarray):
        return inputs.dtype.kind in "OSU"
    return isinstance(inputs, (list, tuple)) and any(isinstance(item, _RAW_TYPES) for item in inputs)


def wire_items(inputs: Any, model: str) -> list[bytes]:
    """Raw inputs as the bytes a server is sent: text as UTF-8, image bytes as they are, a path's file read here
    (a server is never sent a path). InvalidInput names the item that is neither."""
    items = inputs.reshape(-1).tolist() if isinstance(inputs, np.ndarray) else inputs
    if isinstance(items, _RAW_TYPES):
        items = [items]
    if not items:
        raise InvalidInput(f"input of {model} got an empty list; send at least one item")
    out = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            out.append(item.encode("utf-8"))
        elif isinstance(item, (bytes, bytearray, memoryview)):
            out.append(bytes(item))
        elif isinstance(item, os.PathLike):
            try:
                out.append(Path(item).read_bytes())
            except OSError as exc:
                raise InvalidInput(f"input of {model}: item {i} ({os.fspath(item)}) cannot be read: {exc}") from exc
        else:
            raise InvalidInput(
                f"input of {model}: item {i} is {type(item).__name__}; a list of raw inputs holds strings, or image "
                "bytes or paths, only (send tensors as a dict of arrays instead)"
            )
    return out


def raw_bytes(inputs: Any) -> int:
    """What raw inputs weigh on the wire (the router's payload size): UTF-8 text, image bytes, file sizes."""
    items = inputs.reshape(-1).tolist() if isinstance(inputs, np.ndarray) else inputs
    if isinstance(items, _RAW_TYPES):
        items = [items]
    total = 0
    for item in items:
        if isinstance(item, str):
            total += len(item.encode("utf-8"))
        elif isinstance(item, (bytes, bytearray, memoryview)):
            total += len(item)
        elif isinstance(item, os.PathLike):
            with contextlib.suppress(OSError):  # the route that reads it reports it
                total += os.stat(item).st_size
    return total


def from_response(outputs: Mapping[str, np.ndarray], parameters: Mapping[str, Any]) -> Processed:
    """The server's processed answers as the device's ``Processed`` (BYTES outputs, the labels, as str); its
    ``tensors`` are empty, as the model's own outputs stayed on the server."""
    answers = {
        name: (np.vectorize(_text, otypes=[object])(value) if value.dtype == object and value.size else value)
        for name, value in outputs.items()
    }
    count = len(next(iter(answers.values()))) if answers else 0
    truncated = parameters.get("truncated")
    inputs = {}
    if isinstance(truncated, list) and len(truncated) == count:
        inputs["truncated"] = np.asarray(truncated, dtype=bool)
    notes = parameters.get("notes")
    return Processed(
        outputs=answers,
        inputs=inputs,
        notes=tuple(str(n) for n in notes) if isinstance(notes, list) else (),
    )


def _text(value: Any) -> Any:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def answers(outputs: dict[str, np.ndarray] | Processed) -> dict[str, np.ndarray]:
    """A route's answer as ``Result.outputs``: tensors as they are, raw inputs' processed answers by name."""
    return outputs.outputs if isinstance(outputs, Processed) else outputs


def record_processing(
    outputs: dict[str, np.ndarray] | Processed, decision: Decision, route: Route, sent: int
) -> Processed | None:
    """Raw inputs' answers, with the Decision told where they were processed and why (None for tensors)."""
    if not isinstance(outputs, Processed):
        return None
    if route is Route.LOCAL:
        decision.processed_on = DEVICE
        decision.processing = "raw input processed on this device by the artifact's processors"
    elif outputs.tensors:  # a series: scaled here, its window sent as the model's tensor, answers decoded here
        decision.processed_on = DEVICE
        decision.processing = (
            "raw series scaled on this device and sent as the model's FP32 window, the answer decoded here: a "
            "window is numbers either way, the same bytes raw or as its tensor"
        )
    else:
        decision.processed_on = CLOUD
        decision.processing = (
            f"raw input sent as {sent} bytes (one OIP BYTES tensor) and processed by the server, which runs the "
            "same processors: text and image files are fewer bytes than their tensors"
        )
    return outputs
