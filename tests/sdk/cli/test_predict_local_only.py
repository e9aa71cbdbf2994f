"""`sdk predict --local-only` (or AIAAS_LOCAL_ONLY=1): the call runs on this device and no connection is opened, even
with an endpoint configured and a mode that asks for the cloud."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sdk.cli import app

runner = CliRunner()
SAMPLE = Path(__file__).resolve().parents[3] / "models" / "digits_cnn" / "samples" / "digit_7.npy"


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A real endpoint that only listens: after the command, it must have no connection waiting."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        server.setblocking(False)
        yield server


def assert_never_connected(server: socket.socket) -> None:
    with pytest.raises(BlockingIOError):
        server.accept()


def endpoint(server: socket.socket) -> str:
    return f"http://127.0.0.1:{server.getsockname()[1]}"


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_predict_local_only_runs_here_and_connects_nowhere(listener, monkeypatch, how) -> None:
    args = ["predict", "digits-cnn", "-i", str(SAMPLE), "--endpoint", endpoint(listener), "--privacy", "public"]
    args += ["--mode", "prefer_cloud", "--json"]
    if how == "flag":
        args.append("--local-only")
    else:
        monkeypatch.setenv("AIAAS_LOCAL_ONLY", "1")
    result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    decision = json.loads(result.stdout)["decision"]
    assert decision["route"] == "local" and "local-only" in decision["explanation"]
    assert_never_connected(listener)


def test_predict_local_only_refuses_cloud_only_without_connecting(listener) -> None:
    args = ["predict", "digits-cnn", "-i", str(SAMPLE), "--endpoint", endpoint(listener), "--local-only"]
    result = runner.invoke(app, [*args, "--mode", "cloud_only"], env={"COLUMNS": "200", "TERM": "dumb"})
    assert result.exit_code == 1
    assert "CloudUnavailable" in result.stderr and "local-only" in result.stderr
    assert_never_connected(listener)


def test_predict_help_offers_local_only() -> None:
    result = runner.invoke(app, ["predict", "--help"], env={"COLUMNS": "200", "TERM": "dumb"})
    assert result.exit_code == 0 and "--local-only" in result.stdout
