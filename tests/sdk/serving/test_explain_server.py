"""POST /v2/models/{name}/explain through a real `sdk serve` on loopback: digits (JSON tensors, PNG as JSON BYTES, the
binary extension) and text (the tiny text artifact) answer the attributions sdk.explain computes on the edge for the
same seed, parsed with Explanation.from_json; the server's caps are 400s naming them; every bad input is a 4xx."""

from __future__ import annotations

import base64
import gzip
import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from sdk import load
from sdk.explain import ExplainOptions, Explanation, explain
from sdk.protocol.codec import encode_request
from tests.sdk.runtime.text_artifact import write_text_artifact
from tests.sdk.serving.builders import pair_model
from tests.sdk.serving.conftest import RunningServer, start_server

pytest.importorskip("tokenizers")
pytest.importorskip("PIL")

SAMPLES = Path(__file__).parents[3] / "models" / "digits_cnn" / "samples"
DIGITS = (0, 7)
TEXTS = ["the cat sat on the mat", "a cat sat"]
CAPS = {"AIAAS_EXPLAIN_MAX_EVALS": "300", "AIAAS_EXPLAIN_MAX_CALLS": "6", "AIAAS_EXPLAIN_MAX_ITEMS": "3"}
MAX_BODY = 65536


@pytest.fixture(scope="module")
def explain_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("explain-store")
    write_text_artifact(root / "tiny-text" / "1", max_length=12)
    pair_model(root)  # tensors only: no declared modality
    return root


