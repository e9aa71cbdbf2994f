"""A real HTTP reverse proxy on loopback that keeps every request it forwards (path, headers, body), so a test can
decode what the CLI really sent to the cloud: which tensors, of which datatype."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from sdk.protocol.codec import InferRequest, decode_request


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def request(self) -> InferRequest:
        """The body as the server decodes it (JSON or binary tensors)."""
        return decode_request(self.body, self.headers)


class RecordingProxy:
    def __init__(self, upstream: str) -> None:
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._client = httpx.Client(base_url=upstream.rstrip("/"), timeout=30)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def infers(self) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.path.endswith("/infer")]

    def clear(self) -> None:
        with self._lock:
            self.seen.clear()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle/delayed-ACK stall

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                with proxy._lock:
                    proxy.seen.append(Seen(self.command, self.path, headers, body))
                upstream = proxy._client.request(self.command, self.path, content=body or None, headers=headers)
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
