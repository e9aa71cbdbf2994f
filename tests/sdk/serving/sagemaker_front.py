"""A stand-in for SageMaker's InvokeEndpoint in front of a container: a real HTTP proxy on loopback that forwards
only the headers InvokeEndpoint carries, both ways, as the real service does (it drops every other header, so the
binary extension's Inference-Header-Content-Length never reaches the container nor comes back to the caller).

Header lists from the InvokeEndpoint API reference (request: ContentType, Accept, CustomAttributes, TargetModel,
TargetVariant, TargetContainerHostname, InferenceId, EnableExplanations, InferenceComponentName, SessionId;
response: ContentType, InvokedProductionVariant, CustomAttributes, NewSessionId, ClosedSessionId).
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

REQUEST_HEADERS = frozenset(
    {
        "content-type",
        "accept",
        "x-amzn-sagemaker-custom-attributes",
        "x-amzn-sagemaker-target-model",
        "x-amzn-sagemaker-target-variant",
        "x-amzn-sagemaker-target-container-hostname",
        "x-amzn-sagemaker-inference-id",
        "x-amzn-sagemaker-enable-explanations",
        "x-amzn-sagemaker-inference-component",
        "x-amzn-sagemaker-session-id",
    }
)
RESPONSE_HEADERS = frozenset(
    {
        "content-type",
        "x-amzn-invoked-production-variant",
        "x-amzn-sagemaker-custom-attributes",
        "x-amzn-sagemaker-new-session-id",
        "x-amzn-sagemaker-closed-session-id",
    }
)


class SageMakerFront:
    """POST ``/invocations`` forwarded to ``upstream``'s ``/invocations`` with SageMaker's header filtering.

    ``seen`` holds the headers of the last request that reached the container (lowercase names), so a test can show
    what got through."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.seen: dict[str, str] = {}
        self._client = httpx.Client(base_url=self.upstream, timeout=60)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                forwarded = {k: v for k, v in self.headers.items() if k.lower() in REQUEST_HEADERS}
                front.seen = {k.lower(): v for k, v in forwarded.items()}
                answer = front._client.post("/invocations", content=body, headers=forwarded)
                self.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower() in RESPONSE_HEADERS:
                        self.send_header(name, value)
                self.send_header("content-length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

        return Handler
