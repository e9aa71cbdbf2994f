"""``GET /metrics``: what the server did, per model and version, in Prometheus' text format (``prometheus-client``).

Each ``Service`` has its own registry (never the process-global one), so two services in one process never mix
their counts. Names follow Prometheus' conventions (base units, ``_seconds``, ``_total``)::

    aiaas_requests_total{model,version,route,status}      answered requests, by HTTP status
    aiaas_request_duration_seconds{model,version,route}   from a request's arrival to its answer
    aiaas_queue_duration_seconds{model,version}           waiting in the batcher's queue for a model run
    aiaas_compute_duration_seconds{model,version}         one model run (a whole batch)
    aiaas_batch_size{model,version}                       rows per model run
    aiaas_queue_depth{model,version}                      requests waiting now (read when scraped)
    aiaas_rejections_total{model,version,reason}          503 + Retry-After: queue_full, shutting_down, explain_busy
    aiaas_connections_refused_total{status}               the connection layer's refusals (503 busy, 408, 431, 400)
    aiaas_model_load_seconds{model,version,reload}        verify + session + warm-up, per load (reload: again)
    aiaas_model_evictions_total{model,version}            models closed to make room in the memory budget
    aiaas_memory_budget_bytes / aiaas_memory_used_bytes   the budget, and what loaded models are counted at now
    aiaas_explanations_total{model,version,outcome}       complete, partial (the deadline cut it) or failed
    aiaas_explanation_duration_seconds{model,version}     one explanation, all its model calls
    aiaas_build_info{version}                             1, labelled with this package's version

Cardinality is bounded by construction: ``model`` and ``version`` are those of a model this server resolved (any
other name is ``_unknown``; a route about no model has them empty), ``route`` is a handler of the route table (or
``_none`` for a path none takes), ``status`` one the server answers. A request id or a payload value is never a label.

The hot path is cheap: a request looks up its pre-bound children by a tuple, once bound; the queue depth is read
at scrape time, never updated per request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sdk._version import __version__
from sdk.extras import require

UNKNOWN = "_unknown"  # the model and version label of a request for a model this server does not serve
NO_ROUTE = "_none"  # the route label of a path no route takes

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
LOAD_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
REJECTION_REASONS = ("queue_full", "shutting_down", "explain_busy")
OUTCOMES = ("complete", "partial", "failed")


class ModelSeries:
    """One model version's pre-bound children: what the batcher and the explainer update."""

    __slots__ = ("_batch", "_compute", "_depth", "_explain_seconds", "_explained", "_queue", "_rejected")

    def __init__(self, metrics: ServingMetrics, model: str, version: str) -> None:
        self._queue = metrics.queue_seconds.labels(model, version)
        self._compute = metrics.compute_seconds.labels(model, version)
        self._batch = metrics.batch_size.labels(model, version)
        self._depth = metrics.queue_depth.labels(model, version)
        self._rejected = {reason: metrics.rejections.labels(model, version, reason) for reason in REJECTION_REASONS}
        self._explained = {outcome: metrics.explanations.labels(model, version, outcome) for outcome in OUTCOMES}
        self._explain_seconds = metrics.explain_seconds.labels(model, version)

    def ran(self, rows: int, compute_s: float, waits_s: Iterable[float]) -> None:
        """One model run of ``rows`` rows that took ``compute_s``, for requests that waited ``waits_s`` each."""
        self._batch.observe(rows)
        self._compute.observe(compute_s)
        queue = self._queue.observe
        for wait in waits_s:
            queue(wait)

    def track_depth(self, depth: Callable[[], float]) -> None:
        """Read the queue depth from ``depth()`` whenever the metrics are scraped."""
        self._depth.set_function(depth)

    def rejected(self, reason: str) -> None:
        self._rejected[reason].inc()

    def explained(self, outcome: str, seconds: float) -> None:
        self._explained[outcome].inc()
        self._explain_seconds.observe(seconds)


