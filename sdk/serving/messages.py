"""What the serving core takes and gives: a request, a response, the record an observer gets, and the small rules
every route shares (the request id, a path as a log line shows it, a HEAD answer)."""

from __future__ import annotations

import logging
import random
import re
import traceback
from collections.abc import Mapping
from typing import NamedTuple

from sdk._record import record
from sdk.errors import AiaasError, Overloaded, Unauthorized, UnsupportedMediaType
from sdk.protocol import encoding
from sdk.protocol.codec import encode_error

logger = logging.getLogger("sdk.serving")

JSON_HEADERS = {"content-type": "application/json"}
_REQUEST_ID = re.compile(r"[\w.:-]{1,128}", re.ASCII)  # fullmatch: no trailing newline, no non-ASCII letters
LOGGED_PATH = 200  # characters of a path that go into a log line


class Response(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes


@record
class Request:
    method: str
    path: str
    headers: Mapping[str, str]  # lowercase names
    body: bytes
    request_id: str


@record
class InferenceRecord:
    """What an observer (e.g. the Lambda handler's metrics) learns of each inference: never the payload."""

    model: str
    version: str
    rows: int
    run_ms: float  # model run, plus the wait for a batch when batching


def request_id(given: str) -> str:
    """The client's X-Request-Id when it is 1 to 128 ASCII letters, digits, ``_.:-`` (nothing else), else a new one."""
    if _REQUEST_ID.fullmatch(given):
        return given
    # 128 random bits as 32 hex digits, like uuid4().hex but with no system call per request: an id names a request
    # in the logs, it guards nothing (the generator is seeded from os.urandom, and again in a forked child).
    return f"{random.getrandbits(128):032x}"


def loggable(path: str) -> str:
    """A request path as it may appear in a log line: at most LOGGED_PATH characters, control characters escaped."""
    shown = path if len(path) <= LOGGED_PATH else f"{path[:LOGGED_PATH]}…(+{len(path) - LOGGED_PATH} chars)"
    return shown if shown.isprintable() else shown.encode("unicode_escape").decode("ascii")


def for_method(request: Request, response: Response) -> Response:
    """A HEAD request's answer: the GET's status and headers, its Content-Length, and no body."""
    if request.method != "HEAD":
        return response
    return Response(response.status, {**response.headers, "content-length": str(len(response.body))}, b"")


def error(
    request: Request, status: int, message: str, extra: Mapping[str, str] | None = None, code: str | None = None
) -> Response:
    """The error answer to ``request``: ``{"error": message, "code": code}`` JSON with its request id."""
    headers = {**JSON_HEADERS, "x-request-id": request.request_id, **(extra or {})}
    return Response(status, headers, encode_error(message, code))


def failure(request: Request, exc: Exception) -> Response:
    """The answer to a request that raised ``exc``: an ``AiaasError`` with its status, code and the headers its status
    calls for; anything else a 500 that names the request id only. A server fault is logged with where it was
    raised, never with its message, which may quote the request (a key, a value)."""
    if isinstance(exc, AiaasError):
        extra: dict[str, str] = {}
        if isinstance(exc, Overloaded):
            extra["retry-after"] = str(max(1, round(exc.retry_after)))
        elif isinstance(exc, Unauthorized):
            extra["www-authenticate"] = 'Bearer realm="aiaas"'
        elif isinstance(exc, UnsupportedMediaType):
            extra["accept-encoding"] = encoding.ACCEPTED  # RFC 9110 §15.5.16: the codings that would do
        if exc.status >= 500 and exc.status not in (501, 503):
            logger.error(
                "request %s: %s %s failed: %s", request.request_id, request.method, loggable(request.path), exc
            )
        message = f"{exc.message} (fix: {exc.hint})" if exc.hint else exc.message
        return error(request, exc.status, message, extra, code=exc.code)
    frames = "".join(traceback.format_list(traceback.extract_tb(exc.__traceback__)))
    logger.error(
        "request %s: %s %s failed with an unexpected %s (message withheld: it may quote the request)\n%s",
        request.request_id,
        request.method,
        loggable(request.path),
        type(exc).__name__,
        frames.rstrip(),
    )
    message = f"internal server error; the server log has the details (request id {request.request_id})"
    return error(request, 500, message)
