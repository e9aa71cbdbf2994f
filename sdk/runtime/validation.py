"""Input validation against the manifest, before the model runs.

Every error names the input and what was expected, so a caller can fix the call from the message alone. The checks
are precomputed per model so that a valid call costs a few microseconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sdk._record import record
from sdk.artifacts.manifest import FLOAT_DTYPES, TensorSpec
from sdk.errors import InvalidInput


def describe_shape(spec: TensorSpec) -> str:
    names = spec.dim_names or (None,) * len(spec.shape)
    dims = [str(size) if size != -1 else (name or "?") for size, name in zip(spec.shape, names)]
    return "[" + ", ".join(dims) + "]"


@record
class _Check:
    name: str
    dtype: np.dtype[Any]
    rank: int
    fixed: tuple[tuple[int, int], ...]  # (axis, size)
    bounded: tuple[tuple[int, int], ...]  # (axis, max size)
    named: tuple[tuple[int, str], ...]  # (axis, dimension name)
    finite: bool
    expected: str


class InputValidator:
    """Turns a caller's inputs into the feeds a backend can run, or raises InvalidInput saying what is wrong."""

    def __init__(self, specs: Sequence[TensorSpec], *, max_batch_size: int | None = None) -> None:
        self.specs = tuple(specs)
        self.names = tuple(s.name for s in specs)
        self._name_set = frozenset(self.names)
        self.max_batch_size = max_batch_size
        self._checks = tuple(self._compile(s) for s in specs)

    @staticmethod
    def _compile(spec: TensorSpec) -> _Check:
        names = spec.dim_names or (None,) * len(spec.shape)
        bounds = spec.max_shape or (-1,) * len(spec.shape)
        return _Check(
            name=spec.name,
            dtype=np.dtype(spec.dtype),
            rank=len(spec.shape),
            fixed=tuple((axis, size) for axis, size in enumerate(spec.shape) if size != -1),
            bounded=tuple((axis, b) for axis, (size, b) in enumerate(zip(spec.shape, bounds)) if size == -1 and b > 0),
            named=tuple((axis, n) for axis, (size, n) in enumerate(zip(spec.shape, names)) if size == -1 and n),
            finite=spec.dtype in FLOAT_DTYPES and not spec.allow_non_finite,
            expected=f"{describe_shape(spec)} {spec.dtype}",
        )

    def __call__(self, inputs: Any) -> dict[str, np.ndarray]:
        mapping = self._as_mapping(inputs)
        feeds: dict[str, np.ndarray] = {}
        sizes: dict[str, tuple[int, str]] = {}
        for check in self._checks:
            array = self._array(check, mapping[check.name])
            shape = array.shape
            if array.ndim != check.rank:
                hint = " (add a batch axis: x[None])" if array.ndim == check.rank - 1 else ""
                raise InvalidInput(
                    f"input '{check.name}': expected rank {check.rank} {check.expected}, got shape {list(shape)}{hint}"
                )
            for axis, size in check.fixed:
                if shape[axis] != size:
                    raise InvalidInput(
                        f"input '{check.name}': dimension {axis} must be {size}, got {shape[axis]} "
                        f"(expected {check.expected}, got shape {list(shape)})"
                    )
            if 0 in shape:
                raise InvalidInput(f"input '{check.name}' is empty (shape {list(shape)}); send at least one item")
            for axis, bound in check.bounded:
                if shape[axis] > bound:
                    raise InvalidInput(
                        f"input '{check.name}': dimension {axis} is {shape[axis]}, the model accepts at most {bound}"
                    )
            for axis, dim in check.named:
                seen = sizes.setdefault(dim, (shape[axis], check.name))
                if seen[0] != shape[axis]:
                    raise InvalidInput(
                        f"input '{check.name}': its {dim} dimension is {shape[axis]} but input '{seen[1]}' has "
                        f"{seen[0]}; inputs must agree on {dim}"
                    )
            if check.finite and not np.isfinite(array).all():
                bad = int(array.size - np.count_nonzero(np.isfinite(array)))
                raise InvalidInput(f"input '{check.name}' holds {bad} NaN or infinite value(s); the model forbids them")
            feeds[check.name] = array
        if self.max_batch_size is not None and "batch" in sizes and sizes["batch"][0] > self.max_batch_size:
            raise InvalidInput(f"batch of {sizes['batch'][0]} exceeds the limit of {self.max_batch_size}")
        return feeds

    def _as_mapping(self, inputs: Any) -> Mapping[str, Any]:
        if not isinstance(inputs, Mapping):
            if len(self.names) == 1:
                return {self.names[0]: inputs}
            raise InvalidInput(
                f"this model takes {len(self.names)} inputs ({', '.join(self.names)}); pass a dict name -> array"
            )
        if inputs.keys() != self._name_set:
            missing = [n for n in self.names if n not in inputs]
            extra = sorted(str(k) for k in inputs if k not in self._name_set)
            parts = []
            if missing:
                parts.append(f"missing input(s) {', '.join(repr(m) for m in missing)}")
            if extra:
                parts.append(f"unknown input(s) {', '.join(repr(e) for e in extra)}")
            raise InvalidInput("; ".join(parts) + f" (the model takes: {', '.join(self.names)})")
        return inputs

    @staticmethod
    def _array(check: _Check, value: Any) -> np.ndarray:
        if type(value) is np.ndarray:
            if value.dtype != check.dtype:
                raise InvalidInput(
                    f"input '{check.name}': expected dtype {check.dtype}, got {value.dtype} "
                    f"(convert with x.astype('{check.dtype}'))"
                )
            return value if value.flags.c_contiguous else np.ascontiguousarray(value)
        # Lists and scalars from JSON: convert when no information is lost (int -> float, float64 -> float32).
        try:
            array = np.asarray(value)
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"input '{check.name}' is not a rectangular array of numbers: {exc}") from exc
        if array.dtype == object or array.dtype.kind in "USV":
            raise InvalidInput(f"input '{check.name}' must hold numbers of dtype {check.dtype}, got {array.dtype}")
        if array.dtype != check.dtype:
            if not np.can_cast(array.dtype, check.dtype, casting="same_kind") and not (
                array.dtype.kind in "iub" and check.dtype.kind == "f"
            ):
                raise InvalidInput(f"input '{check.name}': expected dtype {check.dtype}, got values of {array.dtype}")
            array = array.astype(check.dtype)
        return np.ascontiguousarray(array)
