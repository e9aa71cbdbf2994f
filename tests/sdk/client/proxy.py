"""A real HTTP reverse proxy on loopback in front of a real `sdk serve`, that can delay, fail or refuse on demand.

It counts every request that reaches it (the "cloud"), so tests can prove a private call never got there.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str, int]] = []  # (method, path, body bytes)
        self.delay_s = 0.0
        self.statuses: deque[tuple[int, dict[str, str]]] = deque()  # canned answers served before forwarding
        self.always: tuple[int, dict[str, str]] | None = None
        self._client = httpx.Client(base_url=self.upstream, timeout=30)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    # --- control -----------------------------------------------------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.statuses.clear()
            self.always = None
            self.delay_s = 0.0

    def fail_next(self, *answers: int | tuple[int, dict[str, str]]) -> None:
        with self.lock:
            for answer in answers:
                self.statuses.append(answer if isinstance(answer, tuple) else (answer, {}))

    def fail_always(self, status: int, headers: dict[str, str] | None = None) -> None:
        with self.lock:
            self.always = (status, headers or {})

    @property
    def count(self) -> int:
        with self.lock:
            return len(self.requests)

    def infer_count(self) -> int:
        with self.lock:
            return sum(1 for _, path, _ in self.requests if path.endswith("/infer") or path == "/invocations")

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()

    # --- serving -----------------------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in separate writes: without this, Nagle's algorithm meets the peer's
                # delayed ACK and every keep-alive response waits ~40 ms.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                with proxy.lock:
                    proxy.requests.append((self.command, self.path, len(body)))
                    canned = proxy.statuses.popleft() if proxy.statuses else proxy.always
                    delay = proxy.delay_s
                if delay:
                    time.sleep(delay)
                if canned is not None:
                    status, headers = canned
                    payload = b'{"error": "injected by the test proxy"}'
                    self.send_response(status)
                    for key, value in {"content-type": "application/json", **headers}.items():
                        self.send_header(key, value)
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                forwarded = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                upstream = proxy._client.request(self.command, self.path, content=body or None, headers=forwarded)
                self.send_response(upstream.status_code)
                for key, value in upstream.headers.items():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                        self.send_header(key, value)
                self.send_header("content-length", str(len(upstream.content)))
                self.end_headers()
                self.wfile.write(upstream.content)

            do_GET = _serve
            do_POST = _serve

        return Handler
