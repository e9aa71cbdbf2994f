"""Recipe: the sunspot LSTM forecaster (PyTorch). Must beat statsmodels' AR(9) on the held-out years 1947-2008."""

from __future__ import annotations

from pathlib import Path

import torch

from models.sunspots_lstm.data import WINDOW, ar_baseline, load_split, processors, raw_evaluation, rmse
from models.sunspots_lstm.model import SunspotLSTM
from models.torch_training import fit, load_state, predict, save_state
from sdk.artifacts import TensorSpec
from sdk.compile import Evaluation, QualityGate, Recipe, Trained

NAME = "sunspots-lstm"


def train(*, seed: int = 0, epochs: int | None = 100, progress: bool = True) -> Trained:
    split = load_split()
    torch.manual_seed(seed)
    model = SunspotLSTM()
    model.init_linear_path(split.x_train, split.y_train)
    fit(
        model,
        split.x_train,
        split.y_train,
        loss_fn=lambda p, y: ((p - y) / 100.0).pow(2).mean(),
        epochs=100 if epochs is None else epochs,
        lr=5e-3,
        weight_decay=1e-3,
        batch_size=32,
        seed=seed,
        desc=f"train {NAME}",
        progress=progress,
    )
    test_rmse = rmse(predict(model, split.x_test), split.y_test)
    persistence = rmse(split.x_test[:, -1, 0], split.y_test)
    return Trained(
        model,
        {
            "test_rmse": round(test_rmse, 4),
            "ar9_test_rmse": round(ar_baseline(split), 4),
            "persistence_test_rmse": round(persistence, 4),
            "test_samples": float(len(split.y_test)),
        },
    )


def evaluation(seed: int) -> Evaluation:
    split = load_split()
    return Evaluation({"window": split.x_test}, lambda out: {"rmse": rmse(out["forecast"], split.y_test)})


RECIPE = Recipe(
    name=NAME,
    framework="pytorch",
    task="forecasting",
    description="Next year's sunspot number from the previous 20 years (LSTM + linear AR path, statsmodels' data).",
    inputs=(
        TensorSpec(
            name="window",
            dtype="float32",
            shape=(-1, WINDOW, 1),
            dim_names=("batch", None, None),
            description=f"the last {WINDOW} yearly sunspot numbers, oldest first",
        ),
    ),
    outputs=(TensorSpec(name="forecast", dtype="float32", shape=(-1, 1), dim_names=("batch", None)),),
    train=train,
    save=save_state,
    load=lambda folder: load_state(SunspotLSTM(), Path(folder)),
    evaluation=evaluation,
    quality=QualityGate(metric="rmse", max_relative_increase=0.02),
    default_epochs=100,
    processors=processors(),
    raw_evaluation=raw_evaluation,
    # Outputs reach ~250 (sunspot numbers): 1e-4 relative to that scale is 2.5e-2; fp32 rounding stays far below.
    fp32_tolerance=1e-3,
)
