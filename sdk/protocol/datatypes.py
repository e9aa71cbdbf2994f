"""Open Inference Protocol tensor datatypes and the numpy dtypes they map to.

Every OIP datatype with a numpy equivalent is supported. ``BYTES`` maps to numpy ``object`` arrays holding ``bytes``
(variable-length elements); ``BF16`` has no numpy dtype and is refused with a message saying so.
"""

from __future__ import annotations

import numpy as np

from sdk.errors import MalformedRequest

OIP_TO_NUMPY: dict[str, str] = {
    "BOOL": "bool",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
    "BYTES": "object",
}
NUMPY_TO_OIP: dict[str, str] = {v: k for k, v in OIP_TO_NUMPY.items()}
BYTES = "BYTES"

# Names people write instead of the OIP ones; used only to suggest the right name in an error.
_ALIASES = {
    "FLOAT": "FP32",
    "FLOAT32": "FP32",
    "FLOAT16": "FP16",
    "HALF": "FP16",
    "FLOAT64": "FP64",
    "DOUBLE": "FP64",
    "INT": "INT64",
    "LONG": "INT64",
    "STRING": "BYTES",
    "STR": "BYTES",
    "BOOLEAN": "BOOL",
}


def numpy_dtype(datatype: str) -> np.dtype:
    """The numpy dtype for an OIP datatype name, or MalformedRequest naming the accepted ones."""
    try:
        return np.dtype(OIP_TO_NUMPY[datatype])
    except (KeyError, TypeError) as exc:
        raise MalformedRequest(_unknown_message(datatype)) from exc


_BY_DTYPE: dict[np.dtype, str] = {np.dtype(v): k for k, v in OIP_TO_NUMPY.items()}


def oip_datatype(dtype: np.dtype | type | str) -> str:
    """The OIP datatype name for a numpy dtype (``object``, ``bytes_`` and ``str_`` arrays are BYTES)."""
    known = _BY_DTYPE.get(dtype) if isinstance(dtype, np.dtype) else None
    if known is not None:
        return known
    kind = np.dtype(dtype)
    if kind.kind in "OSU":
        return BYTES
    try:
        return NUMPY_TO_OIP[kind.name]
    except KeyError as exc:
        raise MalformedRequest(f"dtype {kind} has no Open Inference Protocol datatype") from exc


def _unknown_message(datatype: object) -> str:
    accepted = ", ".join(OIP_TO_NUMPY)
    if datatype == "BF16":
        return "datatype 'BF16' has no numpy equivalent and is not supported; send FP32 or FP16"
    if not isinstance(datatype, str):
        return f"'datatype' must be a string such as 'FP32', got {type(datatype).__name__}"
    suggestion = _ALIASES.get(datatype.upper()) or (datatype.upper() if datatype.upper() in OIP_TO_NUMPY else None)
    hint = f" (did you mean '{suggestion}'?)" if suggestion else ""
    return f"unknown datatype {datatype!r}{hint}; expected one of {accepted}"
