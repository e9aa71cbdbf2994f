"""What the serving core takes and gives: a request, a response, the record an observer gets, and the small rules
every route shares (the request id, a path as a log line shows it, a HEAD answer)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

JSON_HEADERS = {"content-type": "application/json"}
_REQUEST_ID = re.compile(r"[\w.:-]{1,128}", re.ASCII)  # fullmatch: no trailing newline, no non-ASCII letters
LOGGED_PATH = 200  # characters of a path that go into a log line


class Response(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: Mapping[str, str]  # lowercase names
    body: bytes
    request_id: str


@dataclass(frozen=True)
class InferenceRecord:
    """What an observer (e.g. the Lambda handler's metrics) learns of each inference: never the payload."""

    model: str
    version: str
    rows: int
    run_ms: float  # model run, plus the wait for a batch when batching


def request_id(given: str) -> str:
    """The client's X-Request-Id when it is 1 to 128 ASCII letters, digits, ``_.:-`` (nothing else), else a new one."""
    return given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def loggable(path: str) -> str:
    """A request path as it may appear in a log line: at most LOGGED_PATH characters, control characters escaped."""
    shown = path if len(path) <= LOGGED_PATH else f"{path[:LOGGED_PATH]}…(+{len(path) - LOGGED_PATH} chars)"
    return shown if shown.isprintable() else shown.encode("unicode_escape").decode("ascii")


def for_method(request: Request, response: Response) -> Response:
    """A HEAD request's answer: the GET's status and headers, its Content-Length, and no body."""
    if request.method != "HEAD":
        return response
    return Response(response.status, {**response.headers, "content-length": str(len(response.body))}, b"")
