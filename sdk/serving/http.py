"""`sdk serve`'s HTTP server: uvicorn (httptools + uvloop when installed) and a raw ASGI app over ``Service``.

A raw ASGI callable rather than a framework: the service already routes, and on this 2-core machine a Starlette
router in front of the same service cost throughput (benchmarks/serve_throughput.py --stacks). Once a request's
headers are in, the app answers what needs no body at once (404/405, and 401 before a single body byte is read); it
then reads the body up to the configured limit (413 before reading more; a gzip body is inflated by the service,
within the same limit) and within ``body_timeout_s`` (408), hands it to ``Service.handle_async`` (which batches), and
writes one access-log line per request: method, path (cut to 200 characters), status, sizes, latency and request
id, never the payload; and counts it in the service's metrics (``Service.record``, from the request's first byte to
its answer). A body cut short by the client's disconnect is never run. Connections and headers are guarded below the
app (``connection``).

Shutdown is graceful: on SIGINT/SIGTERM uvicorn stops accepting connections and waits for in-flight requests; then
the lifespan shutdown drains the batcher (and stops the explainer's threads), so every accepted request is
answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from sdk.errors import PayloadTooLarge
from sdk.extras import require
from sdk.protocol.codec import encode_error
from sdk.serving.connection import guarded_protocol
from sdk.serving.service import JSON_HEADERS, Request, Response, Service, loggable

_T = TypeVar("_T")
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
            f'{self._stamp} {peer} "{method} {loggable(path)}" {status} in={size_in}B out={size_out}B {ms:.2f}ms '
            f"id={rid}\n"
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
        self.body_timeout_s = service.config.body_timeout_s
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
                self.service.explainer.close()
                if self._flusher is not None:
                    self._flusher.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await self._flusher
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        headers: dict[str, str] = {}
        repeated: dict[str, list[str]] = {}
        for raw_name, raw_value in scope["headers"]:
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            if name in headers:
                repeated.setdefault(name, [headers[name]]).append(value)
            else:
                headers[name] = value
        for name, values in repeated.items():  # joined once each, in linear time (not value by value)
            headers[name] = ", ".join(values)
        method = scope["method"]
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else scope["path"]
        has_body = headers.get("content-length", "0") not in ("", "0") or "transfer-encoding" in headers
        body: bytes | None = b""  # None: the connection closes after this answer (a body was left unread)
        found = self.service.preflight(method, path, headers)
        if isinstance(found, Request):
            read = await self._read_body(receive, headers, found)
            if read is None:  # the client went away before its body was complete: nothing is run
                self._log(scope, method, path, 499, -1, 0, start, found.request_id)
                self.service.record(found, 499, time.perf_counter() - start)
                return
            if isinstance(read, Response):
                response, body = read, None
            else:
                body = read
                response = await self.service.answer_async(
                    Request(found.method, found.path, found.headers, body, found.request_id)
                )
        else:
            response = found
            if has_body:
                body = None  # answered before its body was read: the connection cannot carry another request
        out_headers = dict(response.headers)
        if body is None:
            out_headers["connection"] = "close"
        # A HEAD answer carries the Content-Length its GET would have (the service sets it) and no body.
        sized = "content-length" in out_headers
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": [
                    *(() if sized else ((b"content-length", str(len(response.body)).encode()),)),
                    *((k.encode("latin-1"), v.encode("latin-1")) for k, v in out_headers.items()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": response.body})
        if self.service.metrics is not None:
            counted = found if isinstance(found, Request) else Request(method, path.split("?", 1)[0], headers, b"", "")
            self.service.record(counted, response.status, time.perf_counter() - start)
        size_in = len(body) if body is not None else -1
        self._log(
            scope,
            method,
            path,
            response.status,
            size_in,
            len(response.body),
            start,
            out_headers.get("x-request-id", "-"),
        )

    def _log(
        self, scope: Scope, method: str, path: str, status: int, size_in: int, size_out: int, start: float, rid: str
    ) -> None:
        if self.access_log is not None:
            client = scope.get("client")
            peer = f"{client[0]}:{client[1]}" if client else "-"
            ms = (time.perf_counter() - start) * 1000
            self.access_log.write(peer, method, path, status, size_in, size_out, ms, rid)

    async def _read_body(self, receive: Receive, headers: dict[str, str], request: Request) -> bytes | Response | None:
        """The whole body; a Response for one over the limit (413) or late (408); None when the client left."""
        declared = headers.get("content-length", "").strip()
        if declared.isascii() and declared.isdigit() and int(declared) > self.max_body:
            return self.service.refuse(request, _too_large(int(declared), self.max_body))
        if not declared and "transfer-encoding" not in headers:
            return b""  # no body announced (a GET): nothing to wait for
        try:
            return await _within(self.body_timeout_s, self._receive_body(receive))
        except PayloadTooLarge as exc:
            return self.service.refuse(request, exc)
        except asyncio.TimeoutError:
            message = f"the request body did not arrive within {self.body_timeout_s:g} s"
            headers = {**JSON_HEADERS, "x-request-id": request.request_id}
            return Response(408, headers, encode_error(message))

    async def _receive_body(self, receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None  # cut short (fewer bytes than Content-Length, then a close): never run
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise _too_large(size, self.max_body, partial=True)
            chunks.append(chunk)
            more = message.get("more_body", False)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _within(seconds: float, work: Coroutine[Any, Any, _T]) -> _T:
    """``await work``, or asyncio.TimeoutError after ``seconds`` (``asyncio.timeout`` where there is one: unlike
    ``wait_for`` on 3.11 it starts no task, which cost a small request measurable throughput)."""
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(seconds):
            return await work
    return await asyncio.wait_for(work, seconds)  # pragma: no cover - Python 3.10


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
    return require("uvicorn", purpose="sdk serve (the HTTP server)")


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

    limits = service.config
    log = AccessLog() if access_log else None
    config = uvicorn.Config(
        OipApp(service, access_log=log),
        host=host,
        port=port,
        http=guarded_protocol(limits, _refusal_logger(log, service)),
        ws="none",  # no WebSocket upgrade: this server speaks plain HTTP requests only
        lifespan="on",
        access_log=False,  # ours is written by OipApp, with latency and request id
        log_config=None,
        log_level=log_level,
        timeout_graceful_shutdown=graceful_timeout_s,
        timeout_keep_alive=limits.keep_alive_s,
        server_header=False,
    )
    _room_for_connections(limits.max_connections)
    return _Server(config)


def _refusal_logger(log: AccessLog | None, service: Service) -> Callable[[str, int, int], None] | None:
    """Access-log lines and metrics for the refusals of the connection layer (503 busy, 408, 431, 400), which no
    request reached."""
    metrics = service.metrics
    if log is None and metrics is None:
        return None

    def refused(peer: str, status: int, size: int) -> None:
        if log is not None:
            log.write(peer, "-", "-", status, -1, size, 0.0, "-")
        if metrics is not None:
            metrics.connection_refused(status)

    return refused


def _room_for_connections(connections: int) -> None:
    """Raise the soft open-files limit toward the hard one when ``max_connections`` would not fit under it."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return
    wanted = connections + 64  # the models, the log, the listening socket, the worker threads' files
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if target < wanted:
            logging.getLogger("sdk.serving").warning(
                "max_connections=%d needs %d open files but this process may open %d; lower it (--max-connections)",
                connections,
                wanted,
                target,
            )


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
