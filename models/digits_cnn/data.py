"""The digits data: 1,797 8x8 images shipped with scikit-learn, split 80/20, stratified and seeded (no torch needed)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sdk.artifacts import TensorSpec

NAME = "digits-cnn"
LABELS = tuple(str(d) for d in range(10))
DESCRIPTION = "Handwritten digit classifier (CNN, ~38k parameters) trained on scikit-learn's digits."
INPUTS = (
    TensorSpec(
        name="image",
        dtype="float32",
        shape=(-1, 1, 8, 8),
        dim_names=("batch", None, None, None),
        description="8x8 grey digit, pixel values scaled to [0, 1] (scikit-learn's load_digits / 16)",
    ),
)
OUTPUTS = (
    TensorSpec(name="logits", dtype="float32", shape=(-1, 10), dim_names=("batch", None)),
    TensorSpec(name="probabilities", dtype="float32", shape=(-1, 10), dim_names=("batch", None)),
)


@dataclass(frozen=True)
class Split:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_split(seed: int = 0) -> Split:
    """Images scaled to [0, 1] as float32 [N, 1, 8, 8]; labels int64. The same seed gives the same split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, stratify=y, random_state=seed)
    return Split(x_train, y_train, x_test, y_test)
