"""Recipe: the digits CNN (PyTorch), the embedded default model. Training is ``models.digits_cnn.train``'s."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.digits_cnn import images
from models.digits_cnn.data import DESCRIPTION, INPUTS, LABELS, NAME, OUTPUTS, load_split
from models.digits_cnn.model import DigitsCNN
from models.digits_cnn.train import train as train_cnn
from models.torch_training import load_state, save_state
from sdk.compile import Evaluation, QualityGate, Recipe, Trained


def train(*, seed: int = 0, epochs: int | None = 40, progress: bool = True) -> Trained:
    model, accuracy = train_cnn(seed=seed, epochs=40 if epochs is None else epochs, progress=progress)
    return Trained(model, {"test_accuracy": round(accuracy, 4), "test_samples": 360.0})


def evaluation(seed: int) -> Evaluation:
    split = load_split(seed)
    return Evaluation({"image": split.x_test}, lambda out: {"accuracy": accuracy(out["logits"], split.y_test)})


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(-1) == labels).mean())


RECIPE = Recipe(
    name=NAME,
    framework="pytorch",
    task="classification",
    description=DESCRIPTION,
    inputs=INPUTS,
    outputs=OUTPUTS,
    train=train,
    save=save_state,
    load=lambda folder: load_state(DigitsCNN(), Path(folder)),
    evaluation=evaluation,
    quality=QualityGate(metric="accuracy", max_drop=0.005),
    default_epochs=40,
    labels=LABELS,
    classify_output="logits",
    processors=images.processors("image", "NCHW"),
    raw_evaluation=lambda seed: images.raw_evaluation(seed, "image", "NCHW"),
)
