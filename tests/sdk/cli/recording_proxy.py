"""A real HTTP reverse proxy on loopback that keeps every request it forwards (path, headers, body), so a test can
decode what the CLI really sent to the cloud: which tensors, of which datatype."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import httpx

from sdk.protocol.codec import InferRequest, decode_request
from tests.loopback import Loopback, QuietHandler


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
        self._server = Loopback(self._handler())
        self.url = self._server.url

    def infers(self) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.path.endswith("/infer")]

    def clear(self) -> None:
        with self._lock:
            self.seen.clear()

    def close(self) -> None:
        self._server.close()
        self._client.close()

    def _handler(self) -> type[QuietHandler]:
        proxy = self

        class Handler(QuietHandler):
            def _serve(self) -> None:
                body = self.body()
                headers = {k.lower(): v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                with proxy._lock:
                    proxy.seen.append(Seen(self.command, self.path, headers, body))
                self.relay(proxy._client, body)

            do_GET = _serve
            do_POST = _serve

        return Handler
