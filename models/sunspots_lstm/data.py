"""Yearly sunspot numbers (statsmodels ships them), cut into 20-year windows; the years 1947-2008 are held out.

Shared by the PyTorch and the Keras recipe, with the AR(9) baseline both must beat (fitted by statsmodels on the
training years only, and scored on the same held-out years, one step ahead from the true past values).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sdk.artifacts.processors_schema import OutputSpec, ProcessorsSpec, SeriesSpec
from sdk.compile import RawEvaluation

WINDOW = 20
TEST_FROM = 1947
AR_LAGS = 9
SCALE = 100.0  # sunspot numbers are 0-250; the models divide by this inside the graph


@dataclass(frozen=True)
class Split:
    x_train: np.ndarray  # [N, WINDOW, 1] float32, raw sunspot numbers
    y_train: np.ndarray  # [N, 1]
    x_test: np.ndarray
    y_test: np.ndarray
    test_years: np.ndarray
    series: np.ndarray
    years: np.ndarray


def load_series() -> tuple[np.ndarray, np.ndarray]:
    from statsmodels.datasets import sunspots

    frame = sunspots.load_pandas().data
    return frame["YEAR"].to_numpy().astype(int), frame["SUNACTIVITY"].to_numpy().astype(np.float32)


def load_split() -> Split:
    years, series = load_series()
    x = np.stack([series[i : i + WINDOW] for i in range(len(series) - WINDOW)])[:, :, None]
    y = series[WINDOW:, None]
    target_years = years[WINDOW:]
    test = target_years >= TEST_FROM
    return Split(x[~test], y[~test], x[test], y[test], target_years[test], series, years)


def processors() -> ProcessorsSpec:
    """The last WINDOW yearly numbers in (oldest first), next year's number out. Both recipes' graphs scale inside
    (the PyTorch one divides by SCALE, the Keras one takes square roots), so the series goes in as raw sunspot
    numbers (mean 0, std 1) and the forecast comes out in sunspot numbers."""
    return ProcessorsSpec(
        series=SeriesSpec(input="window", window=WINDOW, mean=0.0, std=1.0),
        output=OutputSpec(kind="forecast", output="forecast", mean=0.0, std=1.0),
    )


def raw_evaluation(seed: int = 0) -> RawEvaluation:
    """The held-out windows as plain lists of yearly numbers, and the recipe's own windowing of them."""
    split = load_split()

    def preprocess(items: Sequence[Sequence[float]]) -> dict[str, np.ndarray]:
        return {"window": np.asarray(items, dtype=np.float32).reshape(len(items), WINDOW, 1)}

    return RawEvaluation(
        items=[row[:, 0].tolist() for row in split.x_test],
        preprocess=preprocess,
        reference="the recipe's windowing (raw sunspot numbers; the graph scales)",
    )


def rmse(predicted: np.ndarray, actual: np.ndarray) -> float:
    return float(np.sqrt(np.mean((predicted.reshape(-1) - actual.reshape(-1)) ** 2)))


def ar_baseline(split: Split | None = None) -> float:
    """Test RMSE of statsmodels' AR(9), fitted on the years before 1947, predicting each test year one step ahead."""
    from statsmodels.tsa.ar_model import AutoReg

    split = split or load_split()
    train_end = int(np.searchsorted(split.years, TEST_FROM))
    fitted = AutoReg(split.series[:train_end].astype(np.float64), lags=AR_LAGS).fit()
    const, coefs = fitted.params[0], fitted.params[1:]
    predictions = [
        const + float(np.dot(coefs, split.series[t - AR_LAGS : t][::-1])) for t in range(train_end, len(split.series))
    ]
    return rmse(np.asarray(predictions), split.y_test)
