"""Head mode where a device has only `pip install "aiaas-sdk[edge]"` (numpy, onnxruntime, and the core): no torch, no
onnx, no scikit-learn, no scipy. The project's wheel is installed into an environment of its own (as
tests/sdk/test_core_install.py does for the core install), then `sdk adapt` runs there and its artifact answers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.sdk.adapt.conftest import pick
from tests.sdk.test_core_install import CoreEnv, wheel_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ABSENT = ("torch", "onnx", "sklearn", "scipy", "tensorflow")


@pytest.fixture(scope="module")
def edge_env(tmp_path_factory: pytest.TempPathFactory) -> CoreEnv:
    """A venv (reused across runs under .venvs/edge) holding the project's wheel with the edge extra only."""
    return wheel_env("edge", "edge", tmp_path_factory.mktemp("wheel"))


def test_head_mode_runs_with_only_the_edge_extra(edge_env: CoreEnv, digits_split, tmp_path: Path) -> None:
    chosen = pick(digits_split.y_train, range(5, 10), 5)
    np.savez(tmp_path / "five.npz", x=digits_split.x_train[chosen], y=digits_split.y_train[chosen])
    held = np.isin(digits_split.y_test, range(5, 10))
    np.savez(tmp_path / "held.npz", x=digits_split.x_test[held], y=digits_split.y_test[held].astype(str))
    done = edge_env.run(edge_env.sdk, "adapt", "digits-cnn", "--data", "five.npz", "--out", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "parity: max |diff|" in done.stdout
    check = (
        "import json, sys, numpy as np, sdk\n"
        "held = np.load('held.npz')\n"
        "model = sdk.load('out')\n"
        "p = model({'image': held['x']})['probabilities']\n"
        "accuracy = float((np.array(model.manifest.labels)[p.argmax(1)] == held['y']).mean())\n"
        f"print(json.dumps([accuracy, [m for m in {ABSENT!r} if m in sys.modules]]))\n"
    )
    ran = edge_env.run(edge_env.python, "-c", check, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    accuracy, loaded = json.loads(ran.stdout)
    assert accuracy >= 0.8 and loaded == []
    missing = edge_env.run(
        edge_env.python, "-c", f"import importlib.util as u; print([m for m in {ABSENT!r} if u.find_spec(m)])"
    )
    assert missing.stdout.strip() == "[]"  # none installed at all: head mode needed none of them
