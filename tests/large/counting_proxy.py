"""A counting HTTP proxy in front of the moto server: what the S3 endpoint really sent, per request.

boto3 is pointed at the proxy (``AWS_ENDPOINT_URL``); each request is forwarded to moto as it came (Range headers
included) and the response body streamed back while its bytes are counted. A client killed mid-body stops the
stream: the count is what left the endpoint, as a real S3 would bill it.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from tests.loopback import Loopback, QuietHandler

HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade", "te", "trailer"}


class Counter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.get_bytes = 0  # response body bytes of GET requests (object downloads)
        self.requests: dict[str, int] = {}  # method -> requests forwarded (each chunk is one PUT or GET)

    def add(self, method: str, nbytes: int) -> None:
        with self._lock:
            if method == "GET":
                self.get_bytes += nbytes

    def request(self, method: str) -> None:
        with self._lock:
            self.requests[method] = self.requests.get(method, 0) + 1

    def take_requests(self) -> dict[str, int]:
        """Requests per method since the last call."""
        with self._lock:
            value, self.requests = self.requests, {}
            return value

    def take(self) -> int:
        """GET bytes since the last take."""
        with self._lock:
            value, self.get_bytes = self.get_bytes, 0
            return value


@contextmanager
def counting_proxy(upstream: str) -> Iterator[tuple[str, Counter]]:
    target = urlsplit(upstream)
    counter = Counter()

    class Handler(QuietHandler):
        def _forward(self) -> None:
            body = self.body() or None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
            counter.request(self.command)
            conn = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=120)
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in HOP:
                        self.send_header(key, value)
                self.end_headers()
                if self.command == "HEAD":
                    return
                while chunk := response.read(1 << 16):
                    self.wfile.write(chunk)
                    counter.add(self.command, len(chunk))
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            finally:
                conn.close()

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

    with Loopback(Handler) as server:
        yield server.url, counter
