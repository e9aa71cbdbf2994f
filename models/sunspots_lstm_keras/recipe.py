"""Recipe: the sunspot LSTM forecaster in Keras 3 (twin of models/sunspots_lstm). Must beat AR(9) on 1947-2008."""

from __future__ import annotations

from typing import Any

import numpy as np

from models.keras_training import fit, keras_module, load_model, predict, save_model
from models.sunspots_lstm.data import WINDOW, ar_baseline, load_split, processors, raw_evaluation, rmse
from sdk.artifacts import TensorSpec
from sdk.compile import Evaluation, QualityGate, Recipe, Trained

NAME = "sunspots-lstm-keras"
keras = keras_module()


@keras.saving.register_keras_serializable(package="aiaas")
class Root(keras.layers.Layer):
    """sqrt(max(x, 0)) / 10: the square-root scale the model works on (inside the graph)."""

    def call(self, x: Any) -> Any:
        return keras.ops.sqrt(keras.ops.maximum(x, 0.0)) / 10.0


@keras.saving.register_keras_serializable(package="aiaas")
class Unroot(keras.layers.Layer):
    """Back from the square-root scale to sunspot numbers."""

    def call(self, x: Any) -> Any:
        return keras.ops.square(keras.ops.maximum(x * 10.0, 0.0))


def build(seed: int, split: Any) -> tuple[Any, Any]:
    """(model on raw numbers, the same layers on the root scale for training)."""
    keras_module(seed)
    layers = keras.layers
    root_in = keras.Input((WINDOW, 1), name="root_window")
    hidden = layers.LSTM(32)(root_in)
    flat = layers.Flatten()(root_in)
    linear = layers.Dense(1, name="linear")
    root_out = layers.Add()([layers.Dense(1)(hidden), linear(flat)])
    core = keras.Model(root_in, root_out)
    features = np.sqrt(np.clip(split.x_train[:, :, 0], 0, None)) / 10
    target = np.sqrt(np.clip(split.y_train[:, 0], 0, None)) / 10
    coef = np.linalg.lstsq(np.c_[features, np.ones(len(features))], target, rcond=None)[0]
    linear.set_weights([coef[:-1, None].astype(np.float32), coef[-1:].astype(np.float32)])
    window = keras.Input((WINDOW, 1), name="window")
    model = keras.Model(window, Unroot(name="forecast")(core(Root()(window))), name="sunspots_lstm")
    return model, core


def train(*, seed: int = 0, epochs: int | None = 100, progress: bool = True) -> Trained:
    split = load_split()
    model, core = build(seed, split)
    fit(
        core,
        np.sqrt(split.x_train) / 10,
        np.sqrt(split.y_train) / 10,
        loss="mse",
        epochs=100 if epochs is None else epochs,
        lr=5e-3,
        batch_size=32,
        progress=progress,
    )
    test_rmse = rmse(predict(model, split.x_test), split.y_test)
    return Trained(
        model,
        {
            "test_rmse": round(test_rmse, 4),
            "ar9_test_rmse": round(ar_baseline(split), 4),
            "test_samples": float(len(split.y_test)),
        },
    )


def evaluation(seed: int) -> Evaluation:
    split = load_split()
    return Evaluation({"window": split.x_test}, lambda out: {"rmse": rmse(out["forecast"], split.y_test)})


RECIPE = Recipe(
    name=NAME,
    framework="keras",
    task="forecasting",
    description="Next year's sunspot number from the previous 20 years (Keras LSTM + linear AR path).",
    inputs=(TensorSpec(name="window", dtype="float32", shape=(-1, WINDOW, 1), dim_names=("batch", None, None)),),
    outputs=(TensorSpec(name="forecast", dtype="float32", shape=(-1, 1), dim_names=("batch", None)),),
    train=train,
    save=save_model,
    load=load_model,
    evaluation=evaluation,
    quality=QualityGate(metric="rmse", max_relative_increase=0.02),
    default_epochs=100,
    processors=processors(),
    raw_evaluation=raw_evaluation,
    fp32_tolerance=1e-3,  # outputs reach ~250 sunspots (see models/sunspots_lstm/recipe.py)
)
