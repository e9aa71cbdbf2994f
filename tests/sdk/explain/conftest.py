"""Artifacts the explanation tests share: linear models with known attributions, the tiny text model.

Their builders (onnx) are imported in the fixtures: on an install without onnx only the tests that use one skip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sdk import load
from sdk.runtime.model import LoadedModel

SERIES_WEIGHTS = np.array([1.0, -2.0, 3.0, 0.5, -1.0, 2.0, -0.25, 1.5])
SERIES_MEAN, SERIES_STD, OUT_MEAN, OUT_STD = 10.0, 2.0, 100.0, 3.0
SERIES_WINDOW = [12.0, 9.0, 10.0, 14.0, 7.0, 11.0, 6.0, 13.0]


def true_series_attributions(window: list[float]) -> np.ndarray:
    """w_i * (x_i - baseline_i) in the forecast's units: the baseline is the window's own mean."""
    x = np.asarray(window, dtype=np.float64)
    return SERIES_WEIGHTS * (x - x.mean()) / SERIES_STD * OUT_STD


@pytest.fixture(scope="session")
def linear_series(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    from tests.sdk.explain.linear import write_linear_series

    folder = write_linear_series(
        tmp_path_factory.mktemp("explain") / "linear-series",
        SERIES_WEIGHTS,
        mean=SERIES_MEAN,
        std=SERIES_STD,
        out_mean=OUT_MEAN,
        out_std=OUT_STD,
    )
    return load(folder)


@pytest.fixture(scope="session")
def linear_image_weights() -> np.ndarray:
    return np.random.default_rng(7).normal(size=(16 * 16, 3))


@pytest.fixture(scope="session")
def linear_image(tmp_path_factory: pytest.TempPathFactory, linear_image_weights: np.ndarray) -> LoadedModel:
    from tests.sdk.explain.linear import write_linear_image

    return load(write_linear_image(tmp_path_factory.mktemp("explain") / "linear-image", linear_image_weights))


@pytest.fixture(scope="session")
def tiny_text(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    from tests.sdk.runtime.text_artifact import write_text_artifact

    return load(write_text_artifact(tmp_path_factory.mktemp("explain") / "tiny-text", max_length=16))


@pytest.fixture(scope="session")
def digits(digits_artifact: Path) -> LoadedModel:
    return load(digits_artifact)
