"""The classification extension (Triton's, over the Open Inference Protocol): a request's
``outputs[i].parameters.classification = N`` asks for that output's N highest values instead of the tensor, each as
the string ``"<value>:<index>[:<label>]"`` (BYTES, shape ``[batch, N']``, N' = min(N, classes per row); an output
without a batch dimension gives ``[N']``). Ranked by value, ties by the lower index; values written as Triton writes
them (C++ ``std::to_string``: six decimals for floats, integers as integers). The label is the manifest's
``labels[index]`` when the output has one value per label. A server that did not know the parameter would answer the
raw tensor, which a client asking for classes would misread: this one says ``classification`` among its extensions,
and a count that is no positive integer, an output that is not numeric, or more than ``MAX_STRINGS`` strings is a
400."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sdk.errors import InvalidInput, MalformedRequest

PARAMETER = "classification"
# Strings one output may turn into (rows x count): each costs ~1.5 us to write, so a stranger asking for every class
# of a wide output of a large batch is refused (400) instead of holding a worker for seconds.
MAX_STRINGS = 100_000
# The largest count taken: an int64, as orjson reads (a larger JSON integer it reads as a float, the standard library as
# an int: both are refused alike).
MAX_COUNT = 2**63 - 1


def parse_count(output: str, value: Any) -> int | None:
    """The count asked for ``output`` (None when the parameter is absent); MalformedRequest unless a positive int."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_COUNT:
        raise MalformedRequest(
            f"output '{output}': parameters.classification must be a positive integer up to {MAX_COUNT} (how many "
            f"classes), got {value!r}"
        )
    return value


def check_rankable(output: str, dtype: np.dtype) -> None:
    """InvalidInput unless an output of ``dtype`` can be ranked (integers and floats, as Triton; fp16 too)."""
    if dtype.kind not in "iuf":
        raise InvalidInput(
            f"output '{output}' is {dtype.name} data, which the classification extension cannot rank; ask for it "
            "without parameters.classification"
        )


def classify(output: str, array: np.ndarray, count: int, labels: Sequence[str] | None = None) -> np.ndarray:
    """``array``'s top ``count`` entries per row (its first dimension; every other one flattened) as BYTES."""
    check_rankable(output, array.dtype)
    batched = array.ndim >= 2
    rows = array.reshape(array.shape[0], -1) if batched else array.reshape(1, -1)
    classes = rows.shape[1]
    keep = min(count, classes)
    if rows.shape[0] * keep > MAX_STRINGS:
        raise InvalidInput(
            f"output '{output}': classification of {keep} classes for {rows.shape[0]} rows is "
            f"{rows.shape[0] * keep} strings, more than the {MAX_STRINGS} one output may have; ask for fewer classes "
            "or send fewer rows"
        )
    # Descending and stable (ties: lower index first): a stable ascending sort of each row reversed, mapped back.
    order = (classes - 1 - np.argsort(rows[:, ::-1], axis=1, kind="stable"))[:, ::-1][:, :keep]
    named = labels if labels is not None and len(labels) == classes else None
    floats = array.dtype.kind == "f"
    out = np.empty((rows.shape[0], keep), dtype=object)
    for r in range(rows.shape[0]):
        for k, index in enumerate(order[r].tolist()):
            value = rows[r, index]
            text = f"{float(value):f}" if floats else str(int(value))
            text = f"{text}:{index}" if named is None else f"{text}:{index}:{named[index]}"
            out[r, k] = text.encode("utf-8")
    return out if batched else out.reshape(keep)
