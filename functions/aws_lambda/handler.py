"""AWS Lambda entry point: function URL / API Gateway HTTP API events into the serving core, and back.

Glue only. At init (module scope, once per container) the model(s) at ``MODEL_URI`` are fetched (an ``s3://`` URI is
downloaded into /tmp with every sha256 verified), loaded and warmed up; an invocation only validates, runs and
encodes. Every path goes to ``Service.handle``, the very function `sdk serve` answers with, so both return the same
response for the same request. Bodies arrive base64-encoded when binary (the OIP binary tensor extension) and
binary responses go back base64-encoded. HEAD on a GET route gets the GET's status and headers with no body (its
Content-Length says how long the GET's is); a gzip or deflate request body is inflated by the service.

Every event gets an HTTP answer, never an invocation error (which the function URL turns into a bare 502): a body
flagged base64 that is not, text that cannot be encoded (a lone surrogate), any method or path, and an event that is
no HTTP request at all are 4xx JSON; a fault of this glue is a logged 500 JSON. The request limits of the serving
core (``AIAAS_MAX_BODY_BYTES``, ``AIAAS_MAX_REQUEST_ROWS``, ``AIAAS_MAX_REQUEST_ELEMENTS``) hold here too; the
connection limits do not apply (AWS's front door holds the connection). An answer over Lambda's 6 MB response
limit, which Lambda would drop (the caller seeing a bare 502), is a 413 naming its size and the way out. ``POST
.../explain`` is answered in the invocation, within the explain caps (``AIAAS_EXPLAIN_*``) and a deadline that ends
before the invocation's own.

Powertools as documented: a structured ``Logger`` with the Lambda context and the request id (never the event or the
payload), EMF ``Metrics`` (latency, batch size, errors, cold start) and ``Tracer`` (responses not captured: they are
payload). No Powertools resolver: every method and path goes to the service, so routing is the event's method and
``rawPath`` (less ``AIAAS_PATH_PREFIX``) and the answer a payload 2.0 response, which this module reads and writes
itself; importing ``aws_lambda_powertools.event_handler`` (every resolver of every event source, ~45-80 ms of CPU)
would double the glue's share of a cold start for nothing it uses.

The ``Tracer`` is made only where it traces (Powertools' own rule: in Lambda, unless ``POWERTOOLS_TRACE_DISABLED``):
a disabled one still imports the X-Ray SDK and botocore and patches them, ~0.1-0.2 s of every cold start for nothing.

Environment: ``MODEL_URI`` (artifact folder or store root, local or s3://), optional ``AIAAS_MODELS``,
``AIAAS_MAX_BODY_BYTES``, ``AIAAS_AUTH_TOKEN``, ``AIAAS_CACHE_DIR`` (default /tmp/aiaas), ``AIAAS_PATH_PREFIX``
(an API Gateway stage to strip, e.g. /prod), ``AIAAS_MEMORY_BUDGET`` (default: the function's memory,
``AWS_LAMBDA_FUNCTION_MEMORY_SIZE``, less 160 MiB for the runtime: models beyond it load on first use, the least
recently used evicted; a model too large for it fails the init naming both sizes).
"""

from __future__ import annotations

import base64
import binascii
import os
import time
import traceback
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from sdk.errors import MalformedRequest, ResponseTooLarge
from sdk.protocol.codec import encode_error
from sdk.serving.bootstrap import build_service
from sdk.serving.budget import LAMBDA_MEMORY_ENV, lambda_budget
from sdk.serving.config import LAMBDA_PAYLOAD_LIMIT, ServeConfig
from sdk.serving.service import InferenceRecord

SERVICE_NAME = os.environ.get("POWERTOOLS_SERVICE_NAME", "aiaas-inference")

logger = Logger(service=SERVICE_NAME)
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "aiaas"), service=SERVICE_NAME)
# Tracer._is_tracer_disabled is the very test Tracer() applies to itself; a Powertools without it gets a Tracer always.
_tracer_disabled = getattr(Tracer, "_is_tracer_disabled", None)
tracer = None if _tracer_disabled is not None and _tracer_disabled() else Tracer(service=SERVICE_NAME)
PREFIX = os.environ.get("AIAAS_PATH_PREFIX") or None


def _traced(function: Callable[..., Any]) -> Callable[..., Any]:
    return function if tracer is None else tracer.capture_lambda_handler(capture_response=False)(function)


