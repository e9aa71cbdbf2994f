"""The function's Tracer exists only where it traces (#20 item 1): a disabled Powertools Tracer still imports the
X-Ray SDK and botocore and patches them, a large share of every cold start. Each case runs in a fresh interpreter:
an enabled Tracer patches modules process-wide, and only there is the import cold."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CODE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import functions.aws_lambda.handler as handler
from tests.functions.conftest import FakeLambdaContext, event
answer = handler.handler(event("function_url_infer_json.json"), FakeLambdaContext())
print(json.dumps({"tracer": type(handler.tracer).__name__, "xray": "aws_xray_sdk.core" in sys.modules,
                  "status": answer["statusCode"], "digit": json.loads(answer["body"])["id"]}))
"""


def run_function(digits_artifact: Path, tmp_path: Path, **env: str) -> dict:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "LAMBDA_", "AWS_", "AIAAS_"))}
    base.update(MODEL_URI=str(digits_artifact), AIAAS_CACHE_DIR=str(tmp_path / "cache"), **env)
    done = subprocess.run(
        [sys.executable, "-c", CODE, str(REPO)], capture_output=True, text=True, env=base, cwd=tmp_path, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "env",
    [
        {"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "true"},  # in Lambda, tracing turned off
        {},  # outside Lambda (no LAMBDA_TASK_ROOT): Powertools would disable its Tracer itself
    ],
)
def test_a_function_that_does_not_trace_never_imports_the_xray_sdk(
    digits_artifact: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    seen = run_function(digits_artifact, tmp_path, AWS_LAMBDA_FUNCTION_NAME="f", **env)
    assert seen == {"tracer": "NoneType", "xray": False, "status": 200, "digit": "digit-7"}


def test_a_traced_function_wraps_its_handler_in_the_tracer(digits_artifact: Path, tmp_path: Path) -> None:
    seen = run_function(digits_artifact, tmp_path, AWS_LAMBDA_FUNCTION_NAME="f", LAMBDA_TASK_ROOT="/var/task")
    assert seen == {"tracer": "Tracer", "xray": True, "status": 200, "digit": "digit-7"}
