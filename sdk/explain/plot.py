"""Pictures of an explanation (`sdk explain --plot`): people would rather look than read here.

- image units (pixels, patches): the image as the model saw it, in grey, under a heatmap of the attributions on
  ``grid``, in a diverging colour map centred at 0 (red pushes the explained value up, blue down);
- words: the text with each word's background coloured by its attribution, and the scale as a legend;
- lags: the series window drawn above, a bar per lag below, coloured the same way.

matplotlib is optional (the ``plot`` extra) and loaded only when a picture is drawn, through ``sdk.extras.require``.
Figures are drawn on matplotlib's Agg canvas directly, never through pyplot: no global backend is switched, and
drawing from several threads at once is safe.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sdk.errors import InvalidInput
from sdk.extras import require

if TYPE_CHECKING:
    from sdk.explain import Explanation, ItemExplanation

PURPOSE = "drawing explanations (sdk explain --plot)"
# Diverging, centred on white (no effect): blue pushes down, red pushes up. bwr rather than RdBu_r: its colour grows
# stronger all the way to the ends, so the most attributed unit is the most coloured (RdBu_r darkens at its ends).
COLOURS = "bwr"
DPI = 110
IMAGE_KINDS = ("pixel", "patch")
OVERLAY = 0.7  # the heatmap's opacity over the image (the legend draws its colours the same)


def plot(explanation: Explanation, path: str | Path, *, item: int = 0) -> Path:
    """Draw item ``item`` of ``explanation`` as a PNG at ``path`` (folders made as needed); returns the path.

    InvalidInput for an item that is not there, or an image explanation without its grid."""
    if not 0 <= item < len(explanation.items):
        raise InvalidInput(f"item {item} is not in this explanation: it holds {len(explanation.items)} item(s)")
    one = explanation.items[item]
    mpl = _matplotlib()
    figure = _draw(mpl, explanation, one)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, dpi=DPI, format="png")
    return target


def _draw(mpl: Any, explanation: Explanation, item: ItemExplanation) -> Any:
    if item.unit_kind in IMAGE_KINDS:
        return _heatmap(mpl, explanation, item)
    if item.unit_kind == "lag":
        return _lags(mpl, explanation, item)
    return _words(mpl, explanation, item)


# --- matplotlib, loaded on first use ------------------------------------------------------------------------------


class _Mpl:
    """The few matplotlib parts the pictures use."""

    def __init__(self) -> None:
        require("matplotlib", purpose=PURPOSE)
        self.Figure = require("matplotlib.figure", purpose=PURPOSE).Figure
        self.Canvas = require("matplotlib.backends.backend_agg", purpose=PURPOSE).FigureCanvasAgg
        colors = require("matplotlib.colors", purpose=PURPOSE)
        self.Normalize = colors.Normalize
        self.cmap = require("matplotlib", purpose=PURPOSE).colormaps[COLOURS]
        self.ScalarMappable = require("matplotlib.cm", purpose=PURPOSE).ScalarMappable

    def figure(self, width: float, height: float, *, constrained: bool = True) -> Any:
        figure = self.Figure(figsize=(width, height), layout="constrained" if constrained else None)
        self.Canvas(figure)  # the Agg canvas: savefig writes PNG without pyplot or a global backend
        return figure

    def norm(self, values: np.ndarray) -> Any:
        """A scale centred at 0, symmetric, so equal pushes up and down get equally strong colours."""
        limit = float(np.max(np.abs(values))) if values.size else 0.0
        limit = limit if limit > 0 and np.isfinite(limit) else 1.0
        return self.Normalize(vmin=-limit, vmax=limit)

    def legend(self, figure: Any, axes: Any, norm: Any, *, drawn: Any = None, below: Any = None) -> None:
        """The colour scale, as the picture draws its colours (``drawn``: the heatmap, translucent over the image);
        beside ``axes``, or horizontal in the axes ``below``."""
        mappable = drawn if drawn is not None else self.ScalarMappable(norm=norm, cmap=self.cmap)
        if below is not None:
            bar = figure.colorbar(mappable, cax=below, orientation="horizontal")
        else:
            bar = figure.colorbar(mappable, ax=axes, shrink=0.8, pad=0.02)
        bar.set_label("attribution (red: pushes the value up, blue: down)")


def _matplotlib() -> _Mpl:
    return _Mpl()


# --- titles ---------------------------------------------------------------------------------------------------------


def _title(explanation: Explanation, item: ItemExplanation) -> str:
    target = item.target
    kind = target.get("kind")
    if kind == "class":
        what = f"class {target.get('label', target.get('index'))}"
    elif kind == "similarity":
        what = "similarity to the compared input" if target.get("to") == "compare" else "similarity to itself"
    elif kind == "forecast":
        output = target.get("output", "forecast")
        what = "forecast" if output == "forecast" else f"forecast ({output})"
    else:
        what = str(kind)
    line = f"{explanation.model} · {explanation.method} · {what}: {item.value:.4g} (all removed: {item.base_value:.4g})"
    faithful = item.faithfulness
    if faithful:
        scores = ", ".join(f"{k.replace('_auc', ' AUC').replace('_', ' ')} {v:.2f}" for k, v in faithful.items())
        line += f"\nfaithfulness: {scores}"
    return line


# --- images: a heatmap over the picture -------------------------------------------------------------------------


def _heatmap(mpl: _Mpl, explanation: Explanation, item: ItemExplanation) -> Any:
    if item.grid is None:
        raise InvalidInput(f"an image explanation ({item.unit_kind} units) needs its grid to be drawn")
    rows, cols = item.grid
    values = np.asarray(item.attributions, dtype=np.float64)
    if values.size != rows * cols:
        raise InvalidInput(f"{values.size} attributions do not fill a {rows}x{cols} grid")
    grid = values.reshape(rows, cols)
    view = _picture(item.view, rows, cols)
    height, width = view.shape[:2]
    figure = mpl.figure(6.0, 5.2)
    axes = figure.add_subplot()
    extent = (0.0, float(width), float(height), 0.0)
    axes.imshow(view, cmap="gray", vmin=0.0, vmax=1.0, extent=extent, interpolation="nearest")
    norm = mpl.norm(values)
    heat = axes.imshow(grid, cmap=mpl.cmap, norm=norm, alpha=OVERLAY, extent=extent, interpolation="nearest")
    if view.ndim == 2 and view.max() > view.min():
        _outline(axes, view)
    axes.set_xticks([])
    axes.set_yticks([])
    axes.set_title(_title(explanation, item), fontsize=9)
    mpl.legend(figure, axes, norm, drawn=heat)
    return figure


def _outline(axes: Any, view: np.ndarray) -> None:
    """The grey image's shapes (a digit's strokes) outlined along its pixels' edges, so they read through the
    heatmap: the contour of the image upsampled without smoothing, at half its range."""
    factor = max(1, 64 // max(view.shape))
    sharp = np.kron(view, np.ones((factor, factor)))
    height, width = view.shape
    xs = (np.arange(sharp.shape[1]) + 0.5) * width / sharp.shape[1]
    ys = (np.arange(sharp.shape[0]) + 0.5) * height / sharp.shape[0]
    middle = (float(view.min()) + float(view.max())) / 2
    axes.contour(xs, ys, sharp, levels=[middle], colors="black", linewidths=1.2)


def _picture(view: np.ndarray | None, rows: int, cols: int) -> np.ndarray:
    """The image as the model saw it, scaled to [0, 1] for drawing (grey [H, W] or colour [H, W, 3]); a blank
    canvas of the grid's shape when the explanation carries no view."""
    if view is None:
        return np.full((rows, cols), 0.5)
    picture = np.asarray(view, dtype=np.float64)
    if picture.ndim == 3 and picture.shape[-1] == 1:
        picture = picture[..., 0]
    if picture.ndim not in (2, 3):
        raise InvalidInput(f"an image view is [H, W] or [H, W, C], not shape {list(picture.shape)}")
    low, high = float(np.min(picture)), float(np.max(picture))
    if low < 0.0 or high > 1.0:  # e.g. 0..255: stretch what is there
        picture = (picture - low) / (high - low) if high > low else np.zeros_like(picture)
    return picture