def _observe(record: InferenceRecord) -> None:
    metrics.add_metric(name="BatchSize", unit=MetricUnit.Count, value=record.rows)
    metrics.add_metric(name="ModelLatency", unit=MetricUnit.Milliseconds, value=record.run_ms)


def _init() -> Any:
    uri = os.environ.get("MODEL_URI")
    if not uri:
        raise RuntimeError("MODEL_URI is not set: point it at an artifact folder or a store root (path or s3://)")
    start = time.perf_counter()
    # No GET /metrics here: a function's metrics are CloudWatch's (EMF, below); counts kept in one of many
    # short-lived containers would mislead whoever scraped them.
    # Many models in the function's memory: the budget is what AWS gave it, less the runtime's headroom, unless
    # AIAAS_MEMORY_BUDGET says otherwise (sdk.serving.budget.lambda_budget); init loads what fits.
    budget = None if os.environ.get("AIAAS_MEMORY_BUDGET") else lambda_budget(os.environ.get(LAMBDA_MEMORY_ENV))
    config = ServeConfig.from_env(metrics=False, memory_budget=budget)
    service = build_service(
        uri,
        config=config,
        include_builtin=False,
        cache_dir=os.environ.get("AIAAS_CACHE_DIR", "/tmp/aiaas"),
        batching=False,
        fixed="MODEL_URI",  # a folder that does not exist fails the init, not every request with 404
    )
    service.observer = _observe
    service.repository.fill()
    loaded = [m.info for m in service.repository.loaded()]
    # No model loaded means none in the store: fill() loads what fits and the first always does (start() refused any
    # model over the budget). Not names() again: on an S3 store root that is one more listing in every cold start.
    if not loaded:  # the state before the first deploy, or a prefix typo: say so where it shows
        logger.warning(
            f"MODEL_URI={uri} holds no model: every inference request gets 404 until `sdk deploy` points "
            "MODEL_URI at a version"
        )
    logger.info(
        "models loaded",
        extra={
            "models": [f"{i.model}@{i.version}" for i in loaded],
            "providers": sorted({p for i in loaded for p in i.providers}),
            "init_ms": round((time.perf_counter() - start) * 1000, 1),
        },
    )
    return service


SERVICE = _init()
# Lambda refuses a synchronous answer over 6 MB (its serialized JSON) and the caller gets a bare 502 from the function
# URL: such an answer is replaced by a 413 that says why and what to ask for instead.
RESPONSE_LIMIT = LAMBDA_PAYLOAD_LIMIT


def _path(raw_path: str) -> str:
    """The path the service routes: ``AIAAS_PATH_PREFIX`` (an API Gateway stage) taken off the front when the path
    is that prefix or starts with it and a slash (as Powertools' ``strip_prefixes`` does)."""
    if PREFIX is None:
        return raw_path
    if raw_path == PREFIX:
        return "/"
    return raw_path[len(PREFIX) :] if raw_path.startswith(PREFIX + "/") else raw_path


