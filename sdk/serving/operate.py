"""What an operator reads from a running server: ``GET /metrics``, ``GET /v2/openapi.json``, ``GET /v2/models`` and
the page (``GET /``, ``GET /ui/{file}``). Each is a route of the table that ``Service`` answers through ``Operator``.

Settings (``ServeConfig``): ``metrics`` (off: /metrics answers 404), ``metrics_auth`` (off: a scraper reads /metrics
without the bearer token), ``ui`` and ``ui_dir`` (the page's folder, read once here). The OpenAPI document is built
once, on its first request, from the route table and these settings.
"""

from __future__ import annotations

import logging
from typing import Any

from sdk.errors import AiaasError, MissingDependency
from sdk.protocol import jsonio
from sdk.runtime import LoadedModel
from sdk.serving import catalog, sagemaker
from sdk.serving.config import ServeConfig
from sdk.serving.messages import JSON_HEADERS, Request, Response, error
from sdk.serving.metrics import NO_ROUTE, UNKNOWN, ServingMetrics
from sdk.serving.repository import ModelRepository
from sdk.serving.routes import Refusal, RouteCache
from sdk.serving.ui import INDEX, UiFiles

logger = logging.getLogger("sdk.serving")

MAX_BOUND, MAX_BOUND_PATH = 2048, 256  # requests remembered by path (as the route cache: entries, characters)

# The routes about one model: their requests are counted under its name and version.
_MODEL_HANDLERS = frozenset(("model_metadata", "model_ready", "infer", "explain", "invocations"))


class Operator:
    """The operator's routes of one service: its metrics registry, the page's files, the OpenAPI document."""

    def __init__(self, config: ServeConfig, repository: ModelRepository, routes: RouteCache) -> None:
        self.config = config
        self.repository = repository
        self.routes = routes
        self.metrics: ServingMetrics | None = None
        self._no_metrics: MissingDependency | None = None  # metrics asked for, prometheus-client not installed
        if config.metrics:
            try:
                self.metrics = ServingMetrics()
            except MissingDependency as exc:  # serve anyway: /metrics says what to install (501)
                logger.warning("GET /metrics is unavailable: %s", exc.message)
                self._no_metrics = exc
        self.ui = UiFiles(config.ui_dir) if config.ui else None
        self._openapi: bytes | None = None
        self._bound: dict[tuple[str, str, int], Any] = {}  # (method, path, status) -> children, for known labels
        if self.metrics is not None:
            repository.on_load = self._loaded

    def _loaded(self, model: LoadedModel, seconds: float, reload: bool) -> None:
        assert self.metrics is not None
        self.metrics.loaded(model.manifest.name, model.manifest.version, seconds, reload=reload)

    def record(self, request: Request, status: int, seconds: float) -> None:
        """Count an answered request. Its labels stay bounded: a model this server resolved (any other name is
        ``_unknown``), a route of the table (a path none takes is ``_none``), never the request id or the payload."""
        metrics = self.metrics
        if metrics is None:
            return
        key = (request.method, request.path, status)
        bound = self._bound.get(key)
        if bound is None:
            bound = self._bind(metrics, request, status, key)
        bound[0].inc()
        bound[1].observe(seconds)

    def _bind(self, metrics: ServingMetrics, request: Request, status: int, key: tuple[str, str, int]) -> Any:
        """The children a request counts in, found from its route and model; remembered for the next request of the
        same path and status when its labels cannot change (a route about no model, or a model it resolved)."""
        found = self.routes.lookup(request.method, request.path)
        if isinstance(found, Refusal):
            return metrics.bound("", "", NO_ROUTE, status)
        handler, params, _ = found
        model = version = ""
        if handler in _MODEL_HANDLERS:
            model = version = UNKNOWN
            if handler == "invocations":
                try:
                    params = sagemaker.target_model(request.headers, self.config.default_model, self.repository.names)
                except AiaasError:
                    params = {}
            name = params.get("name", "")
            stored = self.repository.resolved(name, params.get("version"))
            if stored is not None:
                model, version = stored.name, stored.version
            elif self.repository.resolved(name) is not None:  # a served model, a version it does not have
                model = name
        bound = metrics.bound(model, version, handler, status)
        fixed = version != UNKNOWN and handler != "invocations"  # /invocations: the model is named in a header
        if fixed and len(self._bound) < MAX_BOUND and len(request.path) <= MAX_BOUND_PATH:
            self._bound[key] = bound
        return bound

    def metrics_text(self, request: Request) -> Response:
        if self._no_metrics is not None:
            raise self._no_metrics
        if self.metrics is None:
            return error(request, 404, "metrics are turned off on this server (AIAAS_METRICS=false)")
        body, content_type = self.metrics.render(request.headers.get("accept", ""))
        headers = {"content-type": content_type, "cache-control": "no-store", "x-request-id": request.request_id}
        return Response(200, headers, body)

    def openapi(self, request: Request) -> Response:
        if self._openapi is None:
            from sdk.serving import openapi  # on the first GET /v2/openapi.json: it imports sdk.explain

            self._openapi = jsonio.dumps(openapi.document(self.config))
        return Response(200, {**JSON_HEADERS, "x-request-id": request.request_id}, self._openapi)

    def model_list(self, request: Request) -> Response:
        document: dict[str, Any] = catalog.model_list(self.repository, explain=self.config.explain)
        return Response(200, {**JSON_HEADERS, "x-request-id": request.request_id}, jsonio.dumps(document))

    def page(self, request: Request, name: str = INDEX) -> Response:
        """``name`` among the page's files (``/`` is its index.html); 404 for any other, or with the page off."""
        if self.ui is None:
            return error(request, 404, "the page is turned off on this server (AIAAS_UI=false)")
        found = self.ui.answer(name, request.headers, request.request_id)
        if found is not None:
            return found
        if not self.ui.names():
            return error(request, 404, "the page's files are not installed on this server (sdk/serving/ui)")
        shown = name if len(name) <= 64 else name[:64] + "..."
        return error(request, 404, f"the page has no file {shown!r}; it has: {', '.join(self.ui.names())}")
