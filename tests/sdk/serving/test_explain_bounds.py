"""What an explanation may make the server do: explanations run off the event loop (health checks and /infer answer
while one runs), at most ``explain_concurrency`` at once (one more: 503 + Retry-After, never queued), within the
deadline (partial, or 504), and not at all when turned off. The slow model is the real one held at a gate: the only
way to keep an explanation running for as long as a test needs it, without a clock."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from sdk.errors import ConfigError
from sdk.explain import Explanation
from sdk.serving.bootstrap import build_service
from sdk.serving.config import ServeConfig
from sdk.serving.http import build_server
from sdk.serving.service import Service
from tests.sdk.runtime.text_artifact import write_text_artifact

pytest.importorskip("tokenizers")

EXPLAIN = "/v2/models/tiny-text/explain"
JSON = {"content-type": "application/json"}


def _body(text: str = "the cat sat on the mat", **parameters: Any) -> bytes:
    tensor = {"name": "text", "datatype": "BYTES", "shape": [1], "data": [text]}
    return json.dumps({"inputs": [tensor], "parameters": {"max_evals": 32, **parameters}}).encode()


@dataclass
class Gate:
    """Holds every model run made on an explainer thread until ``release`` is set; ``entered`` says one is held."""

    entered: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    held: int = 0


def _gated_service(root: Path, monkeypatch: pytest.MonkeyPatch, **settings: Any) -> tuple[Service, Gate]:
    write_text_artifact(root / "tiny-text" / "1", max_length=12)
    config = ServeConfig(**{"explain_concurrency": 1, **settings})
    service = build_service(root, config=config, include_builtin=False)
    gate = Gate()
    backend = service.repository.get("tiny-text").backend
    real = backend.run

    def run(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if threading.current_thread().name.startswith(("aiaas-explain", "held")):
            gate.held += 1
            gate.entered.set()
            assert gate.release.wait(60), "the test never released the gate"
        return real(feeds)

    monkeypatch.setattr(backend, "run", run)
    return service, gate


@pytest.fixture
def gated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Gate]]:
    """A real uvicorn server (in this process, so the test can hold its model) at most one explanation at a time."""
    service, gate = _gated_service(tmp_path, monkeypatch)
    ready = threading.Event()
    server = build_server(service, port=0, on_ready=lambda _: ready.set(), access_log=False, graceful_timeout_s=5)
    thread = threading.Thread(target=server.run, name="explain-test-server", daemon=True)
    thread.start()
    assert ready.wait(30), "the server did not start"
    try:
        yield server.url, gate
    finally:
        gate.release.set()
        server.should_exit = True
        thread.join(30)


def test_health_and_infer_answer_while_an_explanation_runs_and_one_more_gets_503(gated: tuple[str, Gate]) -> None:
    url, gate = gated
    with httpx.Client(base_url=url, timeout=60) as http, ThreadPoolExecutor(1) as pool:
        first = pool.submit(httpx.post, url + EXPLAIN, content=_body(), headers=JSON, timeout=60)
        assert gate.entered.wait(30), "the explanation never reached the model"

        assert http.get("/v2/health/ready").status_code == 200
        infer = http.post("/v2/models/tiny-text/infer", content=_body(), headers=JSON)
        assert infer.status_code == 200, infer.text  # the same model, through the batcher's threads
        busy = http.post(EXPLAIN, content=_body(), headers=JSON)
        assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
        assert "at most 1 explanation(s) at once" in busy.json()["error"]
        assert not first.done()  # all of the above was answered while the explanation was held

        gate.release.set()
        answered = first.result(timeout=60)
        assert answered.status_code == 200, answered.text
        assert Explanation.from_json(answered.json()["explanation"]).items
        again = http.post(EXPLAIN, content=_body(), headers=JSON)  # the slot was given back
        assert again.status_code == 200, again.text


def test_the_lambda_way_refuses_a_second_explanation_while_one_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service, gate = _gated_service(tmp_path, monkeypatch)
    with ThreadPoolExecutor(1, thread_name_prefix="held") as pool:
        first = pool.submit(service.handle, "POST", EXPLAIN, JSON, _body())
        assert gate.entered.wait(30)
        busy = service.handle("POST", EXPLAIN, JSON, _body())
        assert busy.status == 503 and busy.headers["retry-after"] == "1"
        gate.release.set()
        assert first.result(timeout=60).status == 200
    assert service.handle("POST", EXPLAIN, JSON, _body()).status == 200


def test_a_deadline_passed_after_the_first_stage_gives_a_partial_explanation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service, gate = _gated_service(tmp_path, monkeypatch, explain_deadline_s=0.5)
    with ThreadPoolExecutor(1, thread_name_prefix="held") as pool:
        answer = pool.submit(service.handle, "POST", EXPLAIN, JSON, _body())
        assert gate.entered.wait(30)
        time.sleep(0.6)  # hold the first model call past the deadline (no assertion on time)
        gate.release.set()
        response = answer.result(timeout=60)
    assert response.status == 200, response.body
    explained = Explanation.from_json(json.loads(response.body)["explanation"])
    assert explained.partial and gate.held == 1  # no model call was started past the deadline


def test_a_deadline_passed_before_any_estimate_is_a_504(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    service, gate = _gated_service(tmp_path, monkeypatch, explain_deadline_s=1e-9)
    gate.release.set()
    response = service.handle("POST", EXPLAIN, JSON, _body())
    assert response.status == 504, response.body
    assert "deadline" in json.loads(response.body)["error"]


def test_the_callers_shorter_deadline_is_kept_and_a_longer_one_is_cut_to_the_servers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    strict, gate = _gated_service(tmp_path / "strict", monkeypatch, explain_deadline_s=1e-9)
    gate.release.set()
    assert strict.handle("POST", EXPLAIN, JSON, _body(deadline_s=3600)).status == 504
    lenient, gate = _gated_service(tmp_path / "lenient", monkeypatch)  # the default: 30 s
    gate.release.set()
    assert lenient.handle("POST", EXPLAIN, JSON, _body()).status == 200
    assert lenient.handle("POST", EXPLAIN, JSON, _body(deadline_s=1e-9)).status == 504


def test_an_explanation_ends_within_the_time_its_caller_has_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service, gate = _gated_service(tmp_path, monkeypatch)  # the server's own deadline: 30 s
    gate.release.set()
    assert service.handle("POST", EXPLAIN, JSON, _body(), time_left_s=0.0).status == 504
    assert service.handle("POST", EXPLAIN, JSON, _body(), time_left_s=60.0).status == 200


def test_explanations_turned_off_are_a_404_and_not_advertised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    service, _ = _gated_service(tmp_path, monkeypatch, explain=False)
    response = service.handle("POST", EXPLAIN, JSON, _body())
    assert response.status == 404 and "AIAAS_EXPLAIN" in json.loads(response.body)["error"]
    extensions = json.loads(service.handle("GET", "/v2", {}, b"").body)["extensions"]
    assert "explain" not in extensions and "binary_tensor_data" in extensions


def test_explain_settings_read_their_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for var, value in {
        "AIAAS_EXPLAIN": "false",
        "AIAAS_EXPLAIN_MAX_EVALS": "100",
        "AIAAS_EXPLAIN_MAX_CALLS": "4",
        "AIAAS_EXPLAIN_MAX_ITEMS": "2",
        "AIAAS_EXPLAIN_CONCURRENCY": "3",
        "AIAAS_EXPLAIN_DEADLINE_S": "5",
    }.items():
        monkeypatch.setenv(var, value)
    config = ServeConfig.from_env()
    assert not config.explain
    assert (config.explain_max_evals, config.explain_max_calls, config.explain_max_items) == (100, 4, 2)
    assert (config.explain_concurrency, config.explain_deadline_s) == (3, 5.0)


@pytest.mark.parametrize("setting", [{"explain_max_evals": 0}, {"explain_concurrency": 0}, {"explain_deadline_s": 0.0}])
def test_unusable_explain_settings_are_refused(setting: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=next(iter(setting))):
        ServeConfig(**setting)
