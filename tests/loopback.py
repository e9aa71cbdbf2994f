"""Real HTTP servers on loopback for the tests' stand-ins (proxies, fronts, fake endpoints).

``Loopback(Handler)`` serves a ``BaseHTTPRequestHandler`` class from a ``ThreadingHTTPServer`` on ``127.0.0.1`` and a
free port, in a daemon thread, until ``close()`` (or the end of a ``with`` block); ``url`` is its base address. A
client that hangs up mid-answer prints no traceback. ``Handler`` subclasses ``QuietHandler``: HTTP/1.1 keep-alive, no
access log on stderr, Nagle off (headers and body go out in separate writes: without ``TCP_NODELAY``, Nagle's
algorithm meets the peer's delayed ACK and every keep-alive response waits ~40 ms), ``body()`` reads the request's
body, ``reply()`` writes a whole response with its length and ``relay()`` forwards the request to an upstream server
and replies with its answer (a reverse proxy's turn).
"""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import httpx

# Not relayed back: httpx has already undone the framing and the encoding (its .content is the decoded body).
UNRELAYED = frozenset({"content-length", "transfer-encoding", "connection", "content-encoding"})
Headers = Mapping[str, str] | Iterable[tuple[str, str]]


class QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def body(self) -> bytes:
        """The request's body, as long as its Content-Length says (none: empty)."""
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def reply(self, status: int, headers: Headers, body: bytes) -> None:
        """A whole response: ``headers`` (any Content-Length among them replaced by the body's) and ``body``."""
        self.send_response(status)
        for key, value in headers.items() if isinstance(headers, Mapping) else headers:
            if key.lower() != "content-length":
                self.send_header(key, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def relay(self, client: httpx.Client, body: bytes) -> None:
        """Send this request (method, path, headers less Host and Content-Length, ``body``) upstream with ``client``
        and reply with its answer."""
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        upstream = client.request(self.command, self.path, content=body or None, headers=headers)
        kept = [(key, value) for key, value in upstream.headers.items() if key.lower() not in UNRELAYED]
        self.reply(upstream.status_code, kept, upstream.content)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up mid-answer (a test kills one on purpose) is no error: no traceback on stderr."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Loopback:
    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._server = _Server(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Loopback:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
