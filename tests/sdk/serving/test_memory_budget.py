"""Many models in one memory budget (#19 item 5): sizes, LRU eviction, leases, and the start-up check.

The models are ten distinct ONNX files with a 32 MiB initializer each (``budget_models.py``); loaded, each holds
about 64 MiB and peaks at about 96 MiB (``sdk.serving.budget``), so a budget of 256 MiB holds three."""

from __future__ import annotations

import importlib
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from sdk.artifacts import LocalStore
from sdk.artifacts.store import ModelRef
from sdk.cli import app
from sdk.errors import ArtifactError, ConfigError, Overloaded
from sdk.runtime.config import RuntimeConfig
from sdk.serving.budget import LAMBDA_HEADROOM, MemoryBudget, format_size, lambda_budget, model_cost, parse_size
from sdk.serving.config import ServeConfig
from sdk.serving.repository import ModelRepository
from tests.sdk.serving.budget_models import MIB, budget_store

HOLDS_THREE = 256 * MIB


@pytest.fixture(scope="session")
def budget_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return budget_store(tmp_path_factory.getbasetemp() / "budget-store")  # one copy for both budget modules


def _repository(root: Path, capacity: int = HOLDS_THREE, wait_s: float = 30.0) -> ModelRepository:
    runtime = RuntimeConfig(backend="onnxruntime", threads=1, warmup_runs=0)
    return ModelRepository(LocalStore(root), runtime=runtime, budget=MemoryBudget(capacity), load_wait_s=wait_s)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512MiB", 512 * MIB),
        ("2GB", 2_000_000_000),
        ("1.5G", 3 * 512 * MIB),
        ("1073741824", 1 << 30),
        ("64 mi", 64 * MIB),
    ],
)
def test_size_strings_parse_with_binary_and_decimal_units(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["lots", "12 parsecs", "-5MiB", "0", "MiB"])
def test_size_that_does_not_parse_is_a_config_error_naming_it(text: str) -> None:
    with pytest.raises(ConfigError, match=f"{text!r}"):
        ServeConfig(memory_budget=text)


def test_unparseable_budget_is_one_clear_cli_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "--store", str(tmp_path), "--port", "0", "--memory-budget", "lots"])
    assert result.exit_code != 0
    assert "'lots' is not a size" in result.output
    assert "Traceback" not in result.output


def test_budget_smaller_than_the_largest_model_fails_at_start_naming_both_sizes(budget_root: Path) -> None:
    result = CliRunner().invoke(
        app, ["serve", "--store", str(budget_root), "--no-builtin", "--port", "0", "--memory-budget", "64MiB"]
    )
    assert result.exit_code != 0
    need = format_size(model_cost(LocalStore(budget_root).resolve(ModelRef("big-0")).manifest()).peak)
    assert "memory budget 64.0 MiB is smaller than the largest model, big-" in result.output
    assert need in result.output


def test_least_recently_used_idle_model_is_evicted_first(budget_root: Path) -> None:
    repository = _repository(budget_root)
    try:
        for name in ("big-0", "big-1", "big-2"):
            repository.get(name)
        repository.get("big-0")  # big-1 is now the least recently used
        with repository.lease("big-3") as lease:
            assert lease.load_s is not None  # it had to load
        assert [repository.state(f"big-{i}") for i in range(4)] == ["loaded", "evicted", "loaded", "loaded"]
        assert repository.budget is not None and repository.budget.evictions == 1
        assert repository.budget.used() <= HOLDS_THREE
        with repository.lease("big-1") as again:  # an evicted model's next request loads it again
            assert again.load_s is not None
        assert repository.state("big-2") == "evicted"
    finally:
        repository.close()


