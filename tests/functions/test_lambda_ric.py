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

import aws_lambda_powertools  # noqa: F401 (the handler under the runtime client, a child process, needs it)
import pytest

from benchmarks._lambda_runtime import RESPONSE_LIMIT, RuntimeApi
from tests.conftest import REPO
from tests.functions.conftest import FakeLambdaContext, event

pytest.importorskip("awslambdaric", reason="awslambdaric (the dev extra, Linux only) runs the function here")
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


def test_an_answer_over_6_mb_is_a_413_lambda_accepts_not_a_refused_response(
    api: RuntimeApi, digits_artifact: Path, tmp_path: Path
) -> None:
    """32,768 blank digits (a 4.2 MB request) answered as JSON numbers is ~7.3 MB, over what Lambda's Runtime API
    accepts (the emulator refuses it as Lambda does; the caller would get a 502). The function answers 413 naming the
    size and the way out; the same request asking for binary outputs gets its 32,768 rows."""
    from sdk.protocol.codec import decode_response
    from tests.functions.test_aws_lambda import _body, _rows_event

    rows = 32_768
    events = [_rows_event(rows, value=0), _rows_event(rows, binary_output=True, value=0)]
    assert len(json.dumps(events[0])) < 6_291_556  # the request itself is within Lambda's limit
    env = _env(tmp_path, MODEL_URI=str(digits_artifact), AIAAS_MAX_REQUEST_ROWS=str(rows))
    _, _, answers = api.run(sys.executable, HANDLER, events, env, str(REPO), tmp_path / "ric.log")
    assert [a["kind"] for a in answers] == ["response", "response"]
    assert all(len(a["body"]) <= RESPONSE_LIMIT for a in answers)
    refused, binary = (json.loads(a["body"]) for a in answers)
    assert refused["statusCode"] == 413
    message = json.loads(refused["body"])["error"]
    assert "over AWS Lambda's limit of 6291456 bytes for a response" in message and "binary_data_output" in message
    assert binary["statusCode"] == 200
    outputs, _ = decode_response(_body(binary), binary["headers"])
    assert outputs["probabilities"].shape == (rows, 10)
