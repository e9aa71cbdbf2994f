"""A real `sdk serve --memory-budget` over ten 32 MiB models in a budget that holds three, under concurrent load: no
request fails, every answer comes from the model it named, and the server's resident memory above its baseline
(sampled from /proc, and its peak) stays under the budget. Reloads show in Server-Timing and in /metrics."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from sdk.demo.stack import Server as RunningServer
from tests.sdk.serving.budget_models import MIB, MODELS, expected
from tests.sdk.serving.conftest import start_server
from tests.sdk.serving.memory import growth, rss_mib
from tests.sdk.serving.prometheus import parse, value
from tests.sdk.serving.test_memory_budget import HOLDS_THREE, budget_root  # noqa: F401 - the session fixture

pytestmark = pytest.mark.integration

THREADS, REQUESTS = 16, 6  # requests per thread


@pytest.fixture(scope="module")
def budget_server(budget_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:  # noqa: F811
    running = start_server(
        budget_root,
        tmp_path_factory.mktemp("budget-server-logs"),
        "--no-builtin",
        "--memory-budget",
        f"{HOLDS_THREE // MIB}MiB",
        "--threads",
        "1",
        env={"AIAAS_BACKEND": "onnxruntime"},
    )
    yield running
    running.stop()


def _infer(client: httpx.Client, index: int, x: np.ndarray) -> httpx.Response:
    body = {"inputs": [{"name": "x", "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}]}
    return client.post(f"/v2/models/big-{index}/infer", json=body)


def _answer(response: httpx.Response) -> np.ndarray:
    return np.asarray(response.json()["outputs"][0]["data"], dtype=np.float64).reshape(-1, 1)


def test_ten_models_in_a_budget_of_three_under_concurrent_load(budget_server: RunningServer) -> None:
    pid = budget_server.process.pid
    inputs = np.random.default_rng(7).random((THREADS, 1, 1024), dtype=np.float32)
    answers = {m: expected(m, inputs[:, 0, :]) for m in range(MODELS)}  # each model's weights made once
    truth = {(t, m): answers[m][t : t + 1] for t in range(THREADS) for m in range(MODELS)}
    failures: list[str] = []
    timings: list[str] = []
    samples: list[float] = []
    done = threading.Event()

    def sample(baseline: float) -> None:
        while not done.wait(0.01):
            samples.append(rss_mib(pid) - baseline)

    def client(thread: int) -> None:
        chooser = random.Random(thread)
        with httpx.Client(base_url=budget_server.url, timeout=60) as http:
            for _ in range(REQUESTS):
                index = chooser.randrange(MODELS)
                response = _infer(http, index, inputs[thread])
                if response.status_code != 200:
                    failures.append(f"big-{index}: {response.status_code} {response.text[:200]}")
                    continue
                if not np.allclose(_answer(response), truth[(thread, index)], rtol=1e-3, atol=1e-2):
                    failures.append(f"big-{index}: wrong answer {_answer(response)} != {truth[(thread, index)]}")
                timings.append(response.headers["server-timing"])

    with growth(pid) as grown:
        sampler = threading.Thread(target=sample, args=(grown.before_mib,))
        sampler.start()
        workers = [threading.Thread(target=client, args=(t,)) for t in range(THREADS)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        done.set()
        sampler.join()

    assert failures == []
    assert len(timings) == THREADS * REQUESTS
    budget_mib = HOLDS_THREE / MIB
    assert max(samples) < budget_mib, f"sampled resident growth {max(samples):.0f} MiB over {budget_mib:.0f}"
    assert grown.peak_mib < budget_mib, f"peak resident growth {grown.peak_mib:.0f} MiB over {budget_mib:.0f}"
    assert any(t.startswith("load;dur=") for t in timings)  # the requests that waited for a (re)load say so
    assert all("infer;dur=" in t for t in timings)

    with httpx.Client(base_url=budget_server.url, timeout=30) as http:
        samples_text = http.get("/metrics").text
    metrics = parse(samples_text)
    evictions = sum(v for (name, _), v in metrics.items() if name == "aiaas_model_evictions_total")
    reloads = sum(
        v
        for (name, labels), v in metrics.items()
        if name == "aiaas_model_load_seconds_count" and ("reload", "true") in labels
    )
    assert evictions >= 1 and reloads >= 1
    assert value(metrics, "aiaas_memory_budget_bytes") == HOLDS_THREE
    assert 0 < value(metrics, "aiaas_memory_used_bytes") <= HOLDS_THREE
    print(
        f"\n{THREADS * REQUESTS} requests, {evictions:.0f} evictions, {reloads:.0f} reloads; resident growth: "
        f"sampled max {max(samples):.0f} MiB, peak {grown.peak_mib:.0f} MiB, budget {budget_mib:.0f} MiB"
    )


def test_reload_time_shows_in_server_timing_only_for_the_request_that_loaded(budget_server: RunningServer) -> None:
    x = np.ones((1, 1024), dtype=np.float32)
    with httpx.Client(base_url=budget_server.url, timeout=60) as http:
        for index in (0, 1, 2, 3, 4):  # whatever was loaded before, big-0 is evicted by the end of this
            assert _infer(http, index, x).status_code == 200
        reloaded = _infer(http, 0, x)
        again = _infer(http, 0, x)
    assert reloaded.status_code == again.status_code == 200
    assert reloaded.headers["server-timing"].startswith("load;dur=")
    assert "infer;dur=" in reloaded.headers["server-timing"]
    assert again.headers["server-timing"].startswith("infer;dur=")


def test_model_list_and_metadata_under_a_budget_over_http(budget_server: RunningServer) -> None:
    with httpx.Client(base_url=budget_server.url, timeout=60) as http:
        listed = http.get("/v2/models").json()["models"]
        assert len(listed) == MODELS
        assert sum(m["state"] == "loaded" for m in listed) <= 3  # listing ten models loaded none of the others
        assert {m["state"] for m in listed} <= {"loaded", "evicted", "unloaded"}
        idle = next(m["name"] for m in listed if m["state"] != "loaded")
        metadata = http.get(f"/v2/models/{idle}")  # loads it (on a worker thread), evicting an idle one
        assert metadata.status_code == 200 and metadata.json()["inputs"][0]["shape"] == [-1, 1024]
        states = {m["name"]: m["state"] for m in http.get("/v2/models").json()["models"]}
        assert states[idle] == "loaded" and sum(s == "loaded" for s in states.values()) <= 3
