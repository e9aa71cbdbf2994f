"""Which handler answers a method and path: the route table of the service, and a small cache of matched routes.

Only paths that route are cached, and only short ones: a miss (404/405) is recomputed each time, so a scanner
sending thousands of distinct or long paths grows nothing (it used to fill a 4,096-entry cache with ~115 KB per
entry, path and message, for good). The cache is bounded in entries and in the bytes of its keys.
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import unquote

BODY_HANDLERS = ("infer", "explain", "invocations")  # the routes that read a request body

_M = r"/v2/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?"
_ROUTES: tuple[tuple[str, re.Pattern[str], str, bool], ...] = tuple(
    (method, re.compile(f"^{pattern}$"), handler, public)
    for method, pattern, handler, public in (
        ("GET", r"/v2/health/live", "live", True),
        ("GET", r"/v2/health/ready", "ready", True),
        ("GET", r"/ping", "ping", True),
        ("GET", r"/v2", "server_metadata", False),
        ("GET", _M, "model_metadata", False),
        ("GET", _M + "/ready", "model_ready", False),
        ("POST", _M + "/infer", "infer", False),
        ("POST", _M + "/explain", "explain", False),
        ("POST", r"/invocations", "invocations", False),
    )
)


class Matched(NamedTuple):
    handler: str
    params: dict[str, str]
    public: bool  # answered without a token (the health checks)


class Refusal(NamedTuple):
    """A path no route takes with this method: 404, or 405 with the methods it allows."""

    status: int
    message: str
    headers: dict[str, str]


def route(method: str, path: str) -> Matched | Refusal:
    """The handler for ``method`` on ``path`` (without its query), or the 404/405 refusal."""
    request_path = path
    path = path.rstrip("/") or "/"
    allowed: list[str] = []
    for route_method, pattern, handler, public in _ROUTES:
        found = pattern.match(path)
        if found is None:
            continue
        if route_method == method or (method == "HEAD" and route_method == "GET"):
            params = {k: unquote(v) for k, v in found.groupdict().items() if v is not None}
            return Matched(handler, params, public)
        allowed.extend(("GET", "HEAD") if route_method == "GET" else (route_method,))
    if allowed:
        methods = ", ".join(sorted(set(allowed)))
        return Refusal(405, f"{method} is not allowed on {request_path}; use {methods}", {"allow": methods})
    return Refusal(404, f"no route {method} {request_path}; see GET /v2 and /v2/models/NAME", {})


class RouteCache:
    """``route`` with its matches remembered: at most ``max_entries`` paths of at most ``max_path`` characters."""

    def __init__(self, *, max_entries: int = 1024, max_path: int = 256) -> None:
        self.max_entries = max_entries
        self.max_path = max_path
        self._found: dict[tuple[str, str], Matched] = {}

    def __len__(self) -> int:
        return len(self._found)

    def key_bytes(self) -> int:
        """Characters held in the cache's keys: at most ``max_entries * (max_path + 7)``."""
        return sum(len(method) + len(path) for method, path in self._found)

    def lookup(self, method: str, path: str) -> Matched | Refusal:
        key = (method, path)
        found = self._found.get(key)
        if found is not None:
            return found
        result = route(method, path)
        if isinstance(result, Matched) and len(path) <= self.max_path and len(self._found) < self.max_entries:
            self._found[key] = result
        return result
