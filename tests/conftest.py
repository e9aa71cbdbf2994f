"""Fixtures shared by every test tier."""

from __future__ import annotations

import shutil
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sdk.artifacts.store import BUILTIN_ROOT
from tests import partial_install

REPO = Path(__file__).resolve().parent.parent
Report = Any  # pytest.TestReport or pytest.CollectReport


# A partial install (tests/partial_install.py): a test that needs a package not installed here skips, naming it.
def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector) -> pytest.Module:
    return partial_install.Module.from_parent(parent, path=module_path)


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Report, Report]:
    report = yield
    partial_install.locate(collector, report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Report, Report]:
    report = yield
    partial_install.skip_if_absent(item, call, report)
    return report


@pytest.fixture(autouse=True)
def _isolated_store(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test reads or writes the developer's ~/.cache/aiaas: each gets an empty store of its own."""
    root = tmp_path_factory.mktemp("store")
    monkeypatch.setenv("AIAAS_STORE", str(root))
    # The client's config file and latency estimates live under these: keep the developer's own out of tests.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    # The decision log (on by default) writes under the state directory: each test gets its own.
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))
    for var in (
        "AIAAS_PROVIDERS",
        "AIAAS_THREADS",
        "AIAAS_GRAPH_OPTIMIZATION",
        "AIAAS_VERBOSE",
        "AIAAS_INCLUDE_BUILTIN",
        "AIAAS_CONFIG",
        "AIAAS_ENDPOINT",
        "AIAAS_PRIVACY",
        "AIAAS_MODE",
        "AIAAS_LOCAL_ONLY",
        "AIAAS_AUTH_TOKEN",
        "AIAAS_LATENCY_STATE",
        "AIAAS_PRECISION",
        "AIAAS_BACKEND",
        "AIAAS_AUDIT",
        "AIAAS_AUDIT_DIR",
        "AIAAS_AUDIT_KEY",
        "AIAAS_USAGE",
        "AIAAS_COMPILE_CACHE",
        "AIAAS_STATIC_SHAPES",
        "AIAAS_WEIGHTS_IN_PLACE",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AIAAS_EXPLAIN",
        "AIAAS_EXPLAIN_MAX_EVALS",
        "AIAAS_EXPLAIN_MAX_CALLS",
        "AIAAS_EXPLAIN_MAX_ITEMS",
        "AIAAS_EXPLAIN_CONCURRENCY",
        "AIAAS_EXPLAIN_DEADLINE_S",
    ):
        monkeypatch.delenv(var, raising=False)
    return root


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def digits_artifact() -> Path:
    """The shipped default artifact folder (read-only: copy it before changing anything)."""
    return BUILTIN_ROOT / "digits-cnn" / "1"


@pytest.fixture
def artifact_copy(digits_artifact: Path, tmp_path: Path) -> Path:
    """A private copy of the default artifact, safe to tamper with."""
    target = tmp_path / "digits-cnn" / "1"
    shutil.copytree(digits_artifact, target)
    return target


@pytest.fixture(scope="session")
def digits_split():
    from models.digits_cnn.data import load_split

    return load_split(0)


@pytest.fixture(scope="session")
def digit_7(repo: Path) -> np.ndarray:
    return np.load(repo / "models" / "digits_cnn" / "samples" / "digit_7.npy")
