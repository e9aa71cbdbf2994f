"""Test an app's routing without sockets: the real serving core, in this process, behind an httpx transport.

``in_process(store)`` builds the service `sdk serve` and the functions run (every model verified, loaded and warmed
up with the real ONNX Runtime) and wraps it in a ``ServiceTransport``; a ``Client`` given that transport sends its
cloud calls to it, byte for byte as it would over the network, and no port is opened::

    from sdk import Client
    from sdk.testing import in_process

    with in_process("tests/cloud-models") as cloud:
        client = Client(cloud.url, transport=cloud, store="tests/edge-models")
        assert client.predict("digits-cnn", inputs, mode="cloud_only").route.value == "cloud"
        cloud.fail_next(503, 503)                     # overloaded twice: the client retries, then falls back
        cloud.fail_next(httpx.ConnectError("down"))   # unreachable

Imported on demand only (``import sdk`` never loads it): it needs what the serving core needs (the ``edge`` extra).
For faults on a real socket (slow bodies, dropped connections), start `sdk serve` behind a proxy instead.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import httpx

from sdk.runtime.config import RuntimeConfig
from sdk.serving.bootstrap import build_service
from sdk.serving.config import ServeConfig
from sdk.serving.service import Service

URL = "http://aiaas.test"  # any http(s) URL would do: nothing is resolved or connected to
DEFAULT_FAULT_BODY = b'{"error": "injected by sdk.testing"}'

# A canned answer: a status, (status, headers) or (status, headers, body); or an exception the transport raises
# (an ``httpx.ConnectError`` reads as an unreachable endpoint, an ``httpx.ReadTimeout`` as a slow one).
Fault = int | tuple[int, Mapping[str, str]] | tuple[int, Mapping[str, str], bytes] | BaseException


class ServiceTransport(httpx.BaseTransport):
    """An httpx transport that answers every request with ``Service.handle``, in the calling thread.

    ``requests`` lists (method, path) of every request that reached it (a private call must add none);
    ``fail_next`` queues faults answered instead of the service, in order; ``delay_s`` sleeps before each answer.
    ``close()`` (what an httpx client calls when it closes) keeps the service, so one transport may serve many
    clients; ``shutdown()`` (or leaving ``with``) unloads its models."""

    url = URL

    def __init__(self, service: Service) -> None:
        self.service = service
        self.requests: list[tuple[str, str]] = []
        self.delay_s = 0.0
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()

    # --- control -----------------------------------------------------------------------------------------------

    def fail_next(self, *faults: Fault) -> None:
        """Answer the next requests with these faults, one each, before the service answers again."""
        with self._lock:
            self._faults.extend(faults)

    def reset(self) -> None:
        """Forget the requests seen and the faults not yet answered; no delay."""
        with self._lock:
            self.requests.clear()
            self._faults.clear()
            self.delay_s = 0.0

    def infer_count(self) -> int:
        """How many inference requests reached the transport (faults answered included)."""
        with self._lock:
            return sum(1 for _, path in self.requests if path.endswith("/infer") or path == "/invocations")

    # --- httpx -------------------------------------------------------------------------------------------------

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.decode("ascii")  # percent-encoded, as an HTTP server receives it
        with self._lock:
            self.requests.append((request.method, request.url.path))
            fault = self._faults.popleft() if self._faults else None
            delay = self.delay_s
        if delay:
            time.sleep(delay)
        if fault is not None:
            return _canned(fault, request)
        answer = self.service.handle(request.method, path, dict(request.headers), request.read())
        return httpx.Response(answer.status, headers=answer.headers, content=answer.body, request=request)

    def close(self) -> None:
        """Called by each httpx client that closes: the service stays up for the others."""

    def shutdown(self) -> None:
        """Unload the service's models."""
        self.service.repository.close()

    def __enter__(self) -> ServiceTransport:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        self.shutdown()


def in_process(
    store: str | Path,
    *,
    config: ServeConfig | None = None,
    runtime: RuntimeConfig | None = None,
    include_builtin: bool | None = False,
) -> ServiceTransport:
    """The real serving core over ``store`` (a store folder, one artifact folder, or an ``s3://`` URI of either),
    every model verified and loaded now, behind a ``ServiceTransport``. ``config`` as `sdk serve` takes it (default
    from the environment); the built-in models are served only with ``include_builtin=True`` (or None: the
    environment decides, as for `sdk serve`)."""
    service = build_service(store, config=config, runtime=runtime, include_builtin=include_builtin, batching=False)
    return ServiceTransport(service)


def _canned(fault: Fault, request: httpx.Request) -> httpx.Response:
    if isinstance(fault, BaseException):
        raise fault
    if isinstance(fault, int):
        fault = (fault, {})
    status, headers, body = fault[0], fault[1], fault[2] if len(fault) == 3 else DEFAULT_FAULT_BODY
    return httpx.Response(
        status, headers={"content-type": "application/json", **headers}, content=body, request=request
    )