class ServingMetrics:
    """The metrics of one service, in a registry of its own."""

    def __init__(self) -> None:
        client = require("prometheus_client", purpose="GET /metrics (Prometheus metrics of sdk serve)")
        self._client = client
        self.registry = registry = client.CollectorRegistry(auto_describe=True)
        model = ("model", "version")

        def histogram(name: str, doc: str, labels: tuple[str, ...], buckets: tuple[float, ...]) -> Any:
            return client.Histogram(name, doc, labels, registry=registry, buckets=buckets)

        self.requests = client.Counter(
            "aiaas_requests", "Answered requests, by HTTP status", (*model, "route", "status"), registry=registry
        )
        self.request_seconds = histogram(
            "aiaas_request_duration_seconds",
            "From a request's arrival to its answer",
            (*model, "route"),
            LATENCY_BUCKETS,
        )
        self.queue_seconds = histogram(
            "aiaas_queue_duration_seconds", "Time a request waited in the batcher's queue", model, LATENCY_BUCKETS
        )
        self.compute_seconds = histogram(
            "aiaas_compute_duration_seconds", "One model run (a whole batch)", model, LATENCY_BUCKETS
        )
        self.batch_size = histogram("aiaas_batch_size", "Rows per model run", model, BATCH_BUCKETS)
        self.queue_depth = client.Gauge(
            "aiaas_queue_depth", "Requests waiting for a model run", model, registry=registry
        )
        self.rejections = client.Counter(
            "aiaas_rejections", "Requests refused with 503 + Retry-After", (*model, "reason"), registry=registry
        )
        self.connections_refused = client.Counter(
            "aiaas_connections_refused", "Connections the connection layer refused", ("status",), registry=registry
        )
        self.load_seconds = histogram(
            "aiaas_model_load_seconds",
            "Loading a model version (verify, session, warm-up)",
            (*model, "reload"),
            LOAD_BUCKETS,
        )
        self.evictions = client.Counter(
            "aiaas_model_evictions",
            "Models closed to make room in the memory budget (least recently used, idle)",
            model,
            registry=registry,
        )
        self.memory_budget = client.Gauge(
            "aiaas_memory_budget_bytes", "Memory the loaded models may hold (--memory-budget)", registry=registry
        )
        self.memory_used = client.Gauge(
            "aiaas_memory_used_bytes",
            "What the loaded models (and a load under way) are counted at in the memory budget",
            registry=registry,
        )
        self.explanations = client.Counter(
            "aiaas_explanations", "Explanations, by outcome", (*model, "outcome"), registry=registry
        )
        self.explain_seconds = histogram(
            "aiaas_explanation_duration_seconds", "One explanation, all its model calls", model, LATENCY_BUCKETS
        )
        client.Info("aiaas_build", "This server's package version", registry=registry).info({"version": __version__})
        self._bound: dict[tuple[str, str, str, int], tuple[Any, Any]] = {}
        self._models: dict[tuple[str, str], ModelSeries] = {}

    def request(self, model: str, version: str, route: str, status: int, seconds: float) -> None:
        """One answered request (``model``/``version`` already bounded by the caller: served, ``_unknown`` or '')."""
        counter, histogram = self.bound(model, version, route, status)
        counter.inc()
        histogram.observe(seconds)

    def bound(self, model: str, version: str, route: str, status: int) -> tuple[Any, Any]:
        """The request counter's and latency histogram's children for these labels, bound once."""
        key = (model, version, route, status)
        found = self._bound.get(key)
        if found is None:
            counter = self.requests.labels(model, version, route, str(status))
            found = self._bound[key] = (counter, self.request_seconds.labels(model, version, route))
        return found

    def model(self, name: str, version: str) -> ModelSeries:
        """The pre-bound series of a served model version (bound once, then shared)."""
        series = self._models.get((name, version))
        if series is None:
            series = self._models[(name, version)] = ModelSeries(self, name, version)
        return series

    def loaded(self, name: str, version: str, seconds: float, *, reload: bool) -> None:
        self.load_seconds.labels(name, version, "true" if reload else "false").observe(seconds)

    def evicted(self, name: str, version: str) -> None:
        self.evictions.labels(name, version).inc()

    def track_budget(self, capacity: int, used: Callable[[], float]) -> None:
        """The memory budget's size, and what it holds now (read when scraped)."""
        self.memory_budget.set(capacity)
        self.memory_used.set_function(used)

    def connection_refused(self, status: int) -> None:
        self.connections_refused.labels(str(status)).inc()

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition and its content type: the text format, or OpenMetrics when ``accept`` asks for it."""
        encoder, content_type = self._client.exposition.choose_encoder(accept)
        return encoder(self.registry), content_type

    def series_count(self) -> int:
        """Samples in one exposition: what a scrape stores (the cardinality tests watch it)."""
        return sum(len(family.samples) for family in self.registry.collect())
