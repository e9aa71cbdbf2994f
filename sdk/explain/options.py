"""What an explanation is asked for: the method, the explained output, the budget, the seed and the deadline.

``ExplainOptions.from_parameters`` reads the wire's ``parameters`` (the OIP extension ``/explain``) strictly: an
unknown key or a bad value is an ``InvalidInput`` naming the key. Budget checks that depend on the input (a method's
minimum for so many units) happen in ``explain`` itself, where the units are known.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from sdk._record import record
from sdk.errors import InvalidInput

METHODS = ("auto", "occlusion", "kernel_shap", "rise")
# The fewest evaluations any explanation needs: the input, the input with every unit removed, one perturbation.
MIN_EVALS = 3
MIN_CALLS = 2  # the method's evaluations, then the faithfulness curves (which need the attributions)


@record
class ExplainOptions:
    """How to explain (see the module docstring of ``sdk.explain``).

    ``target``: a classifier's class (index or label); None explains each item's predicted class. ``compare``: for an
    embedding model, a second raw input; the explained scalar is the cosine between the (perturbed) item's embedding
    and this one's (None: the item's own unperturbed embedding). ``max_evals``: model rows per item, all calls
    together, faithfulness included. ``max_calls``: runtime calls for the whole explanation. ``deadline_s``: seconds
    for the whole explanation (None: none)."""

    method: str = "auto"
    target: int | str | None = None
    compare: str | bytes | None = None
    max_evals: int = 256
    max_calls: int = 8
    seed: int = 0
    deadline_s: float | None = None
    max_items: int = 16

    def __post_init__(self) -> None:
        _check(self)

    @classmethod
    def from_parameters(cls, params: Mapping[str, Any]) -> ExplainOptions:
        """The options a request's ``parameters`` carry; InvalidInput naming the key on an unknown key or bad value."""
        if not isinstance(params, Mapping):
            raise InvalidInput(f"explain parameters must be an object, got {type(params).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(str(k) for k in params if k not in known)
        if unknown:
            raise InvalidInput(
                f"unknown explain parameter(s) {', '.join(repr(k) for k in unknown)} "
                f"(known: {', '.join(sorted(known))})"
            )
        return cls(**dict(params))

    def to_parameters(self) -> dict[str, Any]:
        """The fields that differ from their defaults, as JSON values (``compare`` bytes as UTF-8 text).
        ``deadline_s`` is among them when set: a client sending a request leaves it out (the server sets its own)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value != f.default:
                out[f.name] = _json_compare(value) if isinstance(value, bytes) else value
        return out


def _json_compare(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            "parameter 'compare' holds bytes that are not UTF-8 text (an image?): parameters carry text only"
        ) from exc


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check(o: ExplainOptions) -> None:
    if not isinstance(o.method, str) or o.method not in METHODS:
        raise InvalidInput(f"parameter 'method' is {o.method!r}; use one of {', '.join(METHODS)}")
    if o.target is not None and not (_is_int(o.target) or isinstance(o.target, str)):
        raise InvalidInput(
            f"parameter 'target' must be a class index (integer) or a label (string), got {type(o.target).__name__}"
        )
    if _is_int(o.target) and o.target < 0:  # type: ignore[operator]
        raise InvalidInput(f"parameter 'target' is {o.target}; a class index is 0 or more")
    if o.compare is not None and not isinstance(o.compare, (str, bytes)):
        raise InvalidInput(
            f"parameter 'compare' must be a raw input (text, or image bytes), got {type(o.compare).__name__}"
        )
    if isinstance(o.compare, str) and not o.compare.strip():
        raise InvalidInput("parameter 'compare' is empty; send a text to compare with")
    for key, floor in (("max_evals", MIN_EVALS), ("max_calls", MIN_CALLS), ("max_items", 1)):
        value = getattr(o, key)
        if not _is_int(value):
            raise InvalidInput(f"parameter '{key}' must be an integer, got {type(value).__name__}")
        if value < floor:
            why = {
                "max_evals": "the input, the input with every unit removed and at least one perturbation",
                "max_calls": "one for the method's evaluations, one for the faithfulness curves",
                "max_items": "at least one item",
            }[key]
            raise InvalidInput(f"parameter '{key}' is {value}; the minimum is {floor} ({why})")
    if not _is_int(o.seed) or o.seed < 0:
        raise InvalidInput(f"parameter 'seed' must be a non-negative integer, got {o.seed!r}")
    if o.deadline_s is not None:
        if isinstance(o.deadline_s, bool) or not isinstance(o.deadline_s, (int, float)):
            raise InvalidInput(f"parameter 'deadline_s' must be a number of seconds, got {type(o.deadline_s).__name__}")
        if not math.isfinite(o.deadline_s) or o.deadline_s <= 0:
            raise InvalidInput(f"parameter 'deadline_s' is {o.deadline_s}; give a positive number of seconds")
