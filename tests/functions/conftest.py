"""Fixtures for the function entry points: a fake Lambda context, event files, the handler loaded fresh (cold)."""

from __future__ import annotations

import importlib
import json
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

EVENTS = Path(__file__).parent / "events"


@dataclass
class FakeLambdaContext:
    """The attributes of ``LambdaContext`` that the handler and Powertools read."""

    function_name: str = "aiaas-inference"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:aiaas-inference"
    memory_limit_in_mb: int = 1024
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/aiaas-inference"
    log_stream_name: str = "2026/11/28/[$LATEST]0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


@pytest.fixture
def context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture
def load_handler(monkeypatch: pytest.MonkeyPatch):
    """Import functions.aws_lambda.handler afresh with MODEL_URI set: a cold start, as a new container has."""

    def load(model_uri: str, **env: str) -> ModuleType:
        from aws_lambda_powertools.metrics.provider import cold_start

        monkeypatch.setenv("MODEL_URI", model_uri)
        monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "aiaas-test")
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delitem(sys.modules, "functions.aws_lambda.handler", raising=False)
        cold_start.reset_cold_start_flag()
        return importlib.import_module("functions.aws_lambda.handler")

    yield load
    sys.modules.pop("functions.aws_lambda.handler", None)
