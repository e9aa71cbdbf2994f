"""Recipe: the digits Transformer encoder (PyTorch), trained from scratch. Target: >= 97% test accuracy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from models.digits_cnn import images
from models.digits_cnn.data import LABELS, load_split
from models.digits_transformer.model import ROWS, WIDTH, DigitsTransformer
from models.torch_training import fit, load_state, predict, save_state
from sdk.artifacts import TensorSpec
from sdk.compile import Evaluation, QualityGate, Recipe, Trained

NAME = "digits-transformer"


def rows(images: np.ndarray) -> np.ndarray:
    """[N, 1, 8, 8] images -> [N, 8, 8]: a sequence of 8 rows of 8 pixels."""
    return np.ascontiguousarray(images[:, 0])


def shifted(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The training images plus copies shifted one pixel up, down, left and right (zero-filled)."""
    copies = [images]
    for axis, step in ((2, 1), (2, -1), (3, 1), (3, -1)):
        moved = np.roll(images, step, axis=axis)
        edge = [slice(None)] * 4
        edge[axis] = 0 if step == 1 else -1
        moved[tuple(edge)] = 0.0
        copies.append(moved)
    return np.concatenate(copies), np.tile(labels, len(copies))


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(-1) == labels).mean())


def train(*, seed: int = 0, epochs: int | None = 20, progress: bool = True) -> Trained:
    split = load_split(seed)
    torch.manual_seed(seed)
    model = DigitsTransformer()
    loss = nn.CrossEntropyLoss()
    x_train, y_train = shifted(split.x_train, split.y_train)
    fit(
        model,
        rows(x_train),
        y_train,
        loss_fn=lambda out, y: loss(out[0], y),
        epochs=20 if epochs is None else epochs,
        lr=2e-3,
        weight_decay=1e-4,
        batch_size=64,
        seed=seed,
        desc=f"train {NAME}",
        progress=progress,
    )
    test_accuracy = accuracy(predict(model, rows(split.x_test)), split.y_test)
    return Trained(model, {"test_accuracy": round(test_accuracy, 4), "test_samples": float(len(split.y_test))})


def evaluation(seed: int) -> Evaluation:
    split = load_split(seed)
    return Evaluation({"rows": rows(split.x_test)}, lambda out: {"accuracy": accuracy(out["logits"], split.y_test)})


RECIPE = Recipe(
    name=NAME,
    framework="pytorch",
    task="classification",
    description="Handwritten digit classifier: a 2-layer Transformer encoder reading the 8 rows of each digit.",
    inputs=(
        TensorSpec(
            name="rows",
            dtype="float32",
            shape=(-1, ROWS, WIDTH),
            dim_names=("batch", None, None),
            description="8x8 grey digit as 8 rows of 8 pixels, values in [0, 1] (load_digits / 16)",
        ),
    ),
    outputs=(
        TensorSpec(name="logits", dtype="float32", shape=(-1, 10), dim_names=("batch", None)),
        TensorSpec(name="probabilities", dtype="float32", shape=(-1, 10), dim_names=("batch", None)),
    ),
    train=train,
    save=save_state,
    load=lambda folder: load_state(DigitsTransformer(), Path(folder)),
    evaluation=evaluation,
    quality=QualityGate(metric="accuracy", max_drop=0.005),
    default_epochs=20,
    labels=LABELS,
    classify_output="logits",
    processors=images.processors("rows", "NHW"),
    raw_evaluation=lambda seed: images.raw_evaluation(seed, "rows", "NHW"),
)
