"""GET /metrics of the serving core, in-process: Prometheus text format from each service's own registry, requests
counted per model, version, route and status, the batcher's queue and batch sizes, rejections, model loads and
explanations; label cardinality bounded whatever the requests say; off-able, and behind the token when asked."""

from __future__ import annotations

import asyncio
import base64
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from sdk.artifacts import builtin_store
from sdk.protocol import jsonio
from sdk.protocol.codec import encode_request
from sdk.serving.batcher import Batcher
from sdk.serving.config import ServeConfig
from sdk.serving.operate import MAX_BOUND
from sdk.serving.repository import ModelRepository
from sdk.serving.service import Service
from tests.sdk.serving.prometheus import Samples, parse, value

SAMPLES = Path(__file__).parents[3] / "models" / "digits_cnn" / "samples"
JSON = {"content-type": "application/json"}


def new_service(*, batcher: Batcher | None = None, **settings: object) -> Service:
    """A service over the built-in digits CNN with a registry of its own."""
    return Service(ModelRepository(builtin_store()), config=ServeConfig(**settings), batcher=batcher).start()  # type: ignore[arg-type]


def scrape(service: Service, headers: dict[str, str] | None = None) -> Samples:
    response = service.handle("GET", "/metrics", headers or {}, b"")
    assert response.status == 200, response.body
    return parse(response.body.decode())


def digit_body(rows: int = 1) -> bytes:
    image = np.load(SAMPLES / "digit_7.npy").astype(np.float32)
    return encode_request({"image": np.repeat(image, rows, axis=0)}, binary=False)[0]


@pytest.fixture(scope="module")
def served() -> Iterator[Service]:
    service = new_service()
    yield service
    service.repository.close()


# --- the format and the counts -----------------------------------------------------------------------------------


def test_metrics_are_prometheus_text_with_conventional_names(served: Service) -> None:
    response = served.handle("GET", "/metrics", {}, b"")
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    families = {family.name: family for family in text_string_to_metric_families(response.body.decode())}
    assert {
        "aiaas_requests",
        "aiaas_request_duration_seconds",
        "aiaas_queue_duration_seconds",
        "aiaas_compute_duration_seconds",
        "aiaas_batch_size",
        "aiaas_queue_depth",
        "aiaas_rejections",
        "aiaas_connections_refused",
        "aiaas_model_load_seconds",
        "aiaas_explanations",
        "aiaas_explanation_duration_seconds",
        "aiaas_build_info",
    } <= set(families)
    for family in families.values():  # counters end in _total, durations are histograms in seconds
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples), family.name
        if "duration" in family.name:
            assert family.type == "histogram" and family.name.endswith("_seconds"), family.name


def test_openmetrics_is_answered_when_the_scraper_asks_for_it(served: Service) -> None:
    accept = {"accept": "application/openmetrics-text; version=1.0.0"}
    response = served.handle("GET", "/metrics", accept, b"")
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.body.rstrip().endswith(b"# EOF")


def test_requests_are_counted_per_model_version_route_and_status(served: Service) -> None:
    before = scrape(served)
    ok = served.handle("POST", "/v2/models/digits-cnn/infer", JSON, digit_body())
    alias = served.handle("POST", "/v2/models/digits-cnn/versions/1/infer", JSON, digit_body())
    bad = served.handle("POST", "/v2/models/digits-cnn/infer", JSON, b'{"inputs": []}')
    meta = served.handle("GET", "/v2/models/digits-cnn", {}, b"")
    assert (ok.status, alias.status, bad.status, meta.status) == (200, 200, 400, 200)
    after = scrape(served)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    model = {"model": "digits-cnn", "version": "1"}
    assert delta("aiaas_requests_total", **model, route="infer", status="200") == 2
    assert delta("aiaas_requests_total", **model, route="infer", status="400") == 1
    assert delta("aiaas_requests_total", **model, route="model_metadata", status="200") == 1
    assert delta("aiaas_request_duration_seconds_count", **model, route="infer") == 3
    assert delta("aiaas_request_duration_seconds_sum", **model, route="infer") > 0
    # Without a batcher each inference is its own run of one row, with no queue.
    assert delta("aiaas_batch_size_count", **model) == 2 and delta("aiaas_batch_size_sum", **model) == 2
    assert delta("aiaas_compute_duration_seconds_count", **model) == 2
    assert delta("aiaas_queue_duration_seconds_sum", **model) == 0