# --- text: highlighted words --------------------------------------------------------------------------------------


def _words(mpl: _Mpl, explanation: Explanation, item: ItemExplanation) -> Any:
    values = np.asarray(item.attributions, dtype=np.float64)
    norm = mpl.norm(values)
    lines = _wrap([str(u) for u in item.units], width=72)
    height = 1.9 + 0.42 * max(1, len(lines))
    # Fixed boxes, no layout engine: words are placed by their measured widths, which a layout pass would undo.
    figure = mpl.figure(8.0, height, constrained=False)
    legend_top = 1.1 / height
    axes = figure.add_axes((0.01, legend_top, 0.98, 1 - legend_top - 0.55 / height))
    axes.set_axis_off()
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    figure.suptitle(_title(explanation, item), fontsize=9, y=1 - 0.08 / height, va="top")
    step = 1.0 / (len(lines) + 1)
    index = 0
    for row, words in enumerate(lines):
        y = 1.0 - step * (row + 1)
        x = 0.01
        for word in words:
            colour = mpl.cmap(norm(values[index]))
            box = {"facecolor": colour, "edgecolor": "none", "boxstyle": "square,pad=0.25"}
            text = axes.text(x, y, word, fontsize=12, family="monospace", va="center", ha="left", bbox=box)
            x += _width(figure, axes, text) + 0.012
            index += 1
    mpl.legend(figure, axes, norm, below=figure.add_axes((0.25, 0.55 / height, 0.5, 0.16 / height)))
    return figure