def _answer(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Every method and path to the service (``_event_problem`` checked the event's shape first)."""
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    headers.setdefault("x-request-id", context.aws_request_id)
    method, path = event["requestContext"]["http"]["method"], _path(event["rawPath"])
    start = time.perf_counter()
    try:
        body = _request_body(event.get("body"), event.get("isBase64Encoded"))
    except MalformedRequest as exc:
        status, out_headers, out_body = SERVICE.error_response(method, path, headers, exc)
    else:
        time_left = _time_left(context.get_remaining_time_in_millis() / 1000)
        status, out_headers, out_body = SERVICE.handle(method, path, headers, body, time_left_s=time_left)
    response = _http_response(status, out_headers, out_body)
    size = _payload_bytes(response)
    if size > RESPONSE_LIMIT:
        too_large = ResponseTooLarge(
            f"the answer is {size} bytes, over AWS Lambda's limit of {RESPONSE_LIMIT} bytes for a response",
            hint="send fewer rows per request, ask for binary outputs (the OIP binary extension: parameters "
            '{"binary_data_output": true}, about a third of the size of JSON numbers; the sdk client asks for them '
            "by itself), or name only the outputs you need",
        )
        status, out_headers, out_body = SERVICE.error_response(method, path, headers, too_large)
        response = _http_response(status, out_headers, out_body)
    metrics.add_metric(name="Latency", unit=MetricUnit.Milliseconds, value=(time.perf_counter() - start) * 1000)
    metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
    if status >= 400:
        metrics.add_metric(name="ClientErrors" if status < 500 else "ServerErrors", unit=MetricUnit.Count, value=1)
    return response


def _payload_bytes(response: dict[str, Any]) -> int:
    """What Lambda counts against its limit, the response serialized as JSON (escapes included), or for a small body
    its length: n characters serialize to at most 12n bytes (an astral character escaped as two \\u sequences), so
    only a body that might come near the limit is serialized to measure it."""
    body: str = response["body"]
    if len(body) * 12 + 4096 <= RESPONSE_LIMIT:
        return len(body)
    import json

    return len(json.dumps(response).encode("utf-8"))  # ensure_ascii: the larger of the runtime client's encodings


def _http_response(status: int, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """The function URL / HTTP API (payload 2.0) response: JSON goes back as text, any other body base64-encoded."""
    content_type = headers.pop("content-type", "application/json")
    text = content_type == "application/json"
    return {
        "statusCode": status,
        "body": body.decode("utf-8") if text else base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": not text,
        "headers": {**headers, "Content-Type": content_type},
        "cookies": [],
    }


def _time_left(remaining_s: float) -> float:
    """Seconds an explanation may take in this invocation: its remaining time, less up to 2 s to encode and answer
    (so a long explanation ends partial or as a 504, never as Lambda's timeout)."""
    return remaining_s - min(2.0, remaining_s / 2)


def _request_body(raw: Any, is_base64: Any) -> bytes:
    """The request's bytes: base64-decoded when flagged so, else the text as UTF-8. MalformedRequest (400) when the
    flag is set on text that is not base64, or the text cannot be UTF-8 (a lone surrogate from a JSON ``\\ud800``)."""
    if raw is None:
        return b""
    if not isinstance(raw, str):
        raise MalformedRequest(f"the event's body must be a string, got {type(raw).__name__}")
    if is_base64:
        try:
            return base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedRequest("the request body is flagged base64-encoded but is not valid base64") from None
    try:
        return raw.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MalformedRequest(
            f"the request body is not valid text: {exc.reason} at character {exc.start}; send UTF-8"
        ) from None


def _event_problem(event: Any) -> str | None:
    """Why ``event`` is not an HTTP request as a function URL or API Gateway's HTTP API (payload 2.0) sends one."""
    if not isinstance(event, dict):
        return f"the event is {type(event).__name__}, not an HTTP request event"
    http = event.get("requestContext", {}).get("http") if isinstance(event.get("requestContext"), dict) else None
    if not isinstance(http, dict) or not isinstance(http.get("method"), str) or not http["method"]:
        return "the event has no requestContext.http.method: this function takes function URL or HTTP API events"
    for key, kind in (("rawPath", str), ("headers", dict), ("body", str), ("isBase64Encoded", bool)):
        value = event.get(key)
        if value is not None and not isinstance(value, kind):
            return f"the event's {key} must be {kind.__name__}, got {type(value).__name__}"
    if not isinstance(event.get("rawPath"), str):
        return "the event has no rawPath"
    return None


def _http_answer(status: int, message: str) -> dict[str, Any]:
    """An HTTP response for the function URL built without the resolver (for events it cannot take)."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": encode_error(message).decode("utf-8"),
        "isBase64Encoded": False,
    }


@logger.inject_lambda_context(correlation_id_path=correlation_paths.LAMBDA_FUNCTION_URL, log_event=False)
@_traced
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    problem = _event_problem(event)
    if problem is not None:
        metrics.add_metric(name="ClientErrors", unit=MetricUnit.Count, value=1)
        return _http_answer(400, problem)
    try:
        return _answer(event, context)
    except Exception as exc:  # a fault of this glue, never of the request (the service answers those): logged, 500
        frames = "".join(traceback.format_list(traceback.extract_tb(exc.__traceback__)))
        logger.error(f"invocation failed with an unexpected {type(exc).__name__}\n{frames}")  # never its message
        metrics.add_metric(name="ServerErrors", unit=MetricUnit.Count, value=1)
        return _http_answer(
            500, f"internal server error; the function log has the details (request id {context.aws_request_id})"
        )