@pytest.fixture(scope="module")
def explain_server(explain_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    logs = tmp_path_factory.mktemp("explain-logs")
    server = start_server(explain_root, logs, "--max-body-bytes", str(MAX_BODY), env=CAPS)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def http(explain_server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=explain_server.url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def digits(digits_artifact: Path) -> Any:
    return load(digits_artifact)


@pytest.fixture(scope="module")
def tiny_text(explain_root: Path) -> Any:
    return load(explain_root / "tiny-text" / "1")


def _pixels() -> np.ndarray:
    return np.stack([np.load(SAMPLES / f"digit_{d}.npy") for d in DIGITS]).astype(np.float32).reshape(-1, 1, 8, 8)


def _pngs() -> list[bytes]:
    return [(SAMPLES / f"digit_{d}.png").read_bytes() for d in DIGITS]


def _json_body(name: str, datatype: str, shape: list[int], data: list[Any], parameters: dict[str, Any]) -> bytes:
    tensor = {"name": name, "datatype": datatype, "shape": shape, "data": data}
    return json.dumps({"id": "42", "inputs": [tensor], "parameters": parameters}).encode()


def _bytes_binary(name: str, items: list[bytes], parameters: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """Triton's binary BYTES layout by hand: each element a 4-byte little-endian length, then its bytes."""
    blob = b"".join(struct.pack("<I", len(item)) + item for item in items)
    tensor = {"name": name, "datatype": "BYTES", "shape": [len(items)], "parameters": {"binary_data_size": len(blob)}}
    head = json.dumps({"inputs": [tensor], "parameters": parameters}).encode()
    return head + blob, {"content-type": "application/octet-stream", "inference-header-content-length": str(len(head))}


def _explained(response: httpx.Response) -> Explanation:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    return Explanation.from_json(document["explanation"])


def _same_attributions(served: Explanation, edge: Explanation) -> None:
    assert served.method == edge.method and served.evaluations == edge.evaluations and served.seed == edge.seed
    assert len(served.items) == len(edge.items)
    for mine, theirs in zip(served.items, edge.items):
        assert mine.units == theirs.units and mine.target == theirs.target
        # Bit-identical here; the server runs a call in slices of max_batch_size rows where the edge runs it whole,
        # and a CPU with other kernels may round a slice's last bit differently: float32 resolution, no more.
        np.testing.assert_allclose(mine.attributions, theirs.attributions, rtol=1e-5, atol=1e-6)
        assert mine.value == pytest.approx(theirs.value, rel=1e-5, abs=1e-6)


def _error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    message: str = response.json()["error"]
    return message


def _post(http: httpx.Client, model: str, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return http.post(
        f"/v2/models/{model}/explain", content=body, headers=headers or {"content-type": "application/json"}
    )


# --- what is served ------------------------------------------------------------------------------------------------


def test_server_metadata_claims_the_explain_extension(http: httpx.Client) -> None:
    assert "explain" in http.get("/v2").json()["extensions"]


def test_digits_as_json_tensors_are_explained_as_on_the_edge(http: httpx.Client, digits: Any) -> None:
    pixels = _pixels()
    options = ExplainOptions(seed=5, max_evals=128)
    body = _json_body("image", "FP32", list(pixels.shape), pixels.reshape(-1).tolist(), options.to_parameters())
    response = _post(http, "digits-cnn", body)
    document = response.json()
    assert (document["model_name"], document["model_version"], document["id"]) == ("digits-cnn", "1", "42")
    served = _explained(response)
    assert served.ran_on == "cloud" and not served.partial and served.seed == 5
    assert [item.target["label"] for item in served.items] == [str(d) for d in DIGITS]
    assert response.headers["server-timing"].startswith("explain;dur=")
    _same_attributions(served, explain(digits, {"image": pixels}, options))


def test_digits_as_png_in_json_bytes_are_explained_as_on_the_edge(http: httpx.Client, digits: Any) -> None:
    options = ExplainOptions(seed=1, max_evals=96, target=3)
    data = [base64.b64encode(png).decode() for png in _pngs()]
    served = _explained(_post(http, "digits-cnn", _json_body("image", "BYTES", [2], data, options.to_parameters())))
    assert all(item.target["index"] == 3 for item in served.items)
    assert served.items[0].grid is not None and served.items[0].view is not None
    _same_attributions(served, explain(digits, _pngs(), options))


def test_digits_as_binary_tensors_are_explained_as_on_the_edge(http: httpx.Client, digits: Any) -> None:
    pixels = _pixels()
    options = ExplainOptions(seed=2, max_evals=128, method="occlusion")
    body, headers = encode_request({"image": pixels}, binary=True, parameters=options.to_parameters())
    served = _explained(_post(http, "digits-cnn", body, headers))
    assert served.method == "occlusion"
    _same_attributions(served, explain(digits, {"image": pixels}, options))


@pytest.mark.parametrize("wire", ["json", "binary"])
def test_text_is_explained_word_by_word_as_on_the_edge(http: httpx.Client, tiny_text: Any, wire: str) -> None:
    options = ExplainOptions(seed=4, max_evals=64, compare="the mat")
    if wire == "json":
        body = _json_body("text", "BYTES", [len(TEXTS)], TEXTS, options.to_parameters())
        served = _explained(_post(http, "tiny-text", body))
    else:
        body, headers = _bytes_binary("text", [t.encode() for t in TEXTS], options.to_parameters())
        served = _explained(_post(http, "tiny-text", body, headers))
    assert served.items[0].unit_kind == "word" and "cat" in served.items[0].units
    assert served.items[0].target == {"kind": "similarity", "to": "compare"}
    _same_attributions(served, explain(tiny_text, TEXTS, options))


def test_a_gzip_body_is_explained_like_a_plain_one(http: httpx.Client) -> None:
    body = _json_body("text", "BYTES", [1], TEXTS[:1], {"seed": 7, "max_evals": 32})
    plain = _explained(_post(http, "tiny-text", body))
    zipped = _post(
        http, "tiny-text", gzip.compress(body), {"content-type": "application/json", "content-encoding": "gzip"}
    )
    np.testing.assert_array_equal(_explained(zipped).items[0].attributions, plain.items[0].attributions)


def test_an_option_left_out_is_lowered_to_the_servers_cap(http: httpx.Client) -> None:
    # The default max_items (16) is above this server's cap (3): a request that does not ask is not refused for it.
    body = _json_body("text", "BYTES", [1], TEXTS[:1], {"max_evals": 32})
    assert _explained(_post(http, "tiny-text", body)).items


# --- limits and bad input ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parameters", "names"),
    [
        ({"max_evals": 301}, ("max_evals", "300", "AIAAS_EXPLAIN_MAX_EVALS")),
        ({"max_calls": 7}, ("max_calls", "6", "AIAAS_EXPLAIN_MAX_CALLS")),
        ({"max_items": 4}, ("max_items", "3", "AIAAS_EXPLAIN_MAX_ITEMS")),
    ],
)
def test_an_ask_above_a_cap_is_a_400_naming_the_cap(
    http: httpx.Client, parameters: dict[str, Any], names: tuple[str, ...]
) -> None:
    message = _error(_post(http, "tiny-text", _json_body("text", "BYTES", [1], TEXTS[:1], parameters)), 400)
    assert all(name in message for name in names), message


def test_more_items_than_the_cap_is_a_400(http: httpx.Client) -> None:
    texts = ["the cat", "a mat", "the mat", "a cat"]
    message = _error(_post(http, "tiny-text", _json_body("text", "BYTES", [4], texts, {})), 400)
    assert "4 items" in message and "3" in message


def _digit_body(parameters: dict[str, Any]) -> bytes:
    pixels = _pixels()[:1]
    return _json_body("image", "FP32", [1, 1, 8, 8], pixels.reshape(-1).tolist(), parameters)


def _text_body(parameters: dict[str, Any]) -> bytes:
    return _json_body("text", "BYTES", [1], TEXTS[:1], parameters)


BAD = {
    "unknown parameter": ("tiny-text", _text_body({"budget": 5}), "budget"),
    "unknown method": ("tiny-text", _text_body({"method": "lime"}), "lime"),
    "rise on text": ("tiny-text", _text_body({"method": "rise"}), "rise"),
    "target out of range": ("digits-cnn", _digit_body({"target": 10}), "10"),
    "unknown label": ("digits-cnn", _digit_body({"target": "eleven"}), "eleven"),
    "compare on a classifier": ("digits-cnn", _digit_body({"compare": "the cat"}), "compare"),
    "max_evals below the minimum": ("tiny-text", _text_body({"max_evals": 2}), "max_evals"),
    "a bad value": ("tiny-text", _text_body({"seed": "x"}), "seed"),
    "parameters not an object": ("tiny-text", json.dumps({"inputs": [], "parameters": [1]}).encode(), "parameters"),
    "wrong datatype": ("digits-cnn", _json_body("image", "FP64", [1, 1, 8, 8], [0.0] * 64, {}), "FP32"),
    "wrong shape": ("digits-cnn", _json_body("image", "FP32", [1, 1, 8, 7], [0.0] * 56, {}), "image"),
    "not an image": ("digits-cnn", _json_body("image", "BYTES", [1], ["bm90IGEgcG5n"], {}), "image"),
    "malformed json": ("tiny-text", b'{"inputs": [', "JSON"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_explain_requests_are_400s_naming_the_problem(http: httpx.Client, case: str) -> None:
    model, body, named = BAD[case]
    assert named.lower() in _error(_post(http, model, body), 400).lower()


def test_a_model_with_no_declared_modality_is_a_400_naming_what_to_declare(http: httpx.Client) -> None:
    ids = {"name": "ids", "datatype": "INT64", "shape": [1, 3], "data": [1, 2, 3]}
    mask = {"name": "mask", "datatype": "FP32", "shape": [1, 3], "data": [1.0, 1.0, 1.0]}
    response = _post(http, "pair", json.dumps({"inputs": [ids, mask]}).encode())
    message = _error(response, 400)
    assert "processor" in message or "declare" in message, message


def test_a_wrong_content_type_is_a_415(http: httpx.Client) -> None:
    _error(_post(http, "tiny-text", _text_body({}), {"content-type": "text/plain"}), 415)


def test_an_explain_body_over_the_limit_is_a_413(http: httpx.Client) -> None:
    message = _error(_post(http, "tiny-text", b"{" + b" " * MAX_BODY + b"}"), 413)
    assert str(MAX_BODY) in message


def test_an_unknown_model_is_a_404_and_get_is_a_405(http: httpx.Client) -> None:
    _error(_post(http, "nope", _text_body({})), 404)
    response = http.get("/v2/models/tiny-text/explain")
    assert response.status_code == 405 and response.headers["allow"] == "POST"
