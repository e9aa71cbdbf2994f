"""What an explanation returns, and its JSON document on the wire (``POST /v2/models/{name}/explain``).

``Explanation.from_json`` is strict: anything malformed raises ``ValueError`` naming the field (the client wraps it
in ``CloudBadResponse``), so a half-understood answer never reaches a user as attributions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import field
from typing import Any

import numpy as np

from sdk._record import record

UNIT_KINDS = ("word", "pixel", "patch", "lag")
TARGET_KINDS = ("class", "similarity", "forecast")


@record(frozen=False)
class ItemExplanation:
    """One item's attributions over its units (what a person reads: words, pixels "r3c4", patches "r0-1 c2-3",
    lags "t-5"); positive attributions push the explained value up."""

    units: list[str]
    unit_kind: str
    attributions: np.ndarray
    grid: tuple[int, int] | None
    view: np.ndarray | None
    target: dict[str, Any]
    value: float
    base_value: float
    faithfulness: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "units": list(self.units),
            "unit_kind": self.unit_kind,
            "attributions": [float(v) for v in self.attributions],
            "grid": list(self.grid) if self.grid is not None else None,
            "view": self.view.tolist() if self.view is not None else None,
            "target": dict(self.target),
            "value": float(self.value),
            "base_value": float(self.base_value),
            "faithfulness": {k: float(v) for k, v in self.faithfulness.items()},
        }

    @classmethod
    def from_json(cls, doc: Any, where: str = "item") -> ItemExplanation:
        d = _obj(doc, where)
        units = _get(d, "units", list, where)
        if not all(isinstance(u, str) for u in units):
            raise ValueError(f"{where}.units must be a list of strings")
        kind = _get(d, "unit_kind", str, where)
        if kind not in UNIT_KINDS:
            raise ValueError(f"{where}.unit_kind {kind!r} must be one of {', '.join(UNIT_KINDS)}")
        attributions = _numbers(_get(d, "attributions", list, where), f"{where}.attributions")
        if attributions.shape != (len(units),):
            raise ValueError(f"{where}.attributions holds {attributions.size} values for {len(units)} units")
        grid = _grid(d.get("grid"), len(units), f"{where}.grid")
        view = d.get("view")
        view_array = _numbers(view, f"{where}.view", flat=False) if view is not None else None
        target = _obj(_get(d, "target", dict, where), f"{where}.target")
        if target.get("kind") not in TARGET_KINDS:
            raise ValueError(f"{where}.target.kind must be one of {', '.join(TARGET_KINDS)}")
        faith = _obj(_get(d, "faithfulness", dict, where), f"{where}.faithfulness")
        return cls(
            units=list(units),
            unit_kind=kind,
            attributions=attributions,
            grid=grid,
            view=view_array,
            target=dict(target),
            value=_number(d.get("value"), f"{where}.value"),
            base_value=_number(d.get("base_value"), f"{where}.base_value"),
            faithfulness={str(k): _number(v, f"{where}.faithfulness.{k}") for k, v in faith.items()},
        )


@record(frozen=False)
class Explanation:
    """Attributions for every item, how they were made (method, evaluations, calls, time, seed), and where."""

    model: str
    version: str
    method: str
    items: list[ItemExplanation]
    evaluations: int
    calls: int
    time_ms: float
    seed: int
    partial: bool
    ran_on: str = "device"
    runtime: str = ""
    decision: Any = None  # the client's Decision for the call; never on the wire

    def to_json(self) -> dict[str, Any]:
        """The wire document (``explanation`` in the /explain answer)."""
        return {
            "method": self.method,
            "evaluations": int(self.evaluations),
            "calls": int(self.calls),
            "time_ms": float(self.time_ms),
            "seed": int(self.seed),
            "partial": bool(self.partial),
            "ran_on": self.ran_on,
            "runtime": self.runtime,
            "model": self.model,
            "version": self.version,
            "items": [item.to_json() for item in self.items],
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Explanation:
        """The document ``to_json`` writes; ValueError naming the field on anything malformed."""
        where = "explanation"
        d = _obj(doc, where)
        items = _get(d, "items", list, where)
        ran_on = _get(d, "ran_on", str, where)
        if ran_on not in ("device", "cloud"):
            raise ValueError(f"{where}.ran_on {ran_on!r} must be device or cloud")
        return cls(
            model=_get(d, "model", str, where),
            version=_get(d, "version", str, where),
            method=_get(d, "method", str, where),
            items=[ItemExplanation.from_json(item, f"{where}.items[{i}]") for i, item in enumerate(items)],
            evaluations=_count(d.get("evaluations"), f"{where}.evaluations"),
            calls=_count(d.get("calls"), f"{where}.calls"),
            time_ms=_number(d.get("time_ms"), f"{where}.time_ms"),
            seed=_count(d.get("seed"), f"{where}.seed"),
            partial=_get(d, "partial", bool, where),
            ran_on=ran_on,
            runtime=_get(d, "runtime", str, where),
        )


def _obj(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} must be an object, got {type(value).__name__}")
    return value


def _get(d: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in d:
        raise ValueError(f"{where}.{key} is missing")
    value = d[key]
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ValueError(f"{where}.{key} must be {kind.__name__}, got {type(value).__name__}")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{where} must be a finite number, got {value!r}")
    return float(value)


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{where} must be a non-negative integer, got {value!r}")
    return value


def _numbers(value: Any, where: str, *, flat: bool = True) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where} must hold numbers only: {exc}") from exc
    if (flat and array.ndim != 1) or not np.isfinite(array).all():
        raise ValueError(f"{where} must be a {'flat ' if flat else ''}array of finite numbers")
    return array


def _grid(value: Any, units: int, where: str) -> tuple[int, int] | None:
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    ):
        raise ValueError(f"{where} must be [rows, cols] (positive integers) or null")
    if value[0] * value[1] != units:
        raise ValueError(f"{where} {value} does not hold the {units} units")
    return (value[0], value[1])