def test_model_load_is_timed_and_a_second_load_is_a_reload() -> None:
    service = new_service()
    first = scrape(service)
    labels = {"model": "digits-cnn", "version": "1"}
    assert value(first, "aiaas_model_load_seconds_count", **labels, reload="false") == 1
    assert value(first, "aiaas_model_load_seconds_sum", **labels, reload="false") > 0
    service.repository.close()  # unloaded: the next request loads it again
    assert service.handle("POST", "/v2/models/digits-cnn/infer", JSON, digit_body()).status == 200
    again = scrape(service)
    assert value(again, "aiaas_model_load_seconds_count", **labels, reload="true") == 1
    assert value(again, "aiaas_model_load_seconds_count", **labels, reload="false") == 1
    service.repository.close()


# --- what the batcher and the explainer report --------------------------------------------------------------------


def test_batcher_reports_queue_time_batch_sizes_and_queue_full_rejections() -> None:
    service = new_service(batcher=Batcher(max_batch_size=8, max_queue_size=4), max_batch_size=8)

    async def burst() -> list[int]:
        # All 12 queue in one turn of the loop: the worker takes 4 at most (the queue's bound), the 8 others are 503.
        answers = await asyncio.gather(
            *(service.handle_async("POST", "/v2/models/digits-cnn/infer", JSON, digit_body()) for _ in range(12))
        )
        assert service.batcher is not None
        await service.batcher.close()
        return [answer.status for answer in answers]

    statuses = asyncio.run(burst())
    assert sorted(statuses) == [200] * 4 + [503] * 8
    samples = scrape(service)
    model = {"model": "digits-cnn", "version": "1"}
    assert value(samples, "aiaas_rejections_total", **model, reason="queue_full") == 8
    assert value(samples, "aiaas_requests_total", **model, route="infer", status="503") == 8
    assert value(samples, "aiaas_requests_total", **model, route="infer", status="200") == 4
    assert value(samples, "aiaas_queue_duration_seconds_count", **model) == 4
    runs = value(samples, "aiaas_batch_size_count", **model)
    assert runs >= 1 and value(samples, "aiaas_compute_duration_seconds_count", **model) == runs
    assert value(samples, "aiaas_batch_size_sum", **model) == 4  # rows run, all four merged (or split)
    assert value(samples, "aiaas_batch_size_bucket", **model, le="4.0") == value(
        samples, "aiaas_batch_size_count", **model
    )
    assert value(samples, "aiaas_queue_depth", **model) == 0
    service.repository.close()


def test_explanations_are_counted_by_outcome_and_a_busy_explainer_is_a_rejection() -> None:
    pytest.importorskip("PIL")
    service = new_service(explain_concurrency=1)
    png = base64.b64encode((SAMPLES / "digit_7.png").read_bytes()).decode()

    def body(max_evals: int) -> bytes:
        inputs = [{"name": "image", "datatype": "BYTES", "shape": [1], "data": [png]}]
        return jsonio.dumps({"inputs": inputs, "parameters": {"max_evals": max_evals, "max_calls": 2}})

    async def two_at_once() -> list[int]:
        answers = await asyncio.gather(
            *(service.handle_async("POST", "/v2/models/digits-cnn/explain", JSON, body(128)) for _ in range(2))
        )
        return sorted(answer.status for answer in answers)

    assert asyncio.run(two_at_once()) == [200, 503]
    too_few = service.handle("POST", "/v2/models/digits-cnn/explain", JSON, body(16))  # below the method's minimum
    assert too_few.status == 400, too_few.body
    service.explainer.close()
    samples = scrape(service)
    model = {"model": "digits-cnn", "version": "1"}
    assert value(samples, "aiaas_explanations_total", **model, outcome="complete") == 1
    assert value(samples, "aiaas_explanations_total", **model, outcome="failed") == 1
    assert value(samples, "aiaas_explanation_duration_seconds_count", **model) == 2
    assert value(samples, "aiaas_rejections_total", **model, reason="explain_busy") == 1
    assert value(samples, "aiaas_requests_total", **model, route="explain", status="503") == 1
    service.repository.close()


