"""Which handler answers a method and path: the route table of the service, and a small cache of matched routes.

``ROUTES`` is the one table: the service dispatches on it and ``openapi`` describes it, so the served API and its
OpenAPI document cannot drift apart. Each path is an OpenAPI template (``{name}`` matches one path segment); the
optional ``/versions/{version}`` of the Open Inference Protocol is a route of its own.

Only paths that route are cached, and only short ones: a miss (404/405) is recomputed each time, so a scanner
sending thousands of distinct or long paths grows nothing (it used to fill a 4,096-entry cache with ~115 KB per
entry, path and message, for good). The cache is bounded in entries and in the bytes of its keys.
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import unquote

BODY_HANDLERS = ("infer", "explain", "invocations")  # the routes that read a request body


class Route(NamedTuple):
    """One route: what the dispatcher matches and what the OpenAPI document says of it."""

    method: str
    path: str  # an OpenAPI path template
    handler: str  # Service._on_<handler> answers it
    public: bool  # answered without a token
    summary: str
    answer: str  # the 200 answer: a schema of ``openapi.SCHEMAS``, or a media type (``text/html``, ...)
    body: str | None = None  # the request body's schema, for a route that reads one
    errors: tuple[int, ...] = ()  # the error statuses it may answer besides 401 (and 404/405 for any path)


_MODEL = "/v2/models/{name}"
_VERSION = "/v2/models/{name}/versions/{version}"
_BODY_ERRORS = (400, 404, 413, 415, 422, 500, 503)


def _model_routes() -> tuple[Route, ...]:
    """The model routes, each with and without ``/versions/{version}``."""
    routes: list[Route] = []
    for base, which in ((_MODEL, "its default version"), (_VERSION, "this version or alias")):
        routes += [
            Route("GET", base, "model_metadata", False, f"Metadata of {which}", "ModelMetadata", None, (404, 422)),
            Route("GET", base + "/ready", "model_ready", False, f"Is {which} loaded", "ModelReady", None, (404,)),
            Route(
                "POST",
                base + "/infer",
                "infer",
                False,
                f"Inference on {which}",
                "InferResponse",
                "InferRequest",
                _BODY_ERRORS,
            ),
            Route(
                "POST",
                base + "/explain",
                "explain",
                False,
                f"Attributions for {which}'s answer",
                "ExplainResponse",
                "ExplainRequest",
                (*_BODY_ERRORS, 504),
            ),
        ]
    return tuple(routes)


ROUTES: tuple[Route, ...] = (
    Route("GET", "/", "ui_index", True, "The page: the models, a form for each, metrics", "text/html", None, (404,)),
    Route("GET", "/ui/{file}", "ui_file", True, "A file of the page (script, style, images)", "*/*", None, (404,)),
    Route("GET", "/v2/health/live", "live", True, "Liveness", "Live"),
    Route(
        "GET",
        "/v2/health/ready",
        "ready",
        True,
        "Readiness: every served model loaded and warmed up",
        "Ready",
        None,
        (503,),
    ),
    Route("GET", "/ping", "ping", True, "SageMaker health check (as /v2/health/ready)", "Ready", None, (503,)),
    Route("GET", "/v2", "server_metadata", False, "Server metadata and the extensions it claims", "ServerMetadata"),
    Route("GET", "/v2/openapi.json", "openapi", True, "This document", "application/json"),
    Route(
        "GET", "/v2/models", "model_list", False, "The models and versions served, as the page lists them", "ModelList"
    ),
    *_model_routes(),
    Route(
        "POST",
        "/invocations",
        "invocations",
        False,
        "SageMaker inference (model: X-Amzn-SageMaker-Target-Model, else the default)",
        "InferResponse",
        "InferRequest",
        _BODY_ERRORS,
    ),
    Route("GET", "/metrics", "metrics", False, "Prometheus metrics (text format)", "text/plain", None, (404,)),
)


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)  # literal, name, literal, name, ...
    regex = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)" for i, part in enumerate(parts))
    return re.compile(f"^{regex}$")


_TABLE: tuple[tuple[str, re.Pattern[str], str, bool], ...] = tuple(
    (r.method, _pattern(r.path), r.handler, r.public) for r in ROUTES
)


class Matched(NamedTuple):
    handler: str
    params: dict[str, str]
    public: bool  # answered without a token (the health checks, the page)


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
    for route_method, pattern, handler, public in _TABLE:
        found = pattern.match(path)
        if found is None:
            continue
        if route_method == method or (method == "HEAD" and route_method == "GET"):
            params = {k: unquote(v) for k, v in found.groupdict().items()}
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
