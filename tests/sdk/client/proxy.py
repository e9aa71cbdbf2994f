"""A real HTTP reverse proxy on loopback in front of a real `sdk serve`, that can delay, fail or refuse on demand.

It counts every request that reaches it (the "cloud"), so tests can prove a private call never got there. A canned
answer is a status, or (status, headers) or (status, headers, body): the body defaults to an ``{"error": ...}``
object, and may be anything (an HTML page, an empty 200, JSON that is not an inference response).

``scope``: which requests the canned answers and the delay apply to: ``"all"`` (default), or ``"infer"`` only (the
model metadata read a client makes before it first sends a model's data then reaches the server).
"""

from __future__ import annotations

import threading
import time
from collections import deque

import httpx

from tests.loopback import Loopback, QuietHandler

DEFAULT_BODY = b'{"error": "injected by the test proxy"}'
Canned = tuple[int, dict[str, str], bytes]
Answer = int | tuple[int, dict[str, str]] | tuple[int, dict[str, str], bytes]


def _canned(answer: Answer) -> Canned:
    if isinstance(answer, int):
        return answer, {}, DEFAULT_BODY
    if len(answer) == 2:
        return answer[0], answer[1], DEFAULT_BODY
    return answer


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str, int]] = []  # (method, path, body bytes)
        self.delay_s = 0.0
        self.statuses: deque[Canned] = deque()  # canned answers served before forwarding
        self.always: Canned | None = None
        self.scope = "all"
        self._client = httpx.Client(base_url=self.upstream, timeout=30)
        self._server = Loopback(self._handler())
        self.url = self._server.url

    # --- control -----------------------------------------------------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.statuses.clear()
            self.always = None
            self.delay_s = 0.0
            self.scope = "all"

    def fail_next(self, *answers: Answer) -> None:
        with self.lock:
            self.statuses.extend(_canned(answer) for answer in answers)

    def fail_always(self, status: int, headers: dict[str, str] | None = None, body: bytes = DEFAULT_BODY) -> None:
        with self.lock:
            self.always = (status, headers or {}, body)

    @property
    def count(self) -> int:
        with self.lock:
            return len(self.requests)

    def infer_count(self) -> int:
        with self.lock:
            return sum(1 for _, path, _ in self.requests if path.endswith("/infer") or path == "/invocations")

    def close(self) -> None:
        self._server.close()
        self._client.close()

    # --- serving -----------------------------------------------------------------------------------------------

    def _handler(self) -> type[QuietHandler]:
        proxy = self

        class Handler(QuietHandler):
            def _serve(self) -> None:
                body = self.body()
                infer = self.path.endswith("/infer") or self.path == "/invocations"
                with proxy.lock:
                    proxy.requests.append((self.command, self.path, len(body)))
                    canned, delay = None, 0.0
                    if proxy.scope == "all" or infer:
                        canned = proxy.statuses.popleft() if proxy.statuses else proxy.always
                        delay = proxy.delay_s
                if delay:
                    time.sleep(delay)
                if canned is None:
                    self.relay(proxy._client, body)
                    return
                status, headers, payload = canned
                self.reply(status, {"content-type": "application/json", **headers}, payload)

            do_GET = _serve
            do_POST = _serve

        return Handler
