"""Open Inference Protocol tensor datatypes and the numpy dtypes they map to."""

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
}
NUMPY_TO_OIP: dict[str, str] = {v: k for k, v in OIP_TO_NUMPY.items()}


def numpy_dtype(datatype: str) -> np.dtype:
    try:
        return np.dtype(OIP_TO_NUMPY[datatype])
    except KeyError as exc:
        raise MalformedRequest(f"unsupported datatype {datatype!r}; expected one of {', '.join(OIP_TO_NUMPY)}") from exc


def oip_datatype(dtype: np.dtype) -> str:
    try:
        return NUMPY_TO_OIP[np.dtype(dtype).name]
    except KeyError as exc:
        raise MalformedRequest(f"dtype {dtype} has no Open Inference Protocol datatype") from exc
