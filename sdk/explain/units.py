"""Units: what an explanation attributes to (pixels or patches, words, lags), derived from the modality the manifest
declares, and how a unit is removed. Raw inputs and tensors give the same units.

A ``Subject`` holds the items to explain, one row of model feeds each, and turns a mask matrix (rows x units, 1 =
keep, 0 = remove, values between blend for images) into model feeds in one vectorized step. Removal, per modality:

- image: a removed pixel becomes black (raw 0 through the spec's ``scale``, ``mean``, ``std``);
- series: a removed lag becomes the window's own mean: always inside the series' range, where the spec's ``mean`` may
  not be (a model that scales inside its graph declares mean 0, std 1: sunspots would be "removed" to 0 sunspots, and
  the top-3-lags test measured 2.16x for that against 2.4-2.5x for the window mean);
- text: see ``sdk.explain.text_units``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sdk._record import record
from sdk.artifacts.processors_schema import ImageSpec, SeriesSpec
from sdk.errors import InvalidInput
from sdk.explain import faithfulness
from sdk.runtime.model import LoadedModel

MAX_UNITS = 64  # images: pixels when H*W <= 64, else square patches, so that there are at most 64 units


@record(frozen=False)
class Item:
    """One item: its units as a person reads them, and what to draw under the attributions."""

    units: list[str]
    unit_kind: str
    grid: tuple[int, int] | None
    view: np.ndarray | None

    @property
    def n(self) -> int:
        return len(self.units)


class Subject:
    """Items of one modality with the model feeds of each; ``feeds(i, masks)`` perturbs item ``i``."""

    modality = ""
    points = faithfulness.POINTS  # of the faithfulness curves

    def __init__(self, model: LoadedModel, feeds: Mapping[str, np.ndarray], items: list[Item]) -> None:
        self.model = model
        self.base = {k: np.asarray(v) for k, v in feeds.items()}  # one row per item
        self.items = items
        self.compare: dict[str, np.ndarray] | None = None  # one row, for an embedding compared to another input

    def feeds(self, index: int, masks: np.ndarray) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def active(self, index: int) -> np.ndarray:
        """[units] bool: whether removing the unit changes item ``index``'s feeds at all."""
        n = self.items[index].n
        full = self.feeds(index, np.ones((1, n)))
        alone = self.feeds(index, 1.0 - np.eye(n))
        changed = np.zeros(n, dtype=bool)
        for name, array in alone.items():
            changed |= (array != full[name]).reshape(n, -1).any(axis=1)
        return changed

    def join(self, blocks: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """Blocks of feeds (the compare input's, items' rows) as the feeds of one call."""
        return {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}

    def _repeat(self, index: int, rows: int, skip: str) -> dict[str, np.ndarray]:
        """The item's other inputs (a model with more inputs than the perturbed one) repeated ``rows`` times."""
        return {k: np.repeat(v[index : index + 1], rows, axis=0) for k, v in self.base.items() if k != skip}


def modality(model: LoadedModel) -> str:
    """``image``, ``text`` or ``series``: the raw input the manifest declares; InvalidInput naming what to declare
    when there is none."""
    processors = model.processors
    kind = processors.kind if processors is not None else None
    if kind is None:
        raise InvalidInput(
            f"{model.manifest.ref} cannot be explained: its manifest declares no input processor, so its units "
            "(pixels, words, lags) cannot be derived; declare processors.image, processors.text or "
            "processors.series in its manifest",
            hint="give the recipe its `processors` and compile it again",
        )
    return kind


def derive(model: LoadedModel, inputs: Any, compare: str | bytes | None, max_items: int) -> Subject:
    """The items of ``inputs`` (raw, or a dict of tensors with the batch dimension) as units of the model's declared
    modality; InvalidInput when they cannot be derived or there are more than ``max_items``."""
    kind = modality(model)
    processors = model.processors
    assert processors is not None and processors.input is not None
    if kind == "text":
        from sdk.explain.text_units import derive_text

        return derive_text(model, inputs, compare, max_items)
    raw = processors.takes(inputs)
    feeds = processors.encode(inputs).feeds if raw else model.validator(inputs)
    count = len(next(iter(feeds.values())))
    _check_items(count, max_items)
    subject: Subject
    if kind == "image":
        spec = processors.spec.image
        assert spec is not None
        subject = ImageSubject(model, feeds, spec)
        if compare is not None:
            if isinstance(compare, str):
                raise InvalidInput(
                    f"parameter 'compare' is text, but {model.manifest.ref} takes images: send PNG or JPEG bytes"
                )
            subject.compare = dict(processors.encode(compare).feeds)
        return subject
    spec_series = processors.spec.series
    assert spec_series is not None
    if compare is not None:
        raise InvalidInput(f"parameter 'compare' does not apply to {model.manifest.ref}, a series model")
    return SeriesSubject(model, feeds, spec_series)


def _check_items(count: int, max_items: int) -> None:
    if count > max_items:
        raise InvalidInput(f"{count} items to explain, over the limit of {max_items} (max_items); send fewer")


def _patch_side(height: int, width: int) -> int:
    """The smallest square patch side that leaves at most MAX_UNITS patches."""
    side = 1
    while math.ceil(height / side) * math.ceil(width / side) > MAX_UNITS:
        side += 1
    return side


@functools.lru_cache(maxsize=32)
def _grid(height: int, width: int) -> tuple[np.ndarray, tuple[str, ...], str, tuple[int, int]]:
    """An image size's units, cached: each pixel's unit [H, W] (read-only), the labels, their kind, (rows, cols)."""
    side = _patch_side(height, width)
    rows, cols = math.ceil(height / side), math.ceil(width / side)
    unit_of = (np.arange(height)[:, None] // side) * cols + (np.arange(width)[None, :] // side)
    unit_of.flags.writeable = False
    if side == 1:
        return unit_of, tuple(f"r{r}c{c}" for r in range(rows) for c in range(cols)), "pixel", (rows, cols)

    def span(start: int, size: int) -> str:
        end = min(start + side, size) - 1
        return f"{start}-{end}" if end > start else str(start)

    labels = tuple(f"r{span(r * side, height)} c{span(c * side, width)}" for r in range(rows) for c in range(cols))
    return unit_of, labels, "patch", (rows, cols)


class ImageSubject(Subject):
    """Pixels (H*W <= 64) or square patches; a removed unit is black."""

    modality = "image"

    def __init__(self, model: LoadedModel, feeds: Mapping[str, np.ndarray], spec: ImageSpec) -> None:
        self.spec = spec
        x = np.asarray(feeds[spec.input], dtype=np.float32)
        hwc = {"NCHW": lambda a: a.transpose(0, 2, 3, 1), "NHWC": lambda a: a, "NHW": lambda a: a[..., None]}
        self._x = np.ascontiguousarray(hwc[spec.layout](x))  # [items, H, W, C], normalized as the model takes it
        channels = self._x.shape[-1]
        mean = np.broadcast_to(np.asarray(spec.mean, dtype=np.float32), (channels,))
        std = np.broadcast_to(np.asarray(spec.std, dtype=np.float32), (channels,))
        self._black = ((0.0 * spec.scale - mean) / std).astype(np.float32)  # raw 0 through the spec
        height, width = self._x.shape[1:3]
        self._unit_of, labels, kind, grid = _grid(height, width)
        views = self._x * std + mean  # before mean/std: pixel * scale
        items = [Item(list(labels), kind, grid, views[i, ..., 0] if channels == 1 else views[i]) for i in range(len(x))]
        super().__init__(model, feeds, items)

    def active(self, index: int) -> np.ndarray:
        differs = (self._x[index] != self._black).any(axis=-1).reshape(-1)  # pixels that are not black already
        return np.bincount(self._unit_of.reshape(-1), weights=differs, minlength=self.items[index].n) > 0

    def feeds(self, index: int, masks: np.ndarray) -> dict[str, np.ndarray]:
        keep = np.asarray(masks, dtype=np.float32)[:, self._unit_of][..., None]  # [rows, H, W, 1]
        x = self._black + (self._x[index] - self._black) * keep
        layout = self.spec.layout
        shaped = x.transpose(0, 3, 1, 2) if layout == "NCHW" else (x[..., 0] if layout == "NHW" else x)
        out = self._repeat(index, len(masks), self.spec.input)
        out[self.spec.input] = np.ascontiguousarray(shaped, dtype=np.float32)
        return out


class SeriesSubject(Subject):
    """Lags t-W .. t-1 (oldest first, as the window is); a removed lag is the window's own mean."""

    modality = "series"

    def __init__(self, model: LoadedModel, feeds: Mapping[str, np.ndarray], spec: SeriesSpec) -> None:
        self.spec = spec
        x = np.asarray(feeds[spec.input], dtype=np.float32)
        self._shape = x.shape[1:]
        self._x = x.reshape(len(x), -1)  # [items, window]
        window = self._x.shape[1]
        labels = [f"t-{window - j}" for j in range(window)]
        view = self._x.astype(np.float64) * spec.std + spec.mean  # the data's units
        items = [Item(labels, "lag", None, view[i]) for i in range(len(self._x))]
        super().__init__(model, feeds, items)

    def feeds(self, index: int, masks: np.ndarray) -> dict[str, np.ndarray]:
        # The window's mean is the same point before and after the spec's affine scaling.
        window = self._x[index]
        x = np.where(np.asarray(masks, dtype=bool), window, np.float32(window.mean())).astype(np.float32)
        out = self._repeat(index, len(masks), self.spec.input)
        out[self.spec.input] = np.ascontiguousarray(x.reshape(len(masks), *self._shape), dtype=np.float32)
        return out
