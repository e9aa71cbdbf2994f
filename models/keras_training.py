"""Helpers the Keras recipes share: seeded setup, fitting with Keras' progress bar, and checkpoint files."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

CHECKPOINT = "model.keras"


def keras_module(seed: int | None = None) -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import keras
    if seed is not None:
        keras.utils.set_random_seed(seed)
    return keras


def fit(
    model: Any,
    x: np.ndarray,
    y: np.ndarray,
    *,
    loss: Any,
    epochs: int,
    lr: float,
    batch_size: int,
    progress: bool,
) -> Any:
    """Adam with cosine decay; Keras' own progress bar when ``progress``."""
    keras = keras_module()
    steps = max(1, epochs * int(np.ceil(len(x) / batch_size)))
    schedule = keras.optimizers.schedules.CosineDecay(lr, decay_steps=steps)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=loss)
    model.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=1 if progress else 0)
    return model


def predict(model: Any, x: np.ndarray) -> np.ndarray:
    out = model(x, training=False)
    return np.asarray(out[0] if isinstance(out, (list, tuple)) else out)


def save_model(model: Any, folder: Path) -> None:
    model.save(str(Path(folder) / CHECKPOINT))


def load_model(folder: Path) -> Any:
    return keras_module().models.load_model(str(Path(folder) / CHECKPOINT), compile=False)
