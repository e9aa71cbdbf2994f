"""The function under AWS's own runtime interface client (``python -m awslambdaric``, what the Lambda Python base image
starts), fed by an emulated Runtime API on loopback (benchmarks/_lambda_runtime.py): one container's first and warm
invocations answer every event as the handler called in this process does, the client's own JSON marshalling of our
results included, and an init that fails is reported to Lambda as an init error that names the problem."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks._lambda_runtime import RuntimeApi
from tests.conftest import REPO
from tests.functions.conftest import FakeLambdaContext, event

HANDLER = "functions.aws_lambda.handler.handler"
EVENTS = [
    "function_url_infer_json.json",
    "function_url_infer_binary_base64.json",
    "function_url_infer_gzip_base64.json",
    "apigw_v2_model_metadata.json",
    "apigw_v2_head_model_metadata.json",
    "apigw_v2_health_ready.json",
    "apigw_v2_unknown_model.json",
    "function_url_bad_shape.json",
    "function_url_sagemaker_invocations.json",
    "function_url_sagemaker_binary_framing.json",
    "function_url_infer_json.json",  # warm, again
]


@pytest.fixture(scope="module")
def api() -> Iterator[RuntimeApi]:
    runtime = RuntimeApi()
    yield runtime
    runtime.close()


def _env(tmp_path: Path, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIAAS_", "AWS_", "POWERTOOLS_", "MODEL_URI"))}
    return env | {
        "PYTHONPATH": str(REPO),
        "LAMBDA_TASK_ROOT": str(REPO),
        "AWS_LAMBDA_FUNCTION_NAME": "aiaas-inference",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/aiaas-inference",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/30/[$LATEST]0123456789abcdef",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "aiaas-test",
        "AIAAS_CACHE_DIR": str(tmp_path / "cache"),
        "AIAAS_AUDIT": "0",
        **more,
    }


def _comparable(result: dict[str, Any]) -> dict[str, Any]:
    """A result without what differs from one invocation to the next by design: the time it took (Server-Timing) and
    the Lambda request id where the client sent none."""
    varying = ("x-request-id", "server-timing")
    headers = {k.lower(): v for k, v in (result.get("headers") or {}).items() if k.lower() not in varying}
    return {**result, "headers": headers}


def test_every_event_gets_the_in_process_answer_under_the_runtime_client(
    api: RuntimeApi, load_handler: Any, digits_artifact: Path, tmp_path: Path
) -> None:
    events = [event(name) for name in EVENTS]
    log = tmp_path / "ric.log"
    _, _, answers = api.run(
        sys.executable, HANDLER, events, _env(tmp_path, MODEL_URI=str(digits_artifact)), str(REPO), log
    )
    assert [a["kind"] for a in answers] == ["response"] * len(EVENTS), log.read_text()[-3000:]
    module = load_handler(str(digits_artifact))
    statuses = []
    for name, answer in zip(EVENTS, answers):
        got = json.loads(answer["body"])
        expected = json.loads(json.dumps(module.handler(event(name), FakeLambdaContext())))
        assert _comparable(got) == _comparable(expected), name
        statuses.append(got["statusCode"])
    assert statuses.count(200) == 9 and 404 in statuses and 400 in statuses  # the events hold errors too
    assert "ColdStart" in log.read_text()  # Powertools' metrics, flushed through the client's stdout


def test_an_init_that_fails_is_reported_to_lambda_naming_the_problem(api: RuntimeApi, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    log = tmp_path / "ric.log"
    _, _, answers = api.run(
        sys.executable, HANDLER, [event(EVENTS[0])], _env(tmp_path, MODEL_URI=str(missing)), str(REPO), log
    )
    assert len(answers) == 1 and answers[0]["path"].endswith("/runtime/init/error"), answers
    error = json.loads(answers[0]["body"])
    assert str(missing) in error["errorMessage"], error
    assert error["errorType"] == "ConfigError" and "no such folder" in error["errorMessage"], error
