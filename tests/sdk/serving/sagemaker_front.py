"""A stand-in for SageMaker's InvokeEndpoint in front of a container: a real HTTP proxy on loopback that forwards
only the headers InvokeEndpoint carries, both ways, as the real service does (it drops every other header, so the
binary extension's Inference-Header-Content-Length never reaches the container nor comes back to the caller).

Header lists from the InvokeEndpoint API reference (request: ContentType, Accept, CustomAttributes, TargetModel,
TargetVariant, TargetContainerHostname, InferenceId, EnableExplanations, InferenceComponentName, SessionId;
response: ContentType, InvokedProductionVariant, CustomAttributes, NewSessionId, ClosedSessionId).
"""

from __future__ import annotations

import httpx

from tests.loopback import Loopback, QuietHandler

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
        self._server = Loopback(self._handler())
        self.url = self._server.url

    def close(self) -> None:
        self._server.close()
        self._client.close()

    def _handler(self) -> type[QuietHandler]:
        front = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.body()
                forwarded = {k: v for k, v in self.headers.items() if k.lower() in REQUEST_HEADERS}
                front.seen = {k.lower(): v for k, v in forwarded.items()}
                answer = front._client.post("/invocations", content=body, headers=forwarded)
                kept = [(name, value) for name, value in answer.headers.items() if name.lower() in RESPONSE_HEADERS]
                self.reply(answer.status_code, kept, answer.content)

        return Handler
