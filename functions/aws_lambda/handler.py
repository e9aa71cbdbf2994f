"""AWS Lambda entry point: function URL / API Gateway HTTP API events into the serving core, and back.

Glue only. At init (module scope, once per container) the model(s) at ``MODEL_URI`` are fetched (an ``s3://`` URI is
downloaded into /tmp with every sha256 verified), loaded and warmed up; an invocation only validates, runs and
encodes. Every path goes to ``Service.handle``, the very function `sdk serve` answers with, so both return the same
response for the same request. Bodies arrive base64-encoded when binary (the OIP binary tensor extension) and
binary responses go back base64-encoded. HEAD on a GET route gets the GET's status and headers with no body (its
Content-Length says how long the GET's is); a gzip or deflate request body is inflated by the service.

Powertools as documented: a structured ``Logger`` with the Lambda context and the request id (never the event or the
payload), EMF ``Metrics`` (latency, batch size, errors, cold start) and ``Tracer`` (responses not captured: they are
payload).

Environment: ``MODEL_URI`` (artifact folder or store root, local or s3://), optional ``AIAAS_MODELS``,
``AIAAS_MAX_BODY_BYTES``, ``AIAAS_AUTH_TOKEN``, ``AIAAS_CACHE_DIR`` (default /tmp/aiaas), ``AIAAS_PATH_PREFIX``
(an API Gateway stage to strip, e.g. /prod).
"""

from __future__ import annotations

import base64
import os
import time
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from sdk.serving.bootstrap import build_service
from sdk.serving.service import InferenceRecord

SERVICE_NAME = os.environ.get("POWERTOOLS_SERVICE_NAME", "aiaas-inference")
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]

logger = Logger(service=SERVICE_NAME)
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "aiaas"), service=SERVICE_NAME)
tracer = Tracer(service=SERVICE_NAME)
prefix = os.environ.get("AIAAS_PATH_PREFIX")
# Function URL events use the API Gateway HTTP API (payload 2.0) format: one resolver serves both.
app = LambdaFunctionUrlResolver(strip_prefixes=[prefix] if prefix else None)


def _observe(record: InferenceRecord) -> None:
    metrics.add_metric(name="BatchSize", unit=MetricUnit.Count, value=record.rows)
    metrics.add_metric(name="ModelLatency", unit=MetricUnit.Milliseconds, value=record.run_ms)


def _init() -> Any:
    uri = os.environ.get("MODEL_URI")
    if not uri:
        raise RuntimeError("MODEL_URI is not set: point it at an artifact folder or a store root (path or s3://)")
    start = time.perf_counter()
    service = build_service(
        uri, include_builtin=False, cache_dir=os.environ.get("AIAAS_CACHE_DIR", "/tmp/aiaas"), batching=False
    )
    service.observer = _observe
    loaded = [m.info for m in service.repository.loaded()]
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


@app.route(".+", method=METHODS)
def serve() -> Response:
    event = app.current_event
    raw = event.body or ""
    body = base64.b64decode(raw) if event.is_base64_encoded else raw.encode("utf-8")
    headers = {k.lower(): v for k, v in (event.headers or {}).items()}
    headers.setdefault("x-request-id", app.lambda_context.aws_request_id)
    path = app.context.get("_path", event.path)
    start = time.perf_counter()
    status, out_headers, out_body = SERVICE.handle(event.http_method, path, headers, body)
    metrics.add_metric(name="Latency", unit=MetricUnit.Milliseconds, value=(time.perf_counter() - start) * 1000)
    metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
    if status >= 400:
        metrics.add_metric(name="ClientErrors" if status < 500 else "ServerErrors", unit=MetricUnit.Count, value=1)
    content_type = out_headers.pop("content-type", "application/json")
    # Powertools base64-encodes a bytes body; JSON goes back as text.
    payload: str | bytes = out_body.decode("utf-8") if content_type == "application/json" else out_body
    return Response(status_code=status, content_type=content_type, body=payload, headers=out_headers)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.LAMBDA_FUNCTION_URL, log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
