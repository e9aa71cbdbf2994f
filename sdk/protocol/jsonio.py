"""JSON for the wire: orjson when installed (fast, serialises numpy arrays natively), else the standard library.

A body orjson refuses is parsed again by the standard library, which names the position of a syntax error and
accepts the ``NaN``/``Infinity`` literals some clients send (the input validator then decides whether the model
allows them). Either way the caller sees one exception type, ``ValueError``, deep nesting (which exhausts the standard
library's recursion) included.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from sdk.extras import optional

# orjson is optional: the `serve` extra brings it, the light client works without it.
_orjson: Any = optional("orjson")
HAVE_ORJSON = _orjson is not None


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Parse JSON; raises ValueError (``json.JSONDecodeError``) with the position of the problem."""
    if _orjson is not None:
        try:
            return _orjson.loads(data)
        except _orjson.JSONDecodeError as exc:
            if "depth" in str(exc):  # orjson stops at 1024 levels; the standard library would recurse and crash
                raise ValueError(f"arrays or objects nested too deeply ({exc})") from None
            # otherwise the standard library says where and why, and takes NaN literals
    text = bytes(data).decode("utf-8") if not isinstance(data, str) else data
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("arrays or objects nested too deeply for this parser") from None


def dumps(obj: Any) -> bytes:
    """Serialise to compact UTF-8 JSON. numpy arrays and scalars are written as (nested) lists and numbers."""
    if _orjson is not None:
        try:
            return _orjson.dumps(obj, option=_orjson.OPT_SERIALIZE_NUMPY)
        except TypeError:
            pass  # a dtype orjson does not serialise (e.g. float16 on old orjson): fall through
    return json.dumps(obj, separators=(",", ":"), default=_default).encode("utf-8")


def _default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
