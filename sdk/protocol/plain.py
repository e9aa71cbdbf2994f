"""Messages as clients commonly send and servers commonly answer, on a fast path (issue #20: the client's own cost
per cloud call). Anything unusual returns None and the codec's general path handles it, with its exact error
messages; what this path returns is what the general path would (the same request bytes; the same dtype, shape and
bytes of each output). ``booleans`` says (lazily) whether the message holds a ``true``/``false`` literal, which numpy
would read as a number in JSON data.

``plain_request`` writes a request of numeric arrays (``codec.encode_request``'s bytes); ``plain_response`` reads a
2xx answer framed by Inference-Header-Content-Length or plain JSON (``codec.decode_response``'s result);
``plain_outputs`` reads the outputs of either path."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from sdk.protocol import jsonio
from sdk.protocol.datatypes import BYTES, OIP_TO_NUMPY, numpy_dtype
from sdk.protocol.framing import BINARY_CONTENT_TYPE, HEADER_LENGTH, JSON_CONTENT_TYPE
from sdk.protocol.tensors import HARD_MAX_ELEMENTS, MAX_RANK

_JSON_HEADERS = {"content-type": JSON_CONTENT_TYPE}


def plain_request(inputs: Mapping[str, Any], *, binary: bool) -> tuple[bytes, dict[str, str]] | None:
    """``encode_request(inputs, binary=binary)``'s body and headers, for named numeric arrays in this machine's byte
    order (no BYTES, no object arrays); None for anything else. Binary asks for binary outputs, as there."""
    items: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, array in inputs.items():
        if type(array) is not np.ndarray or type(name) is not str:
            return None
        datatype = _REQUEST_DATATYPES.get(array.dtype)
        if datatype is None:
            return None
        if binary:
            blob = array.tobytes()  # row-major whatever the layout; the dtype is little-endian (_REQUEST_DATATYPES)
            items.append(
                {"name": name, "datatype": datatype, "shape": list(array.shape),
                 "parameters": {"binary_data_size": len(blob)}}
            )  # fmt: skip
            blobs.append(blob)
        else:
            flat = array.reshape(-1) if array.flags.c_contiguous else np.ascontiguousarray(array).reshape(-1)
            items.append({"name": name, "datatype": datatype, "shape": list(array.shape), "data": flat})
    if not items:
        return None
    if not binary:
        return jsonio.dumps({"inputs": items}), dict(_JSON_HEADERS)
    head = jsonio.dumps({"parameters": {"binary_data_output": True}, "inputs": items})
    return b"".join([head, *blobs]), {"content-type": BINARY_CONTENT_TYPE, HEADER_LENGTH: str(len(head))}


def plain_response(body: bytes, header_length: str | None) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    """``decode_response``'s (outputs, meta) for a 2xx answer whose JSON part is ``header_length`` bytes long (None:
    all of it), when it is a plain inference response; None for anything else (an error body, a SageMaker framing,
    JSON that does not parse, unusual outputs), which the general path reads and names."""
    if header_length is None:
        head: bytes | memoryview = body
        blob = None
    else:
        if not (header_length.isascii() and header_length.isdigit()):
            return None
        length = int(header_length)
        if length == 0 or length > len(body):
            return None
        view = memoryview(body)
        head, blob = view[:length], view[length:]
    if not head:
        return None
    try:
        document = jsonio.loads(head)
    except ValueError:
        return None
    if type(document) is not dict or "error" in document:
        return None
    outputs = document.get("outputs")
    if type(outputs) is not list:
        return None
    fast = plain_outputs(outputs, blob, booleans=lambda: _mentions_booleans(head))
    if fast is None:
        return None
    meta = {
        "model_name": document.get("model_name"),
        "model_version": document.get("model_version"),
        "id": document.get("id"),
        "parameters": document.get("parameters") or {},
        "output_parameters": fast[1],
    }
    return fast[0], meta


def _mentions_booleans(head: bytes | memoryview) -> bool:
    data = head if type(head) is bytes else bytes(head)
    return b"true" in data or b"false" in data


def plain_outputs(
    items: list[Any], binary: memoryview | None, *, booleans: Callable[[], bool]
) -> tuple[dict[str, np.ndarray], dict[str, Mapping[str, Any]]] | None:
    """Outputs by name and each one's parameters, for numeric tensors with exact shapes, binary parts that add up,
    and JSON data of numbers that fit; None for anything else."""
    arrays: dict[str, np.ndarray] = {}
    parameters: dict[str, Mapping[str, Any]] = {}
    offset = 0
    json_data = False
    for item in items:
        if type(item) is not dict:
            return None
        name, shape, params = item.get("name"), item.get("shape"), item.get("parameters")
        datatype = item.get("datatype")
        dtype = _PLAIN_DTYPES.get(datatype) if type(datatype) is str else None
        if type(name) is not str or not name or name in parameters or dtype is None or type(shape) is not list:
            return None
        if len(shape) > MAX_RANK:
            return None
        count = 1
        for dim in shape:
            if type(dim) is not int or dim < 0:
                return None
            count *= dim
        if count == 0 or count > HARD_MAX_ELEMENTS:
            return None
        if params is None:
            params = {}
        elif type(params) is not dict:
            return None
        size = params.get("binary_data_size")
        if "data" in item:
            if size is not None or type(item["data"]) is not list:
                return None
            json_data = True
            try:
                array = np.asarray(item["data"])
            except (ValueError, TypeError, OverflowError):  # ragged lists and the like: the general path says so
                return None
            if array.size != count or array.dtype.kind not in _PLAIN_KINDS[dtype.kind]:
                return None
            if dtype.kind in "iu" and (array.min() < np.iinfo(dtype).min or array.max() > np.iinfo(dtype).max):
                return None
            arrays[name] = array.astype(_NATIVE[dtype], copy=False).reshape(shape)
        else:
            if binary is None or type(size) is not int or size != count * dtype.itemsize or offset + size > len(binary):
                return None  # a part cut short is the general path's to name
            arrays[name] = np.frombuffer(binary, dtype=dtype, count=count, offset=offset).reshape(shape)
            offset += size
        parameters[name] = params
    if binary is not None and offset != len(binary):
        return None
    if json_data and booleans():  # numpy reads [true, 0.5] as [1.0, 0.5]: the general path refuses it
        return None
    return arrays, parameters


# Datatypes the plain path reads (BYTES and BOOL take the general one), little-endian as the wire is.
_PLAIN_DTYPES: dict[str, np.dtype] = {
    name: numpy_dtype(name).newbyteorder("<") for name in OIP_TO_NUMPY if name not in (BYTES, "BOOL")
}
_PLAIN_KINDS = {"f": "fiu", "i": "iu", "u": "iu"}
_NATIVE = {dtype: dtype.newbyteorder("=") for dtype in _PLAIN_DTYPES.values()}
# Request datatypes by this machine's dtype (BOOL and BYTES take the general path); a big-endian machine has none, so
# its every request takes the general path, which swaps the bytes.
_REQUEST_DATATYPES: dict[np.dtype, str] = (
    {np.dtype(OIP_TO_NUMPY[name]): name for name in _PLAIN_DTYPES} if sys.byteorder == "little" else {}
)
