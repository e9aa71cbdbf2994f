"""Recipe: the scale-test encoder (PyTorch, seeded random weights; `train` builds it, nothing is trained).

A transformer of MiniLM's architecture at 2.45 GB of fp32 weights (``model.FULL``), marked as a scale test in its
manifest (task ``scale-test``, the description, the ``scale_test`` metric). ``sdk compile scale-test`` exports it
straight to external data shards, gates fp32 on a few short inputs, and builds int8 with its quality gate. Held-out
inputs are random token ids: there is no text to be faithful to, only the source model to reproduce.
``AIAAS_SCALE_TEST_SHAPE=layers,hidden,heads[,vocab]`` builds it at another size (the tests' tiny one).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from models.scale_test.model import MAX_POSITIONS, build, describe, shape_from_env, weights_sha256
from sdk.artifacts import TensorSpec
from sdk.compile import Evaluation, QualityGate, Recipe, Trained

NAME = "scale-test"
POINTER = "scale_test.json"
CLS, SEP = 101, 102


def train(*, seed: int = 0, epochs: int | None = None, progress: bool = True) -> Trained:
    """Build the encoder from ``seed`` (``epochs`` does not apply: the weights are random by design)."""
    shape = shape_from_env()
    facts = describe(shape)
    return Trained(build(shape, seed), {"scale_test": 1.0, "parameters": float(facts["parameters"])})


def save(model: object, folder: Path) -> None:
    """Record how to rebuild the weights (shape and seed) and their sha256, not the 2.45 GB themselves."""
    shape = shape_from_env()
    record = {"shape": describe(shape), "seed": 0, "weights_sha256": weights_sha256(model)}
    (folder / POINTER).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def load(folder: Path) -> object:
    record = json.loads((Path(folder) / POINTER).read_text(encoding="utf-8"))
    model = build(shape_from_env(), int(record["seed"]))
    if weights_sha256(model) != record["weights_sha256"]:
        raise ValueError(f"the rebuilt scale-test weights differ from those {folder} recorded (another shape?)")
    return model


def evaluation(seed: int) -> Evaluation:
    """Four short sequences of random token ids (16 tokens, one padded to 9): a few seconds of the full model."""
    vocab = shape_from_env().vocab
    rng = np.random.default_rng(seed + 1)
    ids = rng.integers(1000 % vocab, vocab, size=(4, 16), dtype=np.int64)
    ids[:, 0], ids[:, -1] = CLS % vocab, SEP % vocab
    mask = np.ones_like(ids)
    mask[3, 9:], ids[3, 9:] = 0, 0
    ids[3, 8] = SEP % vocab
    return Evaluation({"input_ids": ids, "attention_mask": mask})


_TEXT = ("batch", "sequence")
RECIPE = Recipe(
    name=NAME,
    framework="pytorch",
    task="scale-test",
    description="SCALE TEST MODEL, random weights, not for use: MiniLM's architecture (BERT encoder, mean pooling, "
    "L2 normalisation) at 20 layers x 1536 wide, 2.45 GB of fp32 weights, built from a seed.",
    inputs=(
        TensorSpec(
            name="input_ids",
            dtype="int64",
            shape=(-1, -1),
            dim_names=_TEXT,
            max_shape=(-1, MAX_POSITIONS),
            description="token ids (random in the scale test)",
        ),
        TensorSpec(
            name="attention_mask",
            dtype="int64",
            shape=(-1, -1),
            dim_names=_TEXT,
            max_shape=(-1, MAX_POSITIONS),
            description="1 for real tokens, 0 for padding",
        ),
    ),
    outputs=(
        TensorSpec(
            name="embedding",
            dtype="float32",
            shape=(-1, -1),
            dim_names=("batch", None),
            description="unit-length mean-pooled embedding",
        ),
    ),
    train=train,
    save=save,
    load=load,
    evaluation=evaluation,
    quality=QualityGate(metric="cosine", minimum=0.99, output="embedding"),
)
