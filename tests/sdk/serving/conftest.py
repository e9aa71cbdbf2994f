"""Serving fixtures: a store of test models, the in-process service, a real `sdk serve` on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sdk.artifacts import LayeredStore, LocalStore, builtin_store
from sdk.demo.stack import Server as RunningServer
from sdk.demo.stack import start_serve
from sdk.serving.config import ServeConfig
from sdk.serving.repository import ModelRepository
from sdk.serving.service import Service

TOKEN = "s3cret-token"


@pytest.fixture(scope="session")
def serving_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Imported here: on an install without onnx only the tests that use this fixture skip, naming it.
    from tests.sdk.serving.builders import serving_store

    return serving_store(tmp_path_factory.mktemp("serving-store"))


@pytest.fixture(scope="session")
def service(serving_root: Path) -> Service:
    """The transport-independent service over 'pair', 'mymodel' and the built-in digits CNN, models loaded."""
    store = LayeredStore([LocalStore(serving_root), builtin_store()])
    return Service(ModelRepository(store), config=ServeConfig(max_body_bytes=64 * 1024)).start()


def start_server(root: Path, log_dir: Path, *args: str, env: dict[str, str] | None = None) -> RunningServer:
    """`sdk serve --port 0` in its own process; returns once it printed its URL (models loaded, socket listening)."""
    return start_serve(str(root), log_dir / "serve.log", *args, env={"AIAAS_STORE": str(root), **(env or {})})


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