# --- bounded cardinality -------------------------------------------------------------------------------------------


def test_ten_thousand_request_ids_and_unknown_model_names_keep_the_series_count_bounded(served: Service) -> None:
    def burst(count: int) -> None:
        for i in range(count):
            rid = {"x-request-id": f"req-{uuid.uuid4().hex}", **JSON}
            name = f"nope-{uuid.uuid4().hex[:12]}"
            served.handle("POST", f"/v2/models/{name}/infer", rid, digit_body())
            served.handle("GET", f"/v2/models/{name}/versions/{i}", rid, b"")
            served.handle("GET", f"/v2/models/digits-cnn/versions/{i + 2}", rid, b"")
            served.handle("POST", "/invocations", {**rid, "x-amzn-sagemaker-target-model": name}, b"{}")
            served.handle("GET", f"/no/such/path/{i}", rid, b"")
            served.handle("GET", "/v2/models/digits-cnn" + "/" * (i % 200 + 1), rid, b"")  # one route, many paths

    burst(20)  # every kind of label seen once
    settled = served.metrics.series_count() if served.metrics else 0
    burst(2_000)  # 12,000 requests, each with its own request id
    assert served.metrics is not None and served.metrics.series_count() == settled
    assert len(served.operator._bound) <= MAX_BOUND  # the requests remembered by path stay bounded too
    text = served.handle("GET", "/metrics", {}, b"").body.decode()
    assert "req-" not in text and "nope-" not in text and "/no/such" not in text
    samples = parse(text)
    unknown = {"model": "_unknown", "version": "_unknown"}
    assert value(samples, "aiaas_requests_total", **unknown, route="infer", status="404") > 2_000
    # A served model asked for a version it does not have keeps its name, not the version asked for.
    assert value(samples, "aiaas_requests_total", model="digits-cnn", version="_unknown", route="model_metadata",
                 status="404") > 2_000  # fmt: skip
    assert value(samples, "aiaas_requests_total", model="", version="", route="_none", status="404") > 2_000


# --- settings: off, auth, a registry per service ---------------------------------------------------------------------


def test_metrics_turned_off_answer_404_and_count_nothing() -> None:
    service = new_service(metrics=False)
    assert service.metrics is None
    assert service.handle("POST", "/v2/models/digits-cnn/infer", JSON, digit_body()).status == 200
    response = service.handle("GET", "/metrics", {}, b"")
    assert response.status == 404 and b"AIAAS_METRICS=false" in response.body
    service.repository.close()


def test_metrics_ask_for_the_token_unless_metrics_auth_is_off() -> None:
    guarded = new_service(auth_token="s3cret")
    assert guarded.handle("GET", "/metrics", {}, b"").status == 401
    assert guarded.handle("GET", "/metrics", {"authorization": "Bearer s3cret"}, b"").status == 200
    open_metrics = new_service(auth_token="s3cret", metrics_auth=False)
    assert open_metrics.handle("GET", "/metrics", {}, b"").status == 200
    assert open_metrics.handle("GET", "/v2", {}, b"").status == 401  # the other routes keep their token
    guarded.repository.close()
    open_metrics.repository.close()


def test_each_service_counts_in_its_own_registry_never_the_global_one() -> None:
    one, two = new_service(), new_service()
    for _ in range(3):
        one.handle("GET", "/v2/health/live", {}, b"")
    live = {"model": "", "version": "", "route": "live", "status": "200"}
    assert value(scrape(one), "aiaas_requests_total", **live) == 3
    assert value(scrape(two), "aiaas_requests_total", **live) == 0
    assert not [name for name in REGISTRY._names_to_collectors if name.startswith("aiaas")]
    one.repository.close()
    two.repository.close()


def test_without_prometheus_client_the_server_serves_and_metrics_name_the_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # as if not installed: importing it fails
    service = new_service()
    assert service.metrics is None
    assert service.handle("POST", "/v2/models/digits-cnn/infer", JSON, digit_body()).status == 200
    response = service.handle("GET", "/metrics", {}, b"")
    assert response.status == 501 and b'pip install \\"aiaas-sdk[serve]\\"' in response.body, response.body
    service.repository.close()
