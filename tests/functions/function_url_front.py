"""A stand-in for a Lambda function URL in front of the handler: a real HTTP server on loopback that turns each
request into the payload 2.0 event a function URL sends (body base64-encoded, as a function URL does for any binary
content) and the handler's answer back into an HTTP response, so a real client can talk to the real handler.

``seen`` holds the JSON part of every request body that reached the handler, so a test can show what was asked."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import Any

from tests.functions.conftest import FakeLambdaContext, event


class FunctionUrlFront:
    def __init__(self, handler_module: ModuleType) -> None:
        self.module = handler_module
        self.seen: list[dict[str, Any]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _event(self, method: str, path: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        request = event("function_url_infer_json.json")
        request["rawPath"] = request["requestContext"]["http"]["path"] = path
        request["requestContext"]["http"]["method"] = method
        request["headers"] = headers
        request["body"], request["isBase64Encoded"] = base64.b64encode(body).decode("ascii"), True
        return request

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                length = int(self.headers.get("Inference-Header-Content-Length") or len(body))
                if body[:1] == b"{":
                    front.seen.append(json.loads(body[:length]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                answer = front.module.handler(front._event(self.command, self.path, headers, body), FakeLambdaContext())
                raw = answer.get("body") or ""
                out = base64.b64decode(raw) if answer.get("isBase64Encoded") else raw.encode()
                self.send_response(answer["statusCode"])
                for key, value in (answer.get("headers") or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = _forward

        return Handler
