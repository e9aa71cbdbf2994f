"""`benchmarks/processors.py --serve` compares like with like: its raw and tensor requests carry the same item (the
server answers them alike), the text item is exactly the sequence length asked for, and a short real run against
`sdk serve` prints both rows with their ratios and no errors."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from sdk.protocol.codec import decode_response
from sdk.runtime import load
from sdk.testing import in_process
from tests.conftest import REPO
from tests.sdk.runtime.text_artifact import write_text_artifact

pytest.importorskip("PIL")


def _module(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


processors = _module("processors")


def _answer(served: Any, name: str, way: tuple[bytes, dict[str, str]]) -> dict[str, np.ndarray]:
    body, headers = way
    with httpx.Client(transport=served, base_url=served.url) as client:
        response = client.post(f"/v2/models/{name}/infer", content=body, headers=headers)
    assert response.status_code == 200, response.text
    return decode_response(response.content, response.headers)[0]


def test_the_png_and_its_pixels_get_the_same_answer_from_the_server(digits_artifact: Path) -> None:
    ways = processors.two_ways(digits_artifact, 128)
    assert ways["raw"][1].get("inference-header-content-length")  # a PNG goes binary, as the client sends it
    with in_process(digits_artifact) as served:
        raw = _answer(served, "digits-cnn", ways["raw"])
        tensors = _answer(served, "digits-cnn", ways["tensors"])
    assert raw["label"][0][0] in (b"7", "7") and int(np.argmax(tensors["probabilities"][0])) == 7
    np.testing.assert_allclose(raw["score"][0][0], tensors["probabilities"][0].max(), rtol=1e-6)


def test_the_text_item_is_the_sequence_length_asked_and_its_tokens_match(tmp_path: Path) -> None:
    pytest.importorskip("tokenizers")
    folder = write_text_artifact(tmp_path / "tiny-text", max_length=16)
    ways = processors.two_ways(folder, 12)
    with load(folder) as model:
        assert model.processors is not None
        encoded = model.processors.encode([processors.text_of(model.processors, 12)])
    assert encoded.feeds["input_ids"].shape == (1, 12) and not encoded.report["truncated"][0]
    with in_process(folder) as served:
        raw = _answer(served, "tiny-text", ways["raw"])
        tensors = _answer(served, "tiny-text", ways["tensors"])
    np.testing.assert_array_equal(raw["embedding"], tensors["embedding"])


@pytest.mark.integration
def test_a_short_serve_run_prints_both_requests_with_their_ratios(capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(precision=None, seq=128, clients=2, duration=0.3, repeats=1)
    processors.serve(["digits-cnn"], args)
    out = capsys.readouterr().out
    assert "cpu: " in out and "load average" in out and "ERRORS" not in out
    table = [line for line in out.splitlines() if line.startswith("digits-cnn ") and "B request" not in line]
    rows = {line.split()[1]: line for line in table}
    assert set(rows) == {"tensors", "raw"} and "req/s " in rows["raw"] and "CPU/req " in rows["raw"]
