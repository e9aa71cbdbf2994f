"""Raw inputs on the wire: a request whose one input is an OIP ``BYTES`` tensor, for a model whose artifact declares a
text or image processor, is processed here with the artifact's own processors (``sdk.runtime.processors``), the same
code the edge runs, and answered with the processed outputs (``label`` as BYTES and ``score`` for a classifier, the
normalized embedding...).

Text travels as UTF-8 strings, in JSON ``data`` or as binary data (Triton's layout: each element a 4-byte
little-endian length, then its bytes). Images travel as their PNG/JPEG bytes as binary data, or base64 in JSON
(JSON strings cannot carry arbitrary bytes). Only bytes from the wire reach the image processor, never a path.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

import numpy as np

from sdk.errors import InvalidInput
from sdk.protocol.codec import InferRequest
from sdk.runtime import LoadedModel
from sdk.runtime.processors import Processed

RawItems = list[bytes]


def wire_input(model: LoadedModel) -> str | None:
    """The raw input ``model`` takes on the wire (``text`` or ``image``), or None."""
    return model.processors.wire_input if model.processors is not None else None


def raw_items(model: LoadedModel, request: InferRequest) -> RawItems | None:
    """The raw items of ``request`` when it sends raw input (one BYTES tensor) to a model that takes it; None for a
    tensor request. A BYTES tensor with a model that takes none is left to the tensor checks (which name the
    datatype the model takes)."""
    kind = wire_input(model)
    bytes_inputs = [name for name, array in request.inputs.items() if array.dtype == object]
    if kind is None or not bytes_inputs:
        return None
    tensors = {s.name for s in model.manifest.inputs if s.dtype == "object"}
    if tensors:  # the model itself takes a BYTES tensor: that is what was sent
        return None
    if len(request.inputs) != 1:
        raise InvalidInput(
            f"input '{bytes_inputs[0]}' is BYTES, raw {kind} for {model.manifest.ref}: send it as the only input "
            f"(got {', '.join(request.inputs)})"
        )
    name = bytes_inputs[0]
    values = request.inputs[name].reshape(-1).tolist()
    if not values:
        raise InvalidInput(f"input '{name}' holds no {kind}; send at least one item")
    binary = "binary_data_size" in request.input_parameters.get(name, {})
    if kind == "image" and not binary:
        return [_base64(name, i, value) for i, value in enumerate(values)]
    return [bytes(value) for value in values]


def _base64(name: str, index: int, value: bytes) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(
            f"input '{name}': image {index} in JSON must be base64 ({exc}); or send the PNG/JPEG bytes as binary data"
        ) from exc


def known_outputs(model: LoadedModel) -> tuple[str, ...]:
    """The outputs a raw request may ask for: the processed answers, else the model's own outputs."""
    assert model.processors is not None
    return model.processors.output_names or tuple(s.name for s in model.manifest.outputs)


def process(model: LoadedModel, items: RawItems, size: int) -> Processed:
    """``items`` processed and run at most ``size`` at a time (the server's max_batch_size), joined in order."""
    parts = [model.process(items[start : start + size]) for start in range(0, len(items), size)]
    return Processed.join(parts)


def answer(processed: Processed) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The response's outputs (the processed answers) and parameters: per item whether its text was truncated, and
    the notes that say so, when any was."""
    parameters: dict[str, Any] = {"processed": True}
    if processed.notes:
        parameters["truncated"] = processed.truncated
        parameters["notes"] = list(processed.notes)
    return dict(processed.outputs), parameters


def metadata(model: LoadedModel) -> Mapping[str, Any] | None:
    """The raw input a model's metadata advertises (``parameters.raw_input``), or None."""
    kind = wire_input(model)
    if kind is None:
        return None
    return {
        "name": kind,
        "datatype": "BYTES",
        "shape": [-1],
        "kind": kind,
        "json": "utf-8 text" if kind == "text" else "base64",
        "outputs": list(known_outputs(model)),
    }
