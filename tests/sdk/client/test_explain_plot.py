"""`sdk.explain.plot`: each kind of explanation draws a PNG where the most attributed unit has the strongest colour.

The explanations are built from the dataclasses (no model needed). Where a unit lands in the picture is the layout's
business, so the checks compare two pictures that differ only in which unit carries the top attribution: the pixels
whose colour changed most between them must sit where that unit was drawn (its corner of the digit, its bar, its
word's width), and the colour there must be the strongest of the picture outside the legend.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from sdk.errors import InvalidInput, MissingDependency
from sdk.explain import Explanation, ItemExplanation
from sdk.explain.plot import plot

pytest.importorskip("matplotlib", reason='pictures need pip install "aiaas-sdk[plot]"')
Image = pytest.importorskip("PIL.Image")


def explanation(item: ItemExplanation) -> Explanation:
    return Explanation("m", "1", "occlusion", [item], evaluations=64, calls=2, time_ms=3.0, seed=0, partial=False)


def digit(top: int) -> Explanation:
    """An 8x8 digit explanation whose strongest attribution is on pixel ``top`` (row-major)."""
    attributions = np.linspace(-0.05, 0.05, 64)
    attributions[top] = 1.0
    view = np.zeros((8, 8))
    view[2:6, 3:5] = 1.0
    units = [f"r{r}c{c}" for r in range(8) for c in range(8)]
    target = {"kind": "class", "index": 7, "label": "7"}
    faithful = {"deletion_auc": 0.2, "insertion_auc": 0.8}
    return explanation(ItemExplanation(units, "pixel", attributions, (8, 8), view, target, 0.9, 0.1, faithful))


def words(top: int) -> Explanation:
    units = ["a", "tremendously", "ok", "cat", "x"]
    attributions = np.array([0.05, -0.05, 0.02, -0.01, 0.03])
    attributions[top] = 0.9
    target = {"kind": "similarity", "to": "compare"}
    return explanation(ItemExplanation(units, "word", attributions, None, None, target, 0.8, 0.2))


def lags(top: int) -> Explanation:
    attributions = np.linspace(-0.1, 0.1, 20)
    attributions[top] = 3.0
    view = np.sin(np.arange(20) / 3.0) * 50 + 60
    target = {"kind": "forecast", "output": "forecast"}
    units = [f"t-{20 - i}" for i in range(20)]
    return explanation(ItemExplanation(units, "lag", attributions, None, view, target, 80.0, 60.0))


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as picture:
        assert picture.format == "PNG"
        return np.asarray(picture.convert("RGB"), dtype=np.int32)


def strength(rgb: np.ndarray) -> np.ndarray:
    """How strongly coloured each pixel is: 0 for grey, white and black; large for a saturated red or blue."""
    return rgb.max(axis=-1) - rgb.min(axis=-1)


def moved(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Where picture ``a`` is strongly coloured and ``b`` is not: the top unit of ``a``'s region."""
    gain = strength(a) - strength(b)
    return gain > 0.5 * gain.max()


def centre(mask: np.ndarray) -> tuple[float, float]:
    rows, cols = np.nonzero(mask)
    return float(rows.mean()), float(cols.mean())


def test_a_digit_draws_a_heatmap_whose_strongest_cell_is_the_top_pixel(tmp_path: Path) -> None:
    first, last = pixels(plot(digit(0), tmp_path / "a.png")), pixels(plot(digit(63), tmp_path / "b.png"))
    assert first.shape == last.shape and first.shape[0] > 300 and first.shape[1] > 300
    assert len(np.unique(first.reshape(-1, 3), axis=0)) > 50  # not blank: a picture, a heatmap, a legend
    top_left, bottom_right = centre(moved(first, last)), centre(moved(last, first))
    assert top_left[0] < bottom_right[0] and top_left[1] < bottom_right[1]
    region = moved(first, last)
    assert strength(first)[region].max() >= np.percentile(strength(first), 99)
    # red means "pushes up": the top cell's colour leans red, not blue
    reds = first[region]
    assert (reds[:, 0] > reds[:, 2]).mean() > 0.9


def test_words_are_highlighted_with_the_top_word_most_coloured(tmp_path: Path) -> None:
    long_top = pixels(plot(words(1), tmp_path / "long.png"))  # "tremendously" explains most
    short_top = pixels(plot(words(0), tmp_path / "short.png"))  # "a" explains most
    assert len(np.unique(long_top.reshape(-1, 3), axis=0)) > 20
    # The strongest word's background is as wide as the word: twelve letters colour far more than one.
    assert moved(long_top, short_top).sum() > 4 * moved(short_top, long_top).sum()
    region = moved(long_top, short_top)
    assert (long_top[region][:, 0] > long_top[region][:, 2]).mean() > 0.9


def test_lags_draw_bars_under_the_window_with_the_top_lag_strongest(tmp_path: Path) -> None:
    old, recent = pixels(plot(lags(1), tmp_path / "old.png")), pixels(plot(lags(18), tmp_path / "recent.png"))
    assert len(np.unique(old.reshape(-1, 3), axis=0)) > 20
    assert centre(moved(old, recent))[1] < centre(moved(recent, old))[1]  # t-19 is drawn left of t-2
    assert strength(old)[moved(old, recent)].max() >= np.percentile(strength(old), 99)


def test_each_item_of_an_explanation_can_be_drawn_and_a_missing_one_is_named(tmp_path: Path) -> None:
    two = digit(0)
    two.items.append(digit(63).items[0])
    assert (tmp_path / "deep" / "one.png") == plot(two, tmp_path / "deep" / "one.png", item=1)
    with pytest.raises(InvalidInput, match="item 2 is not in this explanation: it holds 2"):
        plot(two, tmp_path / "x.png", item=2)


def test_without_matplotlib_the_error_names_the_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what an environment without the plot extra imports
    with pytest.raises(MissingDependency) as caught:
        plot(digit(0), tmp_path / "x.png")
    assert caught.value.hint == 'pip install "aiaas-sdk[plot]"'
    assert not (tmp_path / "x.png").exists()
