"""Adaptation fixtures: few labelled digits (PNG files or tensors) from the held-out split's training half, and one
adapted artifact of the built-in digits CNN shared by the tests that only read it."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from sdk.adaptation import AdaptResult, adapt


def odd_or_even(digits: Sequence[int]) -> list[str]:
    return ["odd" if int(d) % 2 else "even" for d in digits]


def pick(labels: np.ndarray, classes: Sequence[int], per_class: int, seed: int = 0) -> np.ndarray:
    """``per_class`` indices of each of ``classes``, drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in classes])


def write_png_csv(folder: Path, images: np.ndarray, labels: Sequence[str]) -> Path:
    """``folder/data.csv`` with columns image (a PNG path relative to it) and label; the PNGs beside it."""
    from models.digits_cnn.images import png_bytes

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "png").mkdir(exist_ok=True)
    with open(folder / "data.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "label"])
        for i, (image, label) in enumerate(zip(images, labels)):
            (folder / "png" / f"{i}.png").write_bytes(png_bytes(image))
            writer.writerow([f"png/{i}.png", label])
    return folder / "data.csv"


@pytest.fixture(scope="session")
def odd_even_data(digits_split, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six PNGs of each digit from the training half, labelled odd or even, as a CSV."""
    chosen = pick(digits_split.y_train, range(10), 6)
    return write_png_csv(
        tmp_path_factory.mktemp("odd-even"), digits_split.x_train[chosen], odd_or_even(digits_split.y_train[chosen])
    )


@pytest.fixture(scope="session")
def odd_even(odd_even_data: Path, tmp_path_factory: pytest.TempPathFactory) -> AdaptResult:
    """The built-in digits CNN adapted to odd/even from those PNGs (read-only: copy it before changing anything)."""
    return adapt("digits-cnn", odd_even_data, tmp_path_factory.mktemp("adapted") / "odd-even", name="digits-parity")


@pytest.fixture
def odd_even_copy(odd_even: AdaptResult, tmp_path: Path) -> Path:
    target = tmp_path / "odd-even"
    shutil.copytree(odd_even.path, target)
    return target
