"""KServe's own Python client (``kserve.InferenceRESTClient``, protocol v2) against a real `sdk serve`: health and
model readiness, FP32 tensors and BYTES text as JSON and as binary data, requested outputs either way, a plain dict
request, and the errors it raises for a bad shape, an unknown model and a wrong datatype. The client lives in its own
venv (KServe pins psutil, starlette... against ours), made by scripts/setup_kserve.sh, which scripts/test.sh runs;
the calls are tests/sdk/serving/kserve_probe.py, run there, one JSON line per case."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sdk import load
from sdk.artifacts.store import BUILTIN_ROOT
from tests.conftest import REPO
from tests.sdk.runtime.text_artifact import write_text_artifact
from tests.sdk.serving.conftest import start_server

KSERVE_PYTHON = REPO / ".venvs" / "kserve" / "bin" / "python"
PROBE = Path(__file__).with_name("kserve_probe.py")
DIGIT = np.full((2, 1, 8, 8), 0.5, dtype=np.float32)  # as the probe sends it
TEXTS = ["the cat sat", "a mat on the mat"]


@pytest.fixture(scope="module")
def text_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_text_artifact(tmp_path_factory.mktemp("kserve-store") / "tiny-text" / "1")


@pytest.fixture(scope="module")
def cases(text_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    if not KSERVE_PYTHON.exists():
        pytest.skip(f"no KServe client venv at {KSERVE_PYTHON.parent.parent}: bash scripts/setup_kserve.sh makes it")
    root = text_model.parent.parent
    server = start_server(root, tmp_path_factory.mktemp("kserve-logs"))
    try:
        done = subprocess.run(
            [str(KSERVE_PYTHON), str(PROBE), server.url], capture_output=True, text=True, timeout=300, cwd="/"
        )
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr[-3000:]
    yield {line["case"]: line for line in map(json.loads, done.stdout.splitlines())}


def test_health_and_model_readiness(cases: dict[str, dict[str, Any]]) -> None:
    assert [cases[c]["value"] for c in ("live", "ready", "model ready", "unknown model ready")] == [
        True,
        True,
        True,
        False,
    ]


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_tensors_and_text_answer_as_the_model_does(
    cases: dict[str, dict[str, Any]], text_model: Path, binary: bool
) -> None:
    digits = load(BUILTIN_ROOT / "digits-cnn" / "1")(DIGIT)
    full = cases[f"digits binary={binary}"]
    assert full["id"] == f"kserve-{binary}" and full["model"] == "digits-cnn"
    assert set(full["outputs"]) == set(digits)
    for name, expected in digits.items():
        got = full["outputs"][name]
        assert got["shape"] == list(expected.shape) and got["datatype"] == "FP32"
        np.testing.assert_allclose(got["data"], expected, rtol=1e-6, atol=1e-6)
    for binary_out in (False, True):
        only = cases[f"digits binary={binary} probabilities binary={binary_out}"]["outputs"]
        assert list(only) == ["probabilities"]
        np.testing.assert_allclose(only["probabilities"]["data"], digits["probabilities"], rtol=1e-6, atol=1e-6)
    embedding = cases[f"text binary={binary}"]["outputs"]["embedding"]
    expected = load(text_model)(TEXTS)["embedding"]
    assert embedding["shape"] == list(expected.shape) and embedding["datatype"] == "FP32"
    np.testing.assert_array_equal(embedding["data"], expected)


def test_a_plain_dict_request(cases: dict[str, dict[str, Any]]) -> None:
    expected = load(BUILTIN_ROOT / "digits-cnn" / "1")(np.full((1, 1, 8, 8), 0.5, dtype=np.float32))
    np.testing.assert_allclose(cases["digits as a dict"]["outputs"]["logits"]["data"], expected["logits"], atol=1e-6)


@pytest.mark.parametrize(
    ("case", "status", "says"),
    [
        ("bad shape", 400, "dimension 3 must be 8, got 7"),
        ("unknown model", 404, "unknown model 'resnet'; this server serves: digits-cnn, tiny-text"),
        ("wrong datatype", 400, "the model takes datatype FP32, got FP64"),
    ],
)
def test_errors_reach_the_client_with_their_status_and_reason(
    cases: dict[str, dict[str, Any]], case: str, status: int, says: str
) -> None:
    got = cases[case]
    assert got["error"] == "HTTPStatusError" and got["status"] == status and says in got["message"], got
