"""What a Result says beyond the outputs (the runtime that ran it, the model's labels), and `Client.run_local`."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from sdk import Client, IntegrityError
from sdk.artifacts import LocalStore
from sdk.artifacts.store import BUILTIN_ROOT
from sdk.client import Mode, Privacy, Reason, Route
from sdk.testing import ServiceTransport, in_process

DIGIT = np.full((1, 1, 8, 8), 0.5, np.float32)
LABELS = tuple(str(i) for i in range(10))
SETTINGS = {"exploration_rate": 0.0, "persist_latency": False, "max_attempts": 1}


@pytest.fixture(scope="module")
def cloud() -> Iterator[ServiceTransport]:
    with in_process(BUILTIN_ROOT / "digits-cnn" / "1") as transport:
        yield transport


def test_a_local_answer_carries_the_runtime_and_the_labels() -> None:
    with Client(**SETTINGS) as client:
        result = client.predict("digits-cnn", {"image": DIGIT})
    assert result.route is Route.LOCAL
    assert result.runtime is not None and result.runtime.providers == ("CPUExecutionProvider",)
    assert result.runtime.artifact == "model.onnx" and len(result.runtime.sha256) == 64
    assert result.manifest is not None and result.manifest.ref == "digits-cnn@1"
    assert result.labels == LABELS


def test_a_cloud_answer_has_no_local_runtime_but_the_labels_of_the_copy_here(cloud, tmp_path: Path) -> None:
    with Client(cloud.url, transport=cloud, **SETTINGS) as client:
        result = client.predict("digits-cnn", {"image": DIGIT}, mode="cloud_only")
        assert result.route is Route.CLOUD and result.runtime is None
        assert result.labels == LABELS and not client.local._models  # read from the manifest, nothing loaded
    with Client(cloud.url, transport=cloud, store=LocalStore(tmp_path), **SETTINGS) as client:  # no copy here
        result = client.predict("digits-cnn", {"image": DIGIT}, mode="cloud_only")
        assert result.route is Route.CLOUD and result.manifest is None and result.labels is None


def test_run_local_runs_an_artifact_folder_outside_the_router(tmp_path: Path) -> None:
    folder = shutil.copytree(BUILTIN_ROOT / "digits-cnn" / "1", tmp_path / "digits")
    with Client(**SETTINGS) as client:
        result = client.run_local(folder, {"image": DIGIT})
        again = client.run_local(folder, {"image": DIGIT})
    d = result.decision
    assert (d.route, d.reason, d.mode, d.privacy) == (Route.LOCAL, Reason.MODE, Mode.LOCAL_ONLY, Privacy.PUBLIC)
    assert d.actual_ms is not None and set(d.timings) == {"run"} and d.attempts == []
    assert result.runtime is not None and result.runtime.path == str(folder)
    assert result.labels == LABELS and result.model == str(folder)
    np.testing.assert_array_equal(result["probabilities"], again["probabilities"])
    assert client.router.latency.predict(str(folder), Route.LOCAL) is None  # nothing learned


def test_run_local_at_a_precision_and_under_a_private_default() -> None:
    with Client(privacy="private", **SETTINGS) as client:
        result = client.run_local("digits-cnn", {"image": DIGIT}, precision="fp32")
    assert result.runtime is not None and result.runtime.precision == "fp32"
    assert (
        result.decision.privacy is Privacy.PRIVATE
    )  # the client's level, raised by the manifest's floor, never lowered


def test_run_local_refuses_a_tampered_artifact_folder(tmp_path: Path) -> None:
    folder = shutil.copytree(BUILTIN_ROOT / "digits-cnn" / "1", tmp_path / "digits")
    data = bytearray((folder / "model.onnx").read_bytes())
    data[100] ^= 0x01
    (folder / "model.onnx").write_bytes(bytes(data))
    with Client(**SETTINGS) as client, pytest.raises(IntegrityError, match="sha256"):
        client.run_local(folder, {"image": DIGIT})
