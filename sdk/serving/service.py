"""The serving core, independent of any transport: ``handle(method, path, headers, body) -> Response``.

`sdk serve` (over its batcher, ``handle_async``), the Lambda handler and the SageMaker container all call it, so they
answer identical requests identically. Routes (Open Inference Protocol v2, plus the SageMaker container contract)::

    GET  /v2/health/live · /v2/health/ready · /v2
    GET  /v2/models/{name}[/versions/{v}]            model metadata (from the manifest)
    GET  /v2/models/{name}[/versions/{v}]/ready
    POST /v2/models/{name}[/versions/{v}]/infer
    POST /v2/models/{name}[/versions/{v}]/explain    attributions (the ``explain`` extension: ``explaining``)
    GET  /ping · POST /invocations                   SageMaker (model: X-Amzn-SageMaker-Target-Model, else default)
    GET  /v2/models · /v2/openapi.json · /metrics    the models served, the OpenAPI document, Prometheus (``operate``)
    GET  / · /ui/{file}                              the page (``ui``)

Every GET route answers HEAD too (RFC 9110 §9.1): the GET's status and headers, its Content-Length, no body. An
inference body may come gzip- or deflate-encoded (``encoding``); ``/invocations`` answers binary tensors in
SageMaker's framing (``sdk.protocol.framing.sagemaker_framing``), as does any request sent in it.

Every error is ``{"error": "<message>", "code": "<its sdk.errors code>"}`` with the status of its class (the 404 or
405 for a path no route takes, and an unexpected fault, send none). A 500 is a real fault only:
it is logged with the request id, the exception's type and where it was raised (never its message, which may quote
the request, nor the payload) and the client is told the id, not the traceback. What a request may cost is bounded
before it costs it: elements while decoding, rows before the run, and a large request runs in slices (``limits``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hmac
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from sdk._record import record
from sdk._version import __version__
from sdk.errors import AiaasError, Overloaded, PayloadTooLarge, Unauthorized
from sdk.protocol import encoding, jsonio
from sdk.protocol.codec import InferRequest, decode_request, encode_response
from sdk.protocol.framing import SAGEMAKER_BINARY_CONTENT_TYPE, sagemaker_framing
from sdk.runtime import LoadedModel
from sdk.runtime.processors import Processed
from sdk.serving import catalog, explaining, limits, raw, sagemaker
from sdk.serving.checks import batchable, check_against_model, check_content_type, check_outputs
from sdk.serving.config import ServeConfig
from sdk.serving.explaining import ExplainJob
from sdk.serving.messages import (
    JSON_HEADERS,
    InferenceRecord,
    Request,
    Response,
    error,
    failure,
    for_method,
    loggable,
    request_id,
)
from sdk.serving.operate import Operator
from sdk.serving.repository import Lease, ModelRepository
from sdk.serving.routes import BODY_HANDLERS, Matched, Refusal, RouteCache

if TYPE_CHECKING:  # a function (one request per invocation) never imports the batcher nor asyncio
    from sdk.serving.batcher import Batcher

__all__ = ["JSON_HEADERS", "InferenceRecord", "Request", "Response", "Service", "loggable", "request_id"]

SERVER_NAME = "aiaas"
# The routes that load their model first (on a worker thread, never on the event loop) and hold it while they run.
_MODEL_LOADING = frozenset((*BODY_HANDLERS, "model_metadata"))
EXTENSIONS = ("binary_tensor_data", "classification", "sagemaker", "explain")


@record
class _Prepared:
    """An inference request that passed every check and is ready to run."""

    model: LoadedModel
    request: InferRequest
    feeds: dict[str, np.ndarray]
    sagemaker: bool = False  # answer binary tensors in SageMaker's framing (the JSON length in the content type)
    rows: int | None = None  # rows of a batchable model's request (it may run in slices); None: run it whole
    raw: raw.RawItems | None = None  # raw items (text, images) for the model's processors, instead of feeds


class Service:
    """Routes OIP/SageMaker requests to the models of a repository."""

    def __init__(
        self, repository: ModelRepository, *, config: ServeConfig | None = None, batcher: Batcher | None = None
    ) -> None:
        self.repository = repository
        self.config = config or ServeConfig.from_env()
        self.batcher = batcher
        self._token = self.config.auth_token.encode() if self.config.auth_token else None
        self.observer: Callable[[InferenceRecord], None] | None = None
        self.routes = RouteCache()
        self._batchables: dict[int, bool] = {}  # id(model) -> batchable(model); loaded models live as long
        self.operator = Operator(self.config, repository, self.routes)
        self.metrics = self.operator.metrics  # None when off (AIAAS_METRICS=false)
        self.explainer = explaining.Explainer(self.config, self.metrics)
        if batcher is not None:
            batcher.metrics = self.metrics
        self._open = {"metrics"} if not self.config.metrics_auth else set()  # answered without a token too
        self._is_ready = False
        repository.on_evict.append(self._evicted)
        if self.metrics is not None and repository.budget is not None:
            self.metrics.track_budget(repository.budget.capacity, repository.budget.used)

    def _evicted(self, model: LoadedModel) -> None:
        """A model closed to make room (memory budget): forget what was kept by its id, stop its batcher queue."""
        self._batchables.pop(id(model), None)
        if self.batcher is not None:
            self.batcher.discard(model)
        if self.metrics is not None:
            self.metrics.evicted(model.manifest.name, model.manifest.version)

    # --- lifecycle ---------------------------------------------------------------------------------------------

    def start(self) -> Service:
        """Load every served model now (verify, build sessions, warm up); the service is ready afterwards."""
        self.repository.preload()
        self._is_ready = True
        return self

    @property
    def ready(self) -> bool:
        return self._is_ready

    # --- entry points --------------------------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes, *, time_left_s: float | None = None
    ) -> Response:
        """Answer one request, running any inference right here (the Lambda handler's way). ``time_left_s``: what
        the caller's own clock allows (an invocation's remaining time); an explanation's deadline stays within it."""
        began = time.perf_counter()
        request = self._request(method, path, headers, body)
        response = self._handle(request, time_left_s)
        self.record(request, response.status, time.perf_counter() - began)
        return response

    def _handle(self, request: Request, time_left_s: float | None) -> Response:
        try:
            with self._lease(request) or contextlib.nullcontext() as lease:
                return _with_load_time(self._handle_leased(request, time_left_s), lease)
        except Exception as exc:
            return for_method(request, self._error(request, exc))

    def _handle_leased(self, request: Request, time_left_s: float | None) -> Response:
        try:
            result = self._dispatch(request)
            if isinstance(result, _Prepared):
                start = time.perf_counter()
                outputs: limits.Outputs | Processed
                if result.raw is not None:
                    outputs = raw.process(
                        result.model, result.raw, self.config.max_batch_size, by_length=self.config.length_buckets
                    )
                elif result.rows is None:
                    outputs = result.model.run_validated(result.feeds)
                else:
                    size = self.config.max_batch_size
                    outputs = limits.run_sliced(result.model.run_validated, result.feeds, result.rows, size)
                return for_method(request, self._respond(request, result, outputs, start))
            if isinstance(result, ExplainJob):
                start = time.perf_counter()
                explained = self.explainer.run(explaining.within(result, time_left_s))
                ms = (time.perf_counter() - start) * 1000
                return explaining.respond(result, explained, request.request_id, ms)
            return for_method(request, result)
        except Exception as exc:
            return for_method(request, self._error(request, exc))

    async def handle_async(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Response:
        """Answer one request on an event loop: models load and run off the loop, inference through the batcher."""
        began = time.perf_counter()
        request = self._request(method, path, headers, body)
        response = await self.answer_async(request)
        self.record(request, response.status, time.perf_counter() - began)
        return response

    def record(self, request: Request, status: int, seconds: float) -> None:
        """Count one answered request in the metrics. ``handle`` and ``handle_async`` count their own; a transport
        that answers through ``preflight`` and ``answer_async`` (the HTTP server) calls it, with its own clock."""
        if self.metrics is not None:
            self.operator.record(request, status, seconds)

    async def answer_async(self, request: Request) -> Response:
        """``handle_async`` for a request already built (by ``preflight``, its body added since)."""
        lease = None
        try:
            lease = await self._ensure_loaded(request)
            result = self._dispatch(request)
            if isinstance(result, _Prepared):
                start = time.perf_counter()
                outputs = await self._run_async(result)
                response = self._respond(request, result, outputs, start)
                return for_method(request, _with_load_time(response, lease))
            if isinstance(result, ExplainJob):  # on the explainer's own threads: the loop keeps answering
                start = time.perf_counter()
                explained = await self.explainer.run_async(result)
                ms = (time.perf_counter() - start) * 1000
                return explaining.respond(result, explained, request.request_id, ms)
            return for_method(request, result)
        except Exception as exc:
            return for_method(request, self._error(request, exc))
        finally:
            if lease is not None:
                lease.release()

    async def _run_async(self, prepared: _Prepared) -> limits.Outputs | Processed:
        """Through the batcher (or a worker thread): a request of more than max_batch_size rows goes slice by slice,
        so that it holds one slice's activations at a time and other requests' batches run between its slices."""
        import asyncio  # here: a function's process never runs the async path

        model, feeds, rows = prepared.model, prepared.feeds, prepared.rows
        size = self.config.max_batch_size
        if prepared.raw is not None:
            items = prepared.raw
            processed = []
            for start in range(0, len(items), size):
                chunk = items[start : start + size]
                if self.batcher is not None:
                    processed.append(await self.batcher.submit_raw(model, chunk))
                else:
                    processed.append(await asyncio.to_thread(model.process, chunk))
            return Processed.join(processed)
        pieces = [feeds] if rows is None or rows <= size else list(limits.slices(feeds, rows, size))
        parts = []
        for piece in pieces:
            if self.batcher is not None:
                parts.append(await self.batcher.submit(model, piece))
            else:
                parts.append(await asyncio.to_thread(model.run_validated, piece))
        return limits.join(parts)

    def _batchable(self, model: LoadedModel) -> bool:
        """Whether ``model`` takes rows along a batch dimension (known once per model: it is asked per request)."""
        known = self._batchables.get(id(model))
        if known is None:
            known = self._batchables[id(model)] = batchable(model)
        return known

    def preflight(self, method: str, path: str, headers: Mapping[str, str]) -> Request | Response:
        """The answer a request gets from its request line and headers alone, before its body is read: 404/405 for
        a path no route takes, 401 for a missing or wrong token. Otherwise the request, without its body yet: read
        the body, then ``answer_async(dataclasses.replace(request, body=body))``."""
        request = self._request(method, path, headers, b"")
        try:
            matched = self._match(request)
            if isinstance(matched, Response):
                return for_method(request, matched)
            if not matched.public and matched.handler not in self._open:
                self._authorize(request)
        except Exception as exc:
            return self.refuse(request, exc)
        return request

    def refuse(self, request: Request, exc: Exception) -> Response:
        """The error response to ``request`` for ``exc`` (e.g. its body over the limit, found while reading it)."""
        return for_method(request, self._error(request, exc))

    def error_response(self, method: str, path: str, headers: Mapping[str, str], exc: Exception) -> Response:
        """The response for an error found before the service saw the request (e.g. a body over the limit)."""
        request = self._request(method, path, headers, b"")
        return for_method(request, self._error(request, exc))

    # --- plumbing ------------------------------------------------------------------------------------------------

    def _request(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Request:
        lowered = {k.lower(): v for k, v in headers.items()}
        return Request(
            method.upper(), path.split("?", 1)[0], lowered, body, request_id(lowered.get("x-request-id", ""))
        )

    def _match(self, request: Request) -> Matched | Response:
        found = self.routes.lookup(request.method, request.path)
        if isinstance(found, Refusal):
            return error(request, found.status, found.message, found.headers)
        return found

    def _model_of(self, request: Request) -> tuple[str, str | None] | None:
        """The model a request runs or describes (name, version), or None: no such route, or not this caller's."""
        matched = self._match(request)
        if isinstance(matched, Response) or matched[0] not in _MODEL_LOADING:
            return None
        handler, params, public = matched
        if not public and self._token is not None:
            try:
                self._authorize(request)
            except Unauthorized:
                return None  # never load anything for a caller who may not use it; _dispatch answers 401
        if handler == "invocations":
            try:
                params = self._sagemaker_target(request)
            except AiaasError:
                return None  # _dispatch reports it
        return params.get("name", ""), params.get("version")

    async def _ensure_loaded(self, request: Request) -> Lease | None:
        """Load a model that is not loaded yet on a worker thread, so that the event loop never blocks on it. Under
        a memory budget, the request holds its model (a lease) until its answer is computed: never evicted under it."""
        import asyncio  # here: a function's process never runs the async path

        target = self._model_of(request)
        if target is None:
            return None
        name, version = target
        if self.repository.budget is not None:
            held = self._try_lease(name, version, load=False)
            return held if held is not None else await asyncio.to_thread(self._try_lease, name, version)
        if not self.repository.is_loaded(name, version):
            await asyncio.to_thread(self._try_load, name, version)
        return None

    def _lease(self, request: Request) -> Lease | None:
        """``_ensure_loaded`` for the synchronous ``handle``: the model held while the request runs (budget only)."""
        target = self._model_of(request) if self.repository.budget is not None else None
        return None if target is None else self._try_lease(*target)

    def _try_lease(self, name: str, version: str | None, load: bool = True) -> Lease | None:
        """The model leased (loaded first when ``load``); None for an error that ``_dispatch`` reports itself. No
        memory within the wait is the answer: 503 + Retry-After, without a second wait."""
        try:
            if not load:
                return self.repository.held(name, version)
            return self.repository.lease(name, version)
        except Overloaded:
            raise
        except AiaasError:
            return None

    def _try_load(self, name: str, version: str | None) -> None:
        with contextlib.suppress(AiaasError):  # _dispatch raises it again, with the same message, as the answer
            self.repository.get(name, version)

    def _dispatch(self, request: Request) -> Response | _Prepared | ExplainJob:
        matched = self._match(request)
        if isinstance(matched, Response):
            return matched
        handler, params, public = matched
        if not public and handler not in self._open:
            self._authorize(request)
        if len(request.body) > self.config.max_body_bytes:
            raise PayloadTooLarge(
                f"request body is {len(request.body)} bytes; this server accepts at most {self.config.max_body_bytes}"
            )
        if handler in BODY_HANDLERS and request.headers.get("content-encoding"):
            body = encoding.decode_body(request.body, request.headers["content-encoding"], self.config.max_body_bytes)
            headers = {k: v for k, v in request.headers.items() if k != "content-encoding"}
            request = dataclasses.replace(request, body=body, headers=headers)
        route: Callable[..., Response | _Prepared | ExplainJob] = getattr(self, f"_on_{handler}")
        return route(request, **params)

    def _authorize(self, request: Request) -> None:
        if self._token is None:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("this server requires a bearer token: send 'Authorization: Bearer <token>'")
        if not hmac.compare_digest(token.strip().encode("utf-8", "surrogatepass"), self._token):
            raise Unauthorized("the bearer token is not valid for this server")

    def _json(self, request: Request, status: int, document: Any) -> Response:
        return Response(status, {**JSON_HEADERS, "x-request-id": request.request_id}, jsonio.dumps(document))

    def _error(self, request: Request, exc: Exception) -> Response:
        return failure(request, exc)

    # --- routes --------------------------------------------------------------------------------------------------

    def _on_live(self, request: Request) -> Response:
        return self._json(request, 200, {"live": True})

    def _on_ready(self, request: Request) -> Response:
        return self._json(request, 200 if self._is_ready else 503, {"ready": self._is_ready})

    def _on_ping(self, request: Request) -> Response:
        return self._on_ready(request)

    def _on_server_metadata(self, request: Request) -> Response:
        extensions = [e for e in EXTENSIONS if e != "explain" or self.config.explain]
        document = {"name": SERVER_NAME, "version": __version__, "extensions": extensions}
        return self._json(request, 200, document)

    def _on_model_metadata(self, request: Request, name: str, version: str | None = None) -> Response:
        # The privacy floor in it lets a client that lacks the model locally honour it before sending any data.
        model = self.repository.get(name, version)
        return self._json(request, 200, catalog.model_metadata(model, self.repository.versions(name)))

    def _on_model_list(self, request: Request) -> Response:
        return self.operator.model_list(request)

    def _on_openapi(self, request: Request) -> Response:
        return self.operator.openapi(request)

    def _on_metrics(self, request: Request) -> Response:
        return self.operator.metrics_text(request)

    def _on_ui_index(self, request: Request) -> Response:
        return self.operator.page(request)

    def _on_ui_file(self, request: Request, file: str) -> Response:
        return self.operator.page(request, file)

    def _on_model_ready(self, request: Request, name: str, version: str | None = None) -> Response:
        self.repository.resolve(name, version)  # 404 for an unknown model or version
        budget = self.repository.budget is not None  # under a memory budget, a model not loaded loads on its request
        ready = budget or self.repository.is_loaded(name, version)
        document = {"name": name, "ready": ready}
        return self._json(
            request,
            200 if ready else 503,
            document | ({"state": self.repository.state(name, version)} if budget else {}),
        )

    def _on_infer(
        self, request: Request, name: str, version: str | None = None, *, sagemaker: bool = False
    ) -> _Prepared:
        media = check_content_type(request.headers)
        model = self.repository.get(name, version)
        decoded = decode_request(request.body, request.headers, max_elements=self.config.max_request_elements)
        sagemaker = sagemaker or media == SAGEMAKER_BINARY_CONTENT_TYPE  # answer in the framing it was asked in
        items = raw.raw_items(model, decoded)
        if items is not None:
            check_outputs(decoded, raw.known_outputs(model))
            limits.check_rows(len(items), self.config.max_request_rows)
            return _Prepared(model, decoded, {}, sagemaker, len(items), items)
        check_against_model(model, decoded)
        feeds = model.validator(decoded.inputs)
        rows = None
        if self._batchable(model):
            rows = limits.rows_of(feeds)
            limits.check_rows(rows, self.config.max_request_rows)
        return _Prepared(model, decoded, feeds, sagemaker, rows)

    def _on_explain(self, request: Request, name: str, version: str | None = None) -> Response | ExplainJob:
        if not self.config.explain:
            return error(request, 404, "explanations are turned off on this server (AIAAS_EXPLAIN=false)")
        check_content_type(request.headers)
        model = self.repository.get(name, version)
        decoded = decode_request(request.body, request.headers, max_elements=self.config.max_request_elements)
        return explaining.prepare(model, decoded, self.config, batchable=self._batchable(model))

    def _on_invocations(self, request: Request) -> _Prepared:
        # SageMaker passes no Inference-Header-Content-Length back to the caller: the framing must be its own.
        return self._on_infer(request, **self._sagemaker_target(request), sagemaker=True)

    def _sagemaker_target(self, request: Request) -> dict[str, str]:
        return sagemaker.target_model(request.headers, self.config.default_model, self.repository.names)

    def _respond(
        self, request: Request, prepared: _Prepared, result: Mapping[str, np.ndarray] | Processed, start: float
    ) -> Response:
        manifest = prepared.model.manifest
        run_ms = (time.perf_counter() - start) * 1000
        if self.observer is not None or (self.metrics is not None and self.batcher is None):
            if prepared.raw is not None:
                rows = len(prepared.raw)
            else:
                first = next(iter(prepared.feeds.values()))
                rows = int(first.shape[0]) if first.ndim else 1
            if self.observer is not None:
                self.observer(InferenceRecord(manifest.name, manifest.version, rows, run_ms))
            if self.metrics is not None and self.batcher is None:  # no queue: the batcher reports what it runs
                self.metrics.model(manifest.name, manifest.version).ran(rows, run_ms / 1000, (0.0,))
        parameters = None
        if isinstance(result, Processed):
            outputs, parameters = raw.answer(result)
        else:
            outputs = dict(result)
        body, headers = encode_response(
            outputs,
            model_name=manifest.name,
            model_version=manifest.version,
            request=prepared.request,
            parameters=parameters,
            labels=manifest.labels,
        )
        if prepared.sagemaker:
            headers = sagemaker_framing(headers)
        headers["x-request-id"] = request.request_id
        # Queue + model time, so a client can tell the network's share of a round trip (its bandwidth estimate).
        headers["server-timing"] = f"infer;dur={run_ms:.3f}"
        return Response(200, headers, body)


def _with_load_time(response: Response, lease: Lease | None) -> Response:
    """An inference answer whose request waited for its model to load (memory budget: a reload after an eviction)
    says how long in Server-Timing, before the model's own time: ``load;dur=812.000, infer;dur=3.100``."""
    timing = response.headers.get("server-timing")
    if lease is not None and lease.load_s is not None and timing is not None:
        response.headers["server-timing"] = f"load;dur={lease.load_s * 1000:.3f}, {timing}"
    return response