def test_model_in_use_is_never_evicted_and_a_load_waits_for_it(budget_root: Path) -> None:
    repository = _repository(budget_root, wait_s=0.3)
    budget = repository.budget
    assert budget is not None
    try:
        leases = [repository.lease(f"big-{i}") for i in range(3)]  # three requests hold three models
        with pytest.raises(Overloaded, match="no memory to load this model"):
            repository.lease("big-3")  # nothing idle to evict: it waits 0.3 s, never goes over, then 503
        assert all(repository.state(f"big-{i}") == "loaded" for i in range(3))
        assert budget.used() <= HOLDS_THREE
        threading.Timer(0.2, leases[1].release).start()  # big-1's request finishes while big-3 waits
        began = time.monotonic()
        with repository.lease("big-3", wait_s=30) as fourth:
            assert fourth.model.manifest.name == "big-3"
        assert time.monotonic() - began >= 0.1
        assert [repository.state(f"big-{i}") for i in range(4)] == ["loaded", "evicted", "loaded", "loaded"]
        for lease in leases:
            lease.release()
    finally:
        repository.close()


def test_lambda_budget_is_its_memory_less_the_runtime_headroom() -> None:
    assert lambda_budget("1024") == str(1024 * MIB - LAMBDA_HEADROOM)
    assert lambda_budget(None) is None  # not in Lambda: no budget
    assert lambda_budget("128") is None  # less than the headroom: nothing would fit


def test_lambda_loads_what_its_memory_holds_and_evicts_for_the_rest(
    budget_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The handler's init under AWS_LAMBDA_FUNCTION_MEMORY_SIZE=416 (a 256 MiB budget): three models loaded at init,
    a fourth model's invocation evicts the least recently used and says its load time in Server-Timing."""
    from tests.functions.conftest import FakeLambdaContext, event

    memory_mb = (HOLDS_THREE + LAMBDA_HEADROOM) // MIB
    for key, value in {"MODEL_URI": str(budget_root), "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb)}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AIAAS_MEMORY_BUDGET", raising=False)
    monkeypatch.setenv("AIAAS_BACKEND", "onnxruntime")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "aiaas-test")
    monkeypatch.delitem(sys.modules, "functions.aws_lambda.handler", raising=False)
    try:
        handler = importlib.import_module("functions.aws_lambda.handler")
        repository = handler.SERVICE.repository
        assert repository.budget.capacity == HOLDS_THREE
        assert [m.manifest.name for m in repository.loaded()] == ["big-0", "big-1", "big-2"]
        request = event("function_url_infer_json.json")
        request["rawPath"] = request["requestContext"]["http"]["path"] = "/v2/models/big-7/infer"
        body = {"inputs": [{"name": "x", "shape": [1, 1024], "datatype": "FP32", "data": [1.0] * 1024}]}
        request["body"], request["isBase64Encoded"] = json.dumps(body), False
        answer = handler.handler(request, FakeLambdaContext())
        assert answer["statusCode"] == 200, answer["body"]
        assert answer["headers"]["server-timing"].startswith("load;dur=")
        assert repository.state("big-0") == "evicted" and repository.state("big-7") == "loaded"
        assert repository.budget.used() <= HOLDS_THREE
    finally:
        module = sys.modules.pop("functions.aws_lambda.handler", None)
        if module is not None:
            module.SERVICE.repository.close()


def test_model_list_under_a_budget_shows_each_state_without_loading_any(budget_root: Path) -> None:
    from sdk.serving.service import Service

    repository = _repository(budget_root)
    try:
        service = Service(repository, config=ServeConfig(memory_budget="256MiB")).start()
        for name in ("big-0", "big-1", "big-2", "big-3"):
            repository.get(name)
        listed = json.loads(service.handle("GET", "/v2/models", {}, b"").body)["models"]
        states = {m["name"]: m["state"] for m in listed}
        assert states["big-0"] == "evicted" and states["big-3"] == "loaded" and states["big-9"] == "unloaded"
        assert all(m["inputs"][0]["name"] == "x" for m in listed)
        assert [repository.state(f"big-{i}") for i in (4, 9)] == ["unloaded", "unloaded"]  # listing loaded none
        ready = service.handle("GET", "/v2/models/big-0/ready", {}, b"")
        assert ready.status == 200 and json.loads(ready.body) == {"name": "big-0", "ready": True, "state": "evicted"}
    finally:
        repository.close()


