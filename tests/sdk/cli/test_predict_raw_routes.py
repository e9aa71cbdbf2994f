"""`sdk predict --text/--image` is routed by the client like tensors: a public call may be sent to a real `sdk serve`
as one OIP BYTES tensor and processed there; private and --local-only calls are processed here and open no
connection; --mode, --deadline-ms and --top apply; the last line says where it ran, where it was processed, and why."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from sdk.cli import app
from tests.sdk.cli.recording_proxy import RecordingProxy
from tests.sdk.runtime.text_artifact import write_text_artifact
from tests.sdk.serving.conftest import RunningServer, start_server

pytest.importorskip("tokenizers")
pytest.importorskip("PIL")

runner = CliRunner()
ENV = {"COLUMNS": "200", "TERM": "dumb"}
DIGIT_7 = Path(__file__).resolve().parents[3] / "models" / "digits_cnn" / "samples" / "digit_7.png"
TEXTS = ["the cat", "a cat sat on the mat the cat sat"]  # the second is cut to max_length 6


@pytest.fixture(scope="module")
def text_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-raw-store")
    write_text_artifact(root / "tiny-text" / "1", max_length=6)
    return root


@pytest.fixture(scope="module")
def cloud(text_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RecordingProxy]:
    """A real `sdk serve` (tiny-text and the built-in digits) behind a proxy that keeps what reached it."""
    server: RunningServer = start_server(text_root, tmp_path_factory.mktemp("cli-raw-logs"))
    proxy = RecordingProxy(server.url)
    yield proxy
    proxy.close()
    server.stop()


@pytest.fixture
def proxy(cloud: RecordingProxy) -> RecordingProxy:
    cloud.clear()
    return cloud


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """An endpoint that only listens: after the command, no connection may be waiting on it."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        server.setblocking(False)
        yield server


def texts_args(*texts: str) -> list[str]:
    return [x for t in texts for x in ("--text", t)]


def invoke(*args: str) -> dict:
    result = runner.invoke(app, ["predict", *args, "--json"], env=ENV)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_public_text_with_an_endpoint_is_sent_as_bytes_and_processed_in_the_cloud(proxy: RecordingProxy) -> None:
    # tiny-text is not on this device: the client sends the text, the server tokenizes it and runs the model.
    args = ["predict", "tiny-text", *texts_args(*TEXTS), "--endpoint", proxy.url, "--privacy", "public"]
    result = runner.invoke(app, args, env=ENV)
    assert result.exit_code == 0, result.output
    (infer,) = proxy.infers()
    (sent,) = infer.request().inputs.values()
    assert sent.dtype == object and [bytes(v).decode() for v in sent] == TEXTS  # one BYTES tensor: the text itself
    lines = result.stdout.splitlines()
    assert "truncated: text 1: 11 tokens, truncated to 6" in result.stdout
    assert "embedding float32 [2, 2]" in result.stdout and "tokens per text" not in result.stdout
    assert lines[-1].startswith("ran cloud · ") and "raw input processed in the cloud · why: [" in lines[-1]


def test_public_text_json_names_the_route_and_where_it_was_processed(proxy: RecordingProxy) -> None:
    body = invoke("tiny-text", *texts_args(*TEXTS), "--endpoint", proxy.url, "--privacy", "public")
    assert body["route"] == "cloud" and body["processed_on"] == "cloud" and "runtime" not in body
    assert body["decision"]["processed_on"] == "cloud" and "OIP BYTES" in body["decision"]["processing"]
    assert body["inputs"]["truncated"] == [False, True] and body["notes"][0].startswith("text 1:")
    ids = [[1, 4, 5, 2], [1, 9, 5, 6, 7, 2]]  # [CLS] the cat [SEP]; [CLS] a cat sat on [SEP] (cut to 6)
    np.testing.assert_array_equal(body["outputs"]["embedding"], [[sum(i), len(i)] for i in ids])
    assert len(proxy.infers()) == 1


def test_prefer_cloud_png_prints_the_cloud_label_and_says_so(proxy: RecordingProxy) -> None:
    args = ["predict", "digits-cnn", "--image", str(DIGIT_7), "--endpoint", proxy.url, "--mode", "prefer_cloud"]
    result = runner.invoke(app, args, env=ENV)
    assert result.exit_code == 0, result.output
    first, last = result.stdout.splitlines()[0], result.stdout.splitlines()[-1]
    assert first.startswith("7 (0.9") or first.startswith("7 (1.00)")
    assert last.startswith("ran cloud · ") and "raw input processed in the cloud" in last
    (infer,) = proxy.infers()
    (sent,) = infer.request().inputs.values()
    assert sent.dtype == object and bytes(sent[0]) == DIGIT_7.read_bytes()  # the PNG's own bytes, not pixels


def test_a_deadline_and_a_mode_reach_the_decision(proxy: RecordingProxy) -> None:
    body = invoke("digits-cnn", "--image", str(DIGIT_7), "--endpoint", proxy.url, "--mode", "prefer_local",
                  "--deadline-ms", "5000")  # fmt: skip
    decision = body["decision"]
    assert decision["deadline_ms"] == 5000 and decision["mode"] == "prefer_local" and body["route"] == "local"
    assert body["processed_on"] == "device" and body["runtime"]["verified"] and proxy.infers() == []


@pytest.mark.parametrize("how", [["--privacy", "private"], ["--local-only", "--privacy", "public"]])
@pytest.mark.parametrize("raw", ["text", "image"])
def test_private_or_local_only_raw_input_is_processed_here_without_a_connection(
    listener: socket.socket, text_root: Path, how: list[str], raw: str
) -> None:
    model, given = ("tiny-text", texts_args(*TEXTS)) if raw == "text" else ("digits-cnn", ["--image", str(DIGIT_7)])
    endpoint = f"http://127.0.0.1:{listener.getsockname()[1]}"
    body = invoke(model, *given, "--endpoint", endpoint, "--mode", "prefer_cloud", "--store", str(text_root), *how)
    assert body["route"] == "local" and body["processed_on"] == "device"
    assert body["decision"]["processing"].startswith("raw input processed on this device")
    with pytest.raises(BlockingIOError):
        listener.accept()


def test_a_failed_cloud_falls_back_to_processing_on_this_device() -> None:
    endpoint = f"http://127.0.0.1:{_closed_port()}"  # nothing listens there: connections are refused
    args = ["predict", "digits-cnn", "--image", str(DIGIT_7), "--endpoint", endpoint, "--mode", "prefer_cloud"]
    result = runner.invoke(app, args, env=ENV)
    assert result.exit_code == 0, result.output
    last = result.stdout.splitlines()[-1]
    assert last.startswith("ran local on ") and "raw input processed on this device · why: [fallback]" in last


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_top_wider_than_the_manifest_is_decoded_here_and_the_cloud_answer_says_what_it_holds(
    proxy: RecordingProxy,
) -> None:
    here = invoke("digits-cnn", "--image", str(DIGIT_7), "--top", "5", "--local-only")
    assert len(here["outputs"]["label"][0]) == 5 and here["outputs"]["label"][0][0] == "7"
    assert here["outputs"]["score"][0] == sorted(here["outputs"]["score"][0], reverse=True)
    args = ["predict", "digits-cnn", "--image", str(DIGIT_7), "--top", "5", "--endpoint", proxy.url]
    result = runner.invoke(app, [*args, "--mode", "cloud_only"], env=ENV)
    assert result.exit_code == 0, result.output
    assert result.stdout.count(" · ") >= 2 and "the endpoint answered the top 3 classes per item" in result.stdout
