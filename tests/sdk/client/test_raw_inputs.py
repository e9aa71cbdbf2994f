"""`client.predict(model, raw)`: text and PNG images answered with the same processed outputs on the edge (the
device's processors) and in the cloud (a real `sdk serve`, sent as OIP BYTES); the Decision records where they were
processed; a private call with raw input never leaves the device; tensor calls are unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from sdk import Client
from sdk.artifacts import LayeredStore, LocalStore, builtin_store
from sdk.client.decision import Route
from sdk.errors import InvalidInput
from sdk.runtime.processors import Processed
from sdk.testing import in_process
from tests.sdk.runtime.text_artifact import write_text_artifact
from tests.sdk.serving.conftest import RunningServer, start_server

pytest.importorskip("tokenizers")
pytest.importorskip("PIL")

SAMPLES = Path(__file__).parents[3] / "models" / "digits_cnn" / "samples"
DIGITS = (0, 3, 7, 9)
TEXTS = ["the cat sat", "a cat sat on the mat the cat sat"]  # the second is cut to max_length 6
SETTINGS = {"exploration_rate": 0.0, "persist_latency": False, "max_attempts": 1, "timeout_s": 10.0}


def _pngs() -> list[bytes]:
    return [(SAMPLES / f"digit_{d}.png").read_bytes() for d in DIGITS]


@pytest.fixture(scope="module")
def text_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("raw-edge")
    write_text_artifact(root / "tiny-text" / "1", max_length=6)
    return root


@pytest.fixture(scope="module")
def serve(text_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_server(text_root, tmp_path_factory.mktemp("raw-cloud-logs"))
    yield server
    server.stop()


@pytest.fixture
def store(text_root: Path) -> LayeredStore:
    return LayeredStore([LocalStore(text_root), builtin_store()])


def test_text_on_the_edge_and_in_the_cloud_gives_the_same_answers(serve: RunningServer, store: LayeredStore) -> None:
    with Client(serve.url, store=store, **SETTINGS) as client:
        edge = client.predict("tiny-text", TEXTS, mode="local_only")
        cloud = client.predict("tiny-text", TEXTS, mode="cloud_only")
    assert edge.route is Route.LOCAL and cloud.route is Route.CLOUD
    assert edge.decision.processed_on == "device" and cloud.decision.processed_on == "cloud"
    assert "processed by the server" in cloud.decision.processing and "processed on cloud" in cloud.decision.line()
    np.testing.assert_array_equal(edge["embedding"], cloud["embedding"])
    for result in (edge, cloud):
        assert isinstance(result.processed, Processed) and isinstance(result.outputs, dict)
        assert result.processed.truncated == [False, True]
        assert result.processed.notes[0].startswith("text 1:")


def test_png_on_the_edge_and_in_the_cloud_gives_the_same_labels(serve: RunningServer, store: LayeredStore) -> None:
    with Client(serve.url, store=store, **SETTINGS) as client:
        edge = client.predict("digits-cnn", _pngs(), mode="local_only")
        cloud = client.predict("digits-cnn", _pngs(), mode="cloud_only")
    for result in (edge, cloud):
        assert result.processed is not None and result.processed.labels == [str(d) for d in DIGITS]
        assert result["label"].shape == (4, 3) and result["score"].dtype == np.float32
    np.testing.assert_allclose(edge["score"], cloud["score"], rtol=1e-6)


def test_a_path_is_read_by_the_client_and_its_bytes_sent(serve: RunningServer, store: LayeredStore) -> None:
    with Client(serve.url, store=store, **SETTINGS) as client:
        result = client.predict("digits-cnn", [SAMPLES / "digit_7.png"], mode="cloud_only")
    assert result.processed is not None and result.processed.labels == ["7"]


def test_a_private_raw_call_never_leaves_the_device(store: LayeredStore, text_root: Path) -> None:
    with (
        in_process(text_root / "tiny-text" / "1") as cloud,
        Client(cloud.url, transport=cloud, store=store, **SETTINGS) as client,
    ):
        result = client.predict("tiny-text", TEXTS, privacy="private", mode="prefer_cloud")
        assert result.route is Route.LOCAL and result.decision.processed_on == "device"
        assert cloud.requests == []


def test_the_cloud_processes_raw_input_for_a_model_the_device_lacks(text_root: Path, tmp_path: Path) -> None:
    with (
        in_process(text_root / "tiny-text" / "1") as cloud,
        Client(cloud.url, transport=cloud, store=LocalStore(tmp_path), **SETTINGS) as client,
    ):
        result = client.predict("tiny-text", ["the cat"])
    assert result.route is Route.CLOUD and result.decision.processed_on == "cloud"
    assert result.processed is not None and result["embedding"].shape == (1, 2)


def test_an_endpoint_without_the_raw_input_falls_back_to_the_device(store: LayeredStore) -> None:
    digits = Path(__file__).parents[3] / "sdk" / "_embedded" / "digits-cnn" / "1"
    with in_process(digits) as cloud:
        cloud.service.repository.get("digits-cnn").processors = None  # a server whose artifact declares none
        with Client(cloud.url, transport=cloud, store=store, **SETTINGS) as client:
            result = client.predict("digits-cnn", _pngs()[:1], mode="prefer_cloud")
    assert result.route is Route.LOCAL and result.decision.processed_on == "device"
    assert "advertises no raw_input" in result.decision.attempts[0].message
    assert all(path.startswith("/v2/models/digits-cnn") and not path.endswith("/infer") for _, path in cloud.requests)


def test_run_local_returns_processed_answers_as_outputs(store: LayeredStore, text_root: Path) -> None:
    with Client(local_only=True, store=store, **SETTINGS) as client:
        result = client.run_local(text_root / "tiny-text" / "1", TEXTS)
        tensors = client.run_local(
            text_root / "tiny-text" / "1",
            {"input_ids": np.ones((1, 3), np.int64), "attention_mask": np.ones((1, 3), np.int64)},
        )
    assert isinstance(result.outputs, dict) and result.processed is not None
    assert result.decision.processed_on == "device" and result["embedding"].shape == (2, 2)
    assert tensors.processed is None and tensors.decision.processed_on is None
    assert set(tensors.outputs) == {"embedding"}


def test_bad_raw_input_is_the_callers_error_on_either_route(serve: RunningServer, store: LayeredStore) -> None:
    with Client(serve.url, store=store, **SETTINGS) as client:
        for mode in ("local_only", "cloud_only"):
            with pytest.raises(InvalidInput, match="item 1"):
                client.predict("tiny-text", ["the cat", 3], mode=mode)


def test_a_tensor_call_is_unchanged(serve: RunningServer, store: LayeredStore) -> None:
    x = np.zeros((1, 1, 8, 8), dtype=np.float32)
    with Client(serve.url, store=store, **SETTINGS) as client:
        for mode in ("local_only", "cloud_only"):
            result = client.predict("digits-cnn", {"image": x}, mode=mode)
            assert set(result.outputs) == {"logits", "probabilities"} and result.processed is None
            assert result.decision.processed_on is None
