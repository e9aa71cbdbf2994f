"""A stand-in for a Lambda function URL in front of the handler: a real HTTP server on loopback that turns each
request into the payload 2.0 event a function URL sends (body base64-encoded, as a function URL does for any binary
content) and the handler's answer back into an HTTP response, so a real client can talk to the real handler.

``seen`` holds the JSON part of every request body that reached the handler, so a test can show what was asked."""

from __future__ import annotations

import base64
import json
from types import ModuleType
from typing import Any

from tests.functions.conftest import FakeLambdaContext, event
from tests.loopback import Loopback, QuietHandler


class FunctionUrlFront:
    def __init__(self, handler_module: ModuleType) -> None:
        self.module = handler_module
        self.seen: list[dict[str, Any]] = []
        self._server = Loopback(self._handler())
        self.url = self._server.url

    def close(self) -> None:
        self._server.close()

    def _event(self, method: str, path: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        request = event("function_url_infer_json.json")
        request["rawPath"] = request["requestContext"]["http"]["path"] = path
        request["requestContext"]["http"]["method"] = method
        request["headers"] = headers
        request["body"], request["isBase64Encoded"] = base64.b64encode(body).decode("ascii"), True
        return request

    def _handler(self) -> type[QuietHandler]:
        front = self

        class Handler(QuietHandler):
            def _forward(self) -> None:
                body = self.body()
                length = int(self.headers.get("Inference-Header-Content-Length") or len(body))
                if body[:1] == b"{":
                    front.seen.append(json.loads(body[:length]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                answer = front.module.handler(front._event(self.command, self.path, headers, body), FakeLambdaContext())
                raw = answer.get("body") or ""
                out = base64.b64decode(raw) if answer.get("isBase64Encoded") else raw.encode()
                self.reply(answer["statusCode"], answer.get("headers") or {}, out)

            do_GET = do_POST = _forward

        return Handler
