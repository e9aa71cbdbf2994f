"""What a Lambda's init leaves for later: the tokenizer of a text model is built on the first raw request (a cold
start sent tensors never pays for it), while a long-lived server builds it when the model loads."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sdk import load
from sdk.runtime.config import RuntimeConfig
from sdk.serving.repository import ModelRepository, open_model_store
from tests.functions.conftest import FakeLambdaContext, event
from tests.functions.test_raw_inputs import TEXTS, _answer, _event, _json
from tests.sdk.runtime.text_artifact import write_text_artifact

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def text_artifact(tmp_path: Path) -> Path:
    return write_text_artifact(tmp_path / "tiny-text" / "1")


def _tokenizer_built(module_or_repository: Any) -> bool:
    repository = getattr(module_or_repository, "SERVICE", None)
    models = (repository.repository if repository is not None else module_or_repository).loaded()
    assert len(models) == 1
    return models[0].processors.input._tokenizer is not None


def test_lambda_init_leaves_the_tokenizer_to_the_first_raw_request(load_handler, text_artifact: Path) -> None:
    pytest.importorskip("tokenizers")
    module = load_handler(str(text_artifact), AWS_LAMBDA_FUNCTION_NAME="f")
    assert not _tokenizer_built(module)
    body, headers = _json("text", TEXTS)
    outputs = _answer(module.handler(_event("tiny-text", body, headers), FakeLambdaContext()))
    np.testing.assert_array_equal(outputs["embedding"], load(text_artifact)(TEXTS)["embedding"])
    assert _tokenizer_built(module)


def test_a_server_builds_the_tokenizer_when_the_model_loads(text_artifact: Path) -> None:
    pytest.importorskip("tokenizers")
    repository = ModelRepository(open_model_store(text_artifact), runtime=RuntimeConfig(usage="server"))
    repository.preload()
    assert _tokenizer_built(repository)
    repository.close()


RESOLVERS = """
import json, sys
sys.path.insert(0, sys.argv[1])
import functions.aws_lambda.handler as handler
from tests.functions.conftest import FakeLambdaContext, event
answer = handler.handler(event("function_url_infer_json.json"), FakeLambdaContext())
unused = ["aws_lambda_powertools.event_handler", "asyncio", "sdk.serving.batcher", "sdk.explain", "sdk.serving.openapi",
          "ctypes.util"]
print(json.dumps({"unused imported": [m for m in unused if m in sys.modules], "status": answer["statusCode"]}))
"""


def test_a_cold_start_never_imports_what_a_function_does_not_use(digits_artifact: Path, tmp_path: Path) -> None:
    """Every resolver of every event source (~45-80 ms of CPU per cold start) for routing the function does not use;
    asyncio and the batcher (~30 ms), for the async path of a server; the explainers and the OpenAPI document (~10
    ms), for requests that ask for them; ctypes (~4 ms), for an eviction's malloc_trim."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "LAMBDA_", "AWS_", "AIAAS_"))}
    env.update(MODEL_URI=str(digits_artifact), AIAAS_CACHE_DIR=str(tmp_path / "cache"), AWS_LAMBDA_FUNCTION_NAME="f")
    done = subprocess.run(
        [sys.executable, "-c", RESOLVERS, str(REPO)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"unused imported": [], "status": 200}


def test_a_stage_prefix_is_taken_off_the_path_only_before_a_slash(load_handler, digits_artifact: Path) -> None:
    module = load_handler(str(digits_artifact), AIAAS_PATH_PREFIX="/prod")

    def status(path: str) -> int:
        request = event("apigw_v2_health_ready.json")
        request["rawPath"] = request["requestContext"]["http"]["path"] = path
        answer: dict[str, Any] = module.handler(request, FakeLambdaContext())
        return int(answer["statusCode"])

    assert status("/prod/v2/health/ready") == 200
    assert status("/v2/health/ready") == 200  # a path without the stage is served as it is
    assert status("/production/v2/health/ready") == 404
    assert status("/prod") == status("/")  # the stage alone is the root


def test_a_binary_answer_is_a_payload_2_response(load_handler, digits_artifact: Path) -> None:
    module = load_handler(str(digits_artifact))
    response = module.handler(event("function_url_infer_binary_base64.json"), FakeLambdaContext())
    assert set(response) == {"statusCode", "body", "isBase64Encoded", "headers", "cookies"}
    assert response["isBase64Encoded"] is True and response["cookies"] == []
    assert response["headers"]["Content-Type"] == "application/octet-stream"
    assert "content-type" not in response["headers"]
    assert base64.b64decode(response["body"]).startswith(b"{")


OVERLAP = """
import json, sys
sys.path.insert(0, sys.argv[1])
from sdk.runtime import engines
read_beside = []  # files read and hashed in a helper thread while their engine was imported
run = engines._Reader.run
engines._Reader.run = lambda self: (read_beside.append(self.artifact.file), run(self))[1]
import functions.aws_lambda.handler as handler
print(json.dumps({"read_beside": read_beside, "budget": handler.SERVICE.repository.budget is not None,
                  "loaded": len(handler.SERVICE.repository.loaded())}))
"""


def test_under_the_lambda_memory_budget_the_first_load_reads_its_file_while_the_runtime_imports(
    digits_artifact: Path, tmp_path: Path
) -> None:
    """A warm-up that imported ONNX Runtime before the first model's load would leave that model's read and sha256
    (~40 ms for MiniLM int8) to follow the import instead of overlapping it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "LAMBDA_", "AWS_", "AIAAS_"))}
    env.update(
        MODEL_URI=str(digits_artifact),
        AIAAS_CACHE_DIR=str(tmp_path / "cache"),
        AWS_LAMBDA_FUNCTION_NAME="f",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="1024",
    )
    done = subprocess.run(
        [sys.executable, "-c", OVERLAP, str(REPO)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["budget"] and seen["loaded"] == 1
    assert len(seen["read_beside"]) == 1, seen