def test_budget_reads_its_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIAAS_MEMORY_BUDGET", "2GB")
    assert ServeConfig.from_env().memory_budget_bytes == 2_000_000_000
    assert ServeConfig.from_env(memory_budget="1GiB").memory_budget_bytes == 1 << 30  # the option wins
    monkeypatch.delenv("AIAAS_MEMORY_BUDGET")
    assert ServeConfig.from_env().memory_budget_bytes is None


def test_a_model_larger_than_the_budget_is_refused_with_both_sizes_never_loaded(budget_root: Path) -> None:
    repository = _repository(budget_root, capacity=64 * MIB)  # no start-up check here: the request finds it
    try:
        with pytest.raises(ArtifactError, match=r"big-0@1 needs 96\.0 MiB to load, more than .* budget of 64\.0 MiB"):
            repository.lease("big-0")
        assert repository.state("big-0") == "unloaded" and repository.budget is not None
        assert repository.budget.used() == 0
    finally:
        repository.close()


def test_eviction_passes_over_the_least_recent_model_while_a_request_holds_it(budget_root: Path) -> None:
    repository = _repository(budget_root)
    try:
        with repository.lease("big-0") as held:  # the least recently used, but in use
            repository.get("big-1")
            repository.get("big-2")
            repository.get("big-3")  # makes room by closing big-1, the least recently used idle model
            assert [repository.state(f"big-{i}") for i in range(4)] == ["loaded", "evicted", "loaded", "loaded"]
            assert held.model.run_validated({"x": np.ones((1, 1024), np.float32)})["y"].shape == (1, 1)
    finally:
        repository.close()


def test_a_load_whose_measured_growth_reads_low_is_charged_what_a_load_settles_at() -> None:
    """Memory the process frees during a load (a finished request, the garbage collector) must not make a model look
    cheap: a full test run once fitted five models into a budget for three that way."""
    from sdk.serving.budget import Cost

    cost = Cost(size=32 * MIB, peak=96 * MIB)
    assert cost.settled == 64 * MIB
    budget = MemoryBudget(256 * MIB)
    assert budget.loaded("a", -10 * MIB, cost.settled) == 64 * MIB
    assert budget.loaded("b", 80 * MIB, cost.settled) == 80 * MIB  # a real growth above the floor is charged as is
    mapped = Cost(size=1000 * MIB, peak=int(1000 * MIB * 1.15))
    assert mapped.settled == 1000 * MIB  # mapped weights: never below the bytes they are


def test_a_server_under_a_budget_makes_no_static_shape_copies(
    budget_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OpenVINO's static-shape copies come after the load the budget charged (~75 MB each for MiniLM int8): under a
    budget a server never makes them; without one it does, unless AIAAS_STATIC_SHAPES=0."""
    from sdk.serving.bootstrap import build_service

    runtime = RuntimeConfig(backend="onnxruntime", threads=1, warmup_runs=0, usage="server")
    budgeted = build_service(budget_root, config=ServeConfig(memory_budget="256MiB"), runtime=runtime, batching=False)
    free = build_service(budget_root, config=ServeConfig(models=("big-0",)), runtime=runtime, batching=False)
    try:
        assert budgeted.repository.runtime is not None and not budgeted.repository.runtime.static_shapes
        assert free.repository.runtime is not None and free.repository.runtime.static_shapes
    finally:
        budgeted.repository.close()
        free.repository.close()
    monkeypatch.setenv("AIAAS_STATIC_SHAPES", "0")
    assert not RuntimeConfig.from_env().static_shapes
