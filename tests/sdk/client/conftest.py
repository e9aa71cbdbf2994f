"""The cloud is a real `sdk serve` behind a fault-injecting proxy on loopback; the edge is the real local runtime."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sdk import Client
from sdk.artifacts import LayeredStore, LocalStore, builtin_store
from tests.sdk.client.proxy import FaultProxy
from tests.sdk.serving.conftest import RunningServer, start_server


@pytest.fixture(scope="session")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    # Imported here: on an install without onnx or torch only the tests that use this fixture skip, naming it.
    from tests.sdk.client import models

    root = tmp_path_factory.mktemp("cloud-store")
    models.twin(root, layers=1)  # the cloud's build of 'twin' is fast (think: a bigger machine)
    models.private_twin(root)  # 'secret': only in the cloud, and its manifest says private
    server = start_server(root, tmp_path_factory.mktemp("cloud-logs"), "--max-queue-delay-ms", "0")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def proxy_session(cloud: RunningServer) -> Iterator[FaultProxy]:
    proxy = FaultProxy(cloud.url)
    yield proxy
    proxy.close()


@pytest.fixture
def proxy(proxy_session: FaultProxy) -> FaultProxy:
    proxy_session.reset()
    return proxy_session


@pytest.fixture(scope="session")
def edge_roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Edge stores: 'ok' (slow twin + built-in digits), 'missing', 'tampered', 'broken' (runtime error)."""
    from tests.sdk.client import models

    roots = {name: tmp_path_factory.mktemp(f"edge-{name}") for name in ("ok", "missing", "tampered", "broken")}
    models.twin(roots["ok"], layers=600)
    models.tampered_digits(roots["tampered"])
    models.failing_digits(roots["broken"])
    return roots


def edge_store(roots: dict[str, Path], kind: str) -> LayeredStore:
    stores: list[Any] = [LocalStore(roots[kind])]
    if kind == "ok":
        stores.append(builtin_store())
    return LayeredStore(stores)


@pytest.fixture
def make_client(edge_roots: dict[str, Path], proxy: FaultProxy) -> Iterator[Callable[..., Client]]:
    made: list[Client] = []

    def make(edge: str = "ok", *, endpoint: str | None = None, **settings: Any) -> Client:
        defaults = {
            "exploration_rate": 0.0,
            "persist_latency": False,
            "breaker_cooldown_s": 0.3,
            "timeout_s": 5.0,
            "connect_timeout_s": 1.0,
        }
        client = Client(endpoint or proxy.url, store=edge_store(edge_roots, edge), **{**defaults, **settings})
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