def _wrap(words: list[str], *, width: int) -> list[list[str]]:
    """Words in lines of at most ``width`` characters (a longer word gets a line of its own)."""
    lines: list[list[str]] = [[]]
    used = 0
    for word in words:
        size = len(word) + 1
        if lines[-1] and used + size > width:
            lines.append([])
            used = 0
        lines[-1].append(word)
        used += size
    return lines if lines[-1] else lines[:-1] or [[]]


def _width(figure: Any, axes: Any, text: Any) -> float:
    """A drawn word's width in the axes' coordinates, its background included."""
    box = text.get_window_extent(renderer=figure.canvas.get_renderer())
    inverse = axes.transAxes.inverted()
    (x0, _), (x1, _) = inverse.transform([(box.x0, 0), (box.x1, 0)])
    return float(x1 - x0)


# --- series: bars over the lags, under the window --------------------------------------------------------------


def _lags(mpl: _Mpl, explanation: Explanation, item: ItemExplanation) -> Any:
    values = np.asarray(item.attributions, dtype=np.float64)
    norm = mpl.norm(values)
    positions = np.arange(values.size)
    figure = mpl.figure(8.0, 5.5)
    above, below = figure.subplots(2, 1, sharex=True, height_ratios=(1, 1.3))
    if item.view is not None:
        window = np.asarray(item.view, dtype=np.float64).reshape(-1)
        above.plot(np.arange(window.size) + (values.size - window.size), window, color="0.25", marker="o", ms=3)
    above.set_ylabel("value")
    above.set_title(_title(explanation, item), fontsize=9)
    below.bar(positions, values, color=[mpl.cmap(norm(v)) for v in values], edgecolor="0.4", linewidth=0.4)
    below.axhline(0.0, color="0.3", linewidth=0.6)
    below.set_ylabel("attribution")
    below.set_xticks(positions, [str(u) for u in item.units], rotation=90, fontsize=7)
    mpl.legend(figure, [above, below], norm)
    return figure
