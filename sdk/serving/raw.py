"""Raw inputs on the wire: a request whose one input is an OIP ``BYTES`` tensor, for a model whose artifact declares a
text or image processor, is processed here with the artifact's own processors (``sdk.runtime.processors``), the same
code the edge runs, and answered with the processed outputs (``label`` as BYTES and ``score`` for a classifier, the
normalized embedding...).

Text travels as UTF-8 strings, in JSON ``data`` or as binary data (Triton's layout: each element a 4-byte
little-endian length, then its bytes). Images travel as their PNG/JPEG bytes as binary data, or base64 in JSON
(JSON strings cannot carry arbitrary bytes). Only bytes from the wire reach the image processor, never a path.

Texts of one batch are run by length (``process_by_length``): tokenized once, sorted by token count and split
wherever padding a group to its own longest text would waste more than ``MAX_PAD_WASTE`` of its cells, so that a
batch of 10-token sentences never pays for the one 200-token paragraph queued beside them. The attention mask makes
each row's answer independent of the padding, so the answers equal those of each text run alone.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sdk.errors import InvalidInput
from sdk.protocol.codec import InferRequest
from sdk.runtime import LoadedModel
from sdk.runtime.processors import Processed

RawItems = list[bytes]

# The share of a group's cells (rows x its longest) that may be padding before the group is split. MiniLM int8 on the
# held-out sentences, batches of 16 (issue #20 item 3): 10% cost ~7% less CPU per text than 25% (more, narrower runs
# pay less than the padding they save), and 0-5% no less than 10%.
MAX_PAD_WASTE = 0.10


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


def process(model: LoadedModel, items: RawItems, size: int, *, by_length: bool = True) -> Processed:
    """``items`` processed and run at most ``size`` at a time (the server's max_batch_size), joined in order; texts
    grouped by length (``process_by_length``) unless ``by_length`` is False."""
    grouped = by_length and groupable(model)
    chunks = [items[start : start + size] for start in range(0, len(items), size)]
    parts = [process_by_length(model, chunk) if grouped else model.process(chunk) for chunk in chunks]
    return Processed.join(parts)


def groupable(model: LoadedModel) -> bool:
    """Whether ``model``'s text can run in length groups: its inputs are [batch, sequence] with both dynamic (each
    group gets its own width) and its outputs keep no sequence dimension (groups of any width join row by row)."""
    if model.processors is None or model.processors.kind != "text":
        return False
    if any(len(s.shape) != 2 or s.shape[1] != -1 for s in model.manifest.inputs):
        return False
    return all(-1 not in s.shape[1:] for s in model.manifest.outputs)


def length_groups(lengths: Sequence[int] | np.ndarray, waste: float = MAX_PAD_WASTE) -> list[np.ndarray]:
    """Row indices by group, shortest texts first: sorted by length, a new group started wherever adding the next
    (longer) row would make padding more than ``waste`` of the group's cells. One group when all lengths are close."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    groups: list[np.ndarray] = []
    current: list[int] = []
    tokens = 0
    for index in order.tolist():
        width = int(lengths[index])
        cells = (len(current) + 1) * width
        if current and cells - (tokens + width) > waste * cells:
            groups.append(np.array(current, dtype=np.intp))
            current, tokens = [], 0
        current.append(index)
        tokens += width
    groups.append(np.array(current, dtype=np.intp))
    return groups


def process_by_length(model: LoadedModel, items: RawItems, waste: float = MAX_PAD_WASTE) -> Processed:
    """``items`` (texts) tokenized once, run in groups of similar length each padded to its own longest (never to
    the tokenizer's max_length), and answered in their order: one model run per group."""
    processors = model.processors
    assert processors is not None
    encoded = processors.encode(items)
    lengths = encoded.report["length"]
    feeds = model.validator(encoded.feeds)
    groups = length_groups(lengths, waste)
    parts = []
    for rows in groups:
        width = int(lengths[rows].max())
        piece = {name: np.ascontiguousarray(array[rows, :width]) for name, array in feeds.items()}
        parts.append(model.run_validated(piece))
    if any(o.ndim == 0 or o.shape[0] != len(rows) for rows, part in zip(groups, parts) for o in part.values()):
        return model.process(items)  # the outputs lost the batch dimension: run as the model says (callers check)
    tensors = {}
    for name, first in parts[0].items():
        joined = np.empty((len(lengths), *first.shape[1:]), dtype=first.dtype)
        for rows, part in zip(groups, parts):
            joined[rows] = part[name]
        tensors[name] = joined
    return processors.decode(tensors, encoded)


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
