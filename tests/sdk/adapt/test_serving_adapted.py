"""An adapted artifact behind a real `sdk serve` on loopback, and through the real client: served like any model (one
/infer with tensors, one with a PNG), and a private adapted model's calls never reach the cloud (the counting proxy)."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

import sdk
from sdk import Client
from sdk.adaptation import AdaptResult, adapt
from sdk.artifacts import LayeredStore, LocalStore
from sdk.client import Route
from sdk.errors import PrivacyViolation
from tests.sdk.client.proxy import FaultProxy
from tests.sdk.serving.conftest import RunningServer, start_server

pytestmark = pytest.mark.integration

JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def stores(odd_even: AdaptResult, odd_even_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """'cloud': the public adapted model, and a public 'digits-secret'; 'edge': 'digits-secret' adapted privately."""
    cloud, edge = tmp_path_factory.mktemp("cloud"), tmp_path_factory.mktemp("edge")
    shutil.copytree(odd_even.path, cloud / "digits-parity" / "1")
    adapt("digits-cnn", odd_even_data, cloud / "digits-secret" / "1", name="digits-secret")
    adapt("digits-cnn", odd_even_data, edge / "digits-secret" / "1", name="digits-secret", private=True)
    return {"cloud": cloud, "edge": edge}


@pytest.fixture(scope="module")
def server(stores: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(stores["cloud"], tmp_path_factory.mktemp("logs"), "--max-queue-delay-ms", "0")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def proxy(server: RunningServer) -> Iterator[FaultProxy]:
    proxy = FaultProxy(server.url)
    yield proxy
    proxy.close()


def test_sdk_serve_answers_infer_for_an_adapted_model(server: RunningServer, odd_even: AdaptResult, digit_7) -> None:
    body = {"inputs": [{"name": "image", "shape": [1, 1, 8, 8], "datatype": "FP32", "data": digit_7.ravel().tolist()}]}
    response = httpx.post(f"{server.url}/v2/models/digits-parity/infer", json=body, timeout=30)
    assert response.status_code == 200, response.text
    (output,) = response.json()["outputs"]
    assert (output["name"], output["shape"]) == ("probabilities", [1, 2])
    expected = sdk.load(odd_even.path)({"image": digit_7})["probabilities"]
    assert np.allclose(output["data"], expected.ravel(), atol=1e-6)


def test_sdk_serve_answers_a_png_for_an_adapted_model_with_its_new_labels(server: RunningServer, repo: Path) -> None:
    png = base64.b64encode((repo / "models" / "digits_cnn" / "samples" / "digit_0.png").read_bytes()).decode()
    body = {"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1], "data": [png]}]}
    response = httpx.post(f"{server.url}/v2/models/digits-parity/infer", content=json.dumps(body), headers=JSON)
    assert response.status_code == 200, response.text
    label = next(o for o in response.json()["outputs"] if o["name"] == "label")
    assert label["data"][0] in ("even", "odd") and label["shape"] == [1, 2]


def test_a_private_adapted_model_never_reaches_the_cloud(stores: dict[str, Path], proxy: FaultProxy, digit_7) -> None:
    proxy.reset()
    store = LayeredStore([LocalStore(stores["edge"])])
    with Client(proxy.url, store=store, exploration_rate=0.0, persist_latency=False) as client:
        for mode in ("prefer_cloud", "auto"):
            result = client.predict("digits-secret", {"image": digit_7}, privacy="public", mode=mode)
            assert result.route is Route.LOCAL and result.decision.privacy.value == "private", mode
        with pytest.raises(PrivacyViolation):
            client.predict("digits-secret", {"image": digit_7}, privacy="public", mode="cloud_only")
    assert proxy.count == 0  # not even a metadata read


def test_a_public_adapted_model_goes_to_the_cloud_like_any_other(proxy: FaultProxy, digit_7, tmp_path: Path) -> None:
    proxy.reset()
    with Client(proxy.url, store=LayeredStore([LocalStore(tmp_path)]), persist_latency=False) as client:
        result = client.predict("digits-parity", {"image": digit_7}, mode="cloud_only")
    assert result.route is Route.CLOUD and result.outputs["probabilities"].shape == (1, 2)
    assert proxy.infer_count() == 1
