"""A raw series through `Client.predict` and `sdk predict`: a window is numbers either way (the same bytes raw or as
its FP32 tensor), so the client scales it on this device with the artifact's processor and sends the model's window
tensor; the forecast comes back in the data's units, equal on both routes. The artifact is the real sunspots LSTM
recipe (trained one epoch) behind a real `sdk serve`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from sdk import Client
from sdk.artifacts import LocalStore, read_manifest
from sdk.cli import app
from tests.sdk.cli.recording_proxy import RecordingProxy
from tests.sdk.serving.conftest import start_server

pytest.importorskip("torch")

WINDOW = [float(v) for v in (34, 45, 43, 48, 42, 28, 10, 8, 2, 0, 1, 5, 12, 14, 35, 46, 41, 30, 24, 16)]
SETTINGS: dict[str, Any] = {"exploration_rate": 0.0, "persist_latency": False, "max_attempts": 1, "timeout_s": 10.0}


@pytest.fixture(scope="module")
def series_root(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sdk.compile import compile_source, from_recipe, load_recipe

    root = tmp_path_factory.mktemp("series-store")
    recipe = load_recipe("sunspots-lstm", root=repo)
    trained = recipe.train(seed=0, epochs=1, progress=False)
    compile_source(from_recipe(recipe, trained, seed=0), root / "sunspots-lstm" / "1", precisions="fp32")
    return root


@pytest.fixture(scope="module")
def cloud(series_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RecordingProxy]:
    server = start_server(series_root, tmp_path_factory.mktemp("series-logs"))
    proxy = RecordingProxy(server.url)
    yield proxy
    proxy.close()
    server.stop()


def scaled(series_root: Path) -> np.ndarray:
    spec = read_manifest(series_root / "sunspots-lstm" / "1").processors
    assert spec is not None and spec.series is not None
    return ((np.asarray(WINDOW) - spec.series.mean) / spec.series.std).astype(np.float32).reshape(1, 20, 1)


def test_a_raw_series_is_scaled_here_and_sent_as_the_fp32_window(cloud: RecordingProxy, series_root: Path) -> None:
    cloud.clear()
    with Client(cloud.url, store=LocalStore(series_root), **SETTINGS) as client:
        here = client.predict("sunspots-lstm", WINDOW, mode="local_only")
        there = client.predict("sunspots-lstm", WINDOW, mode="cloud_only")
    (infer,) = cloud.infers()
    sent = infer.request().inputs
    assert list(sent) == ["window"] and sent["window"].dtype == np.float32  # a tensor, not BYTES
    np.testing.assert_array_equal(sent["window"], scaled(series_root))
    for result in (here, there):
        assert result.decision.processed_on == "device" and result.processed is not None
        assert result["forecast"].shape == (1, 1)
    assert "FP32 window" in there.decision.processing
    np.testing.assert_allclose(here["forecast"], there["forecast"], rtol=1e-5)


def test_sdk_predict_sends_a_json_window_to_the_cloud_scaled(
    cloud: RecordingProxy, series_root: Path, tmp_path: Path
) -> None:
    cloud.clear()
    window = tmp_path / "window.json"
    window.write_text(json.dumps(WINDOW))
    args = ["predict", "sunspots-lstm", "-i", str(window), "--endpoint", cloud.url, "--mode", "cloud_only"]
    result = CliRunner().invoke(app, [*args, "--store", str(series_root), "--json"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["route"] == "cloud" and body["processed_on"] == "device" and len(body["outputs"]["forecast"]) == 1
    np.testing.assert_array_equal(cloud.infers()[0].request().inputs["window"], scaled(series_root))
