"""The training recipe reproduces the shipped default model (seeded end to end)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sdk import load
from sdk.artifacts import read_manifest, verify_artifact

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def retrained():
    from models.digits_cnn.train import train

    return train(seed=0, epochs=40, progress=False)


def test_same_seed_gives_the_same_weights(retrained) -> None:
    from models.digits_cnn.train import train
    from sdk.compile.torch_export import weights_sha256

    model, _ = retrained
    again, _ = train(seed=0, epochs=2, progress=False)
    once_more, _ = train(seed=0, epochs=2, progress=False)
    assert weights_sha256(again) == weights_sha256(once_more)
    assert weights_sha256(again) != weights_sha256(model)


def test_recipe_rebuilds_the_shipped_artifact(retrained, tmp_path: Path, digits_artifact: Path, digits_split) -> None:
    from models.digits_cnn.train import build_artifact
    from sdk.compile.torch_export import weights_sha256

    model, accuracy = retrained
    shipped = read_manifest(digits_artifact)
    assert accuracy >= 0.98
    assert accuracy == pytest.approx(shipped.metrics["test_accuracy"], abs=1e-4)
    # Same torch, same seed, single-threaded kernels: the same weights as the shipped model.
    assert weights_sha256(model) == shipped.source.sha256

    rebuilt = build_artifact(model, tmp_path / "digits-cnn", version="1", accuracy=accuracy, seed=0)
    verify_artifact(tmp_path / "digits-cnn", rebuilt)
    assert rebuilt.artifacts[0].parity.passed
    ours = load(tmp_path / "digits-cnn")({"image": digits_split.x_test})["logits"]
    theirs = load(digits_artifact)({"image": digits_split.x_test})["logits"]
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
