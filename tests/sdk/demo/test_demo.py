"""The offline demo end to end (short mode), and the decisions it printed."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from sdk.demo.run import run_demo

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory):
    from tests.conftest import REPO

    console = Console(record=True, width=140, force_terminal=False)
    result = run_demo(repo=REPO, workdir=tmp_path_factory.mktemp("demo"), short=True, console=console)
    return result, console.export_text()


def by_title(calls, prefix: str):
    found = [c for c in calls if c.title.startswith(prefix)]
    assert found, f"no call titled {prefix!r} in {[c.title for c in calls]}"
    return found


def test_every_step_ran(report) -> None:
    result, text = report
    titles = list(result.steps)
    assert [t.split(".")[0] for t in titles] == ["1", "2", "3", "4", "5", "6", "7"]
    assert "parity gate: fp32 ONNX vs the source" in text and "max |diff|" in text
    assert "terraform apply" in text and "deploy digits-cnn@" in text and "pulled digits-cnn@" in text
    assert result.function_url and result.function_url.startswith("http")


def test_private_requests_stay_on_the_edge_whatever_else_happens(report) -> None:
    result, _ = report
    private = [c for c in result.calls if c.title.startswith("private request")]
    assert len(private) >= 4
    assert all(c.route == "local" and c.reason == "private" for c in private)


def test_private_text_request_stays_local_and_public_follows_latency(report) -> None:
    result, _ = report
    (private,) = by_title(result.calls, "private request while the")
    assert private.route == "local" and private.reason == "private"
    faster = private.title.split("while the ")[1].split()[0]
    public = next(c for c in result.calls if c.title == "public request, auto")  # the text model's
    assert public.reason == "faster" and public.route == faster


def test_public_cnn_calls_follow_latency_and_deadline(report) -> None:
    result, _ = report
    public = [c for c in result.calls if c.title == "public request, auto"][-1]
    assert public.route == "local" and public.reason == "faster"  # a 0.1 ms model beats any HTTP round trip
    (deadline,) = by_title(result.calls, "public request, deadline")
    assert deadline.route == "local" and deadline.reason == "deadline"


def test_cloud_down_falls_back_then_the_breaker_opens(report) -> None:
    result, text = report
    down = by_title(result.calls, "public request #")
    assert [c.route for c in down] == ["local"] * 4
    assert down[0].reason == "fallback" and "cloud:cloud_unavailable → local:ok" in down[0].line
    assert all(c.reason == "cloud_unavailable" and "circuit open" in c.line for c in down[1:])
    assert "circuit breaker: open" in text


def test_ctrl_c_stops_everything_the_demo_started(tmp_path: Path) -> None:
    from tests.conftest import REPO

    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", "from sdk.cli import main; main()", "demo", "--short",
             "--workdir", str(tmp_path / "w")],
            cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "COLUMNS": "200"},
        )  # fmt: skip
    deadline = time.monotonic() + 180
    started = re.compile(r"moto server \(.*\) at http://127\.0\.0\.1:(\d+)")
    while not started.search(log.read_text(errors="replace")):
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(0.2)
    port = int(started.search(log.read_text(errors="replace")).group(1))
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) != 0
    time.sleep(0.5)
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0, "the moto server outlived the demo"
