"""`sdk serve`'s HTTP server: uvicorn (httptools + uvloop when installed) and a raw ASGI app over ``Service``.

A raw ASGI callable rather than a framework: the service already routes, and on this 2-core machine a Starlette
router in front of the same service cost measurable throughput for nothing (see the serving note). The app reads
the body up to the configured limit (413 before reading more; a gzip body is inflated by the service, within the same
limit), hands it to ``Service.handle_async`` (which batches), and writes one access-log line per request: method,
path, status, sizes, latency and request id, never the payload.

Shutdown is graceful: on SIGINT/SIGTERM uvicorn stops accepting connections and waits for in-flight requests; then
the lifespan shutdown drains the batcher, so every accepted request is answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from sdk.errors import MissingDependency, PayloadTooLarge
from sdk.serving.service import Service

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]


class AccessLog:
    """One line per request (peer, method, path, status, sizes, latency, request id; never the payload), buffered
    and written in batches: a write per request costs a Python server on two cores ~30% of its throughput."""

    def __init__(self, stream: Any = None, *, flush_interval_s: float = 0.25, max_lines: int = 512) -> None:
        self._stream = stream
        self.flush_interval_s = flush_interval_s
        self.max_lines = max_lines
        self._lines: list[str] = []
        self._second = -1
        self._stamp = ""

    def write(
        self, peer: str, method: str, path: str, status: int, size_in: int, size_out: int, ms: float, rid: str
    ) -> None:
        now = int(time.time())
        if now != self._second:
            self._second, self._stamp = now, time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now))
        self._lines.append(
            f'{self._stamp} {peer} "{method} {path}" {status} in={size_in}B out={size_out}B {ms:.2f}ms id={rid}\n'
        )
        if len(self._lines) >= self.max_lines:
            self.flush()

    def flush(self) -> None:
        if self._lines:
            lines, self._lines = self._lines, []
            stream = self._stream or sys.stderr
            stream.write("".join(lines))
            stream.flush()

    async def run(self) -> None:
        """Flush on a timer until cancelled, so that a quiet server's lines still show up promptly."""
        try:
            while True:
                await asyncio.sleep(self.flush_interval_s)
                self.flush()
        finally:
            self.flush()


class OipApp:
    """The ASGI application: lifespan (drain the batcher on shutdown) and HTTP requests into the service."""

    def __init__(self, service: Service, *, access_log: AccessLog | None = None) -> None:
        self.service = service
        self.max_body = service.config.max_body_bytes
        self.access_log = access_log
        self._flusher: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self.access_log is not None:
                    self._flusher = asyncio.get_running_loop().create_task(self.access_log.run())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.service.batcher is not None:
                    await self.service.batcher.close()
                if self._flusher is not None:
                    self._flusher.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await self._flusher
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        method = scope["method"]
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else scope["path"]
        body = await self._read_body(receive, headers)
        if isinstance(body, PayloadTooLarge):
            response = self.service.error_response(method, path, headers, body)
        else:
            response = await self.service.handle_async(method, path, headers, body)
        # A HEAD answer carries the Content-Length its GET would have (the service sets it) and no body.
        sized = "content-length" in response.headers
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": [
                    *(() if sized else ((b"content-length", str(len(response.body)).encode()),)),
                    *((k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": response.body})
        if self.access_log is not None:
            client = scope.get("client")
            self.access_log.write(
                f"{client[0]}:{client[1]}" if client else "-",
                method,
                path,
                response.status,
                len(body) if isinstance(body, bytes) else -1,
                len(response.body),
                (time.perf_counter() - start) * 1000,
                response.headers.get("x-request-id", "-"),
            )

    async def _read_body(self, receive: Receive, headers: dict[str, str]) -> bytes | PayloadTooLarge:
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            return _too_large(int(declared), self.max_body)
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return _too_large(size, self.max_body, partial=True)
            chunks.append(chunk)
            more = message.get("more_body", False)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large(size: int, limit: int, *, partial: bool = False) -> PayloadTooLarge:
    what = f"more than {limit}" if partial else str(size)
    return PayloadTooLarge(f"request body is {what} bytes; this server accepts at most {limit} (--max-body-bytes)")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def import_uvicorn() -> Any:
    try:
        import uvicorn
    except ImportError as exc:
        raise MissingDependency("uvicorn", "serve", purpose="sdk serve (the HTTP server)") from exc
    return uvicorn


def build_server(
    service: Service,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    on_ready: Callable[[str], None] | None = None,
    access_log: bool = True,
    graceful_timeout_s: float = 30.0,
    log_level: str = "warning",
) -> Any:
    """A uvicorn server for ``service``; ``on_ready`` gets the base URL once the socket listens (port 0: any free)."""
    uvicorn = import_uvicorn()

    class _Server(uvicorn.Server):  # type: ignore[name-defined]
        url: str | None = None

        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                bound = self.servers[0].sockets[0].getsockname()
                shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
                self.url = f"http://{shown}:{bound[1]}"
                if on_ready is not None:
                    on_ready(self.url)

    config = uvicorn.Config(
        OipApp(service, access_log=AccessLog() if access_log else None),
        host=host,
        port=port,
        lifespan="on",
        access_log=False,  # ours is written by OipApp, with latency and request id
        log_config=None,
        log_level=log_level,
        timeout_graceful_shutdown=graceful_timeout_s,
        server_header=False,
    )
    return _Server(config)


def run(service: Service, **options: Any) -> None:
    """Serve until SIGINT/SIGTERM, then finish in-flight requests and return. Options as ``build_server``."""
    server = build_server(service, **options)
    # uvicorn re-raises the signal it caught once it has shut down; with this handler a SIGTERM ends the process
    # normally (exit status 0) after the graceful shutdown instead of killing it there.
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        server.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
