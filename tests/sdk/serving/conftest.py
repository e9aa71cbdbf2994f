"""Serving fixtures: a store of test models, the in-process service, a real `sdk serve` on a free loopback port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from sdk.artifacts import LayeredStore, LocalStore, builtin_store
from sdk.serving.config import ServeConfig
from sdk.serving.repository import ModelRepository
from sdk.serving.service import Service
from tests.sdk.serving.builders import serving_store

TOKEN = "s3cret-token"


@pytest.fixture(scope="session")
def serving_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return serving_store(tmp_path_factory.mktemp("serving-store"))


@pytest.fixture(scope="session")
def service(serving_root: Path) -> Service:
    """The transport-independent service over 'pair', 'mymodel' and the built-in digits CNN, models loaded."""
    store = LayeredStore([LocalStore(serving_root), builtin_store()])
    return Service(ModelRepository(store), config=ServeConfig(max_body_bytes=64 * 1024)).start()


@dataclass
class RunningServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)


def start_server(root: Path, log_dir: Path, *args: str, env: dict[str, str] | None = None) -> RunningServer:
    """`sdk serve --port 0` in its own process; returns once it printed its URL (models loaded, socket listening)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    out, err = log_dir / "stdout.txt", log_dir / "stderr.txt"
    command = [sys.executable, "-c", "from sdk.cli import main; main()", "serve", "--store", str(root), "--port", "0"]
    environment = {**os.environ, "AIAAS_STORE": str(root), **(env or {})}
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen([*command, *args], stdout=stdout, stderr=stderr, env=environment)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in out.read_text().splitlines():
            if " at http://" in line:
                url = line.split(" at ", 1)[1].split()[0]
                return RunningServer(url, process, err)
        if process.poll() is not None:
            raise RuntimeError(f"sdk serve exited with {process.returncode}: {err.read_text()[-2000:]}")
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"sdk serve did not print its URL within 60 s: {err.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def server(serving_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A real `sdk serve` (default batching) over the serving store, for the whole session."""
    running = start_server(serving_root, tmp_path_factory.mktemp("server-logs"), "--max-body-bytes", "65536")
    yield running
    running.stop()


@pytest.fixture(scope="session")
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client
