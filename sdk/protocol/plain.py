"""A response's outputs as servers commonly write them, read on a fast path (issue #20: the client's own cost per
cloud call). Anything unusual returns None and the codec's general path reads it, with its exact error messages; what
this path returns is what the general path would (same dtype, shape and bytes). ``booleans`` says (lazily) whether the
message holds a ``true``/``false`` literal, which numpy would read as a number in JSON data."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from sdk.protocol.datatypes import BYTES, OIP_TO_NUMPY, numpy_dtype
from sdk.protocol.tensors import HARD_MAX_ELEMENTS, MAX_RANK


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
        if len(shape) > MAX_RANK or not all(type(d) is int and d >= 0 for d in shape):
            return None
        count = math.prod(shape)
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
            arrays[name] = array.astype(dtype.newbyteorder("="), copy=False).reshape(shape)
        else:
            if binary is None or type(size) is not int or size != count * dtype.itemsize:
                return None
            arrays[name] = np.frombuffer(binary[offset : offset + size], dtype=dtype).reshape(shape)
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
