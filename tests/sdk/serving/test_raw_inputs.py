"""Raw inputs through a real `sdk serve`: text and PNG images as OIP BYTES (JSON and Triton's binary layout), processed
by the artifact's processors inside the server and answered with the processed outputs; bad raw input is a 400."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from sdk import load
from sdk.protocol.codec import decode_response, encode_request
from sdk.serving.batcher import Batcher
from tests.sdk.runtime.text_artifact import write_text_artifact
from tests.sdk.serving.conftest import RunningServer, start_server

pytest.importorskip("tokenizers")
pytest.importorskip("PIL")

SAMPLES = Path(__file__).parents[3] / "models" / "digits_cnn" / "samples"
DIGITS = (0, 3, 7, 9)
TEXTS = ["the cat sat", "a cat sat on the mat", "the"]


def _pngs() -> list[bytes]:
    return [(SAMPLES / f"digit_{d}.png").read_bytes() for d in DIGITS]


@pytest.fixture(scope="module")
def text_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("raw-store")
    write_text_artifact(root / "tiny-text" / "1", max_length=6)
    return root


@pytest.fixture(scope="module")
def raw_server(text_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_server(text_root, tmp_path_factory.mktemp("raw-logs"), "--max-queue-delay-ms", "0")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def http(raw_server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=raw_server.url, timeout=30) as client:
        yield client


def _triton_binary(name: str, items: list[bytes], *, binary_output: bool = False) -> tuple[bytes, dict[str, str]]:
    """A binary BYTES request built by hand in Triton's layout: each element a 4-byte little-endian length, then its
    bytes, after the JSON header whose length Inference-Header-Content-Length gives."""
    blob = b"".join(struct.pack("<I", len(item)) + item for item in items)
    header: dict[str, object] = {
        "inputs": [
            {"name": name, "datatype": "BYTES", "shape": [len(items)], "parameters": {"binary_data_size": len(blob)}}
        ]
    }
    if binary_output:
        header["parameters"] = {"binary_data_output": True}
    head = json.dumps(header).encode()
    headers = {"content-type": "application/octet-stream", "inference-header-content-length": str(len(head))}
    return head + blob, headers


def _infer(http: httpx.Client, model: str, body: bytes, headers: dict[str, str]) -> tuple[dict[str, np.ndarray], dict]:
    response = http.post(f"/v2/models/{model}/infer", content=body, headers=headers)
    assert response.status_code == 200, response.text
    return decode_response(response.content, response.headers)


def test_text_as_json_bytes_is_tokenized_by_the_server_and_answers_the_embedding(
    http: httpx.Client, text_root: Path
) -> None:
    body = json.dumps({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [3], "data": TEXTS}]}).encode()
    outputs, meta = _infer(http, "tiny-text", body, {"content-type": "application/json"})
    expected = load(text_root / "tiny-text" / "1")(TEXTS)
    np.testing.assert_array_equal(outputs["embedding"], expected["embedding"])
    assert meta["parameters"]["processed"] is True


def test_text_as_triton_binary_bytes_reports_truncation(http: httpx.Client) -> None:
    long = "the cat sat on the mat the cat sat"  # 9 words + 2 special tokens, over max_length 6
    body, headers = _triton_binary("text", [t.encode() for t in [*TEXTS, long]])
    outputs, meta = _infer(http, "tiny-text", body, headers)
    assert outputs["embedding"].shape == (4, 2)
    assert outputs["embedding"][3, 1] == 6  # tokens fed: cut to max_length
    assert meta["parameters"]["truncated"] == [False, True, False, True]  # TEXTS[1] is 8 tokens too
    assert any(note.startswith("text 3:") for note in meta["parameters"]["notes"])


def test_png_as_binary_bytes_answers_labels_as_bytes(http: httpx.Client) -> None:
    body, headers = _triton_binary("image", _pngs(), binary_output=True)
    outputs, _ = _infer(http, "digits-cnn", body, headers)
    assert outputs["label"].dtype == object
    assert [row[0] for row in outputs["label"]] == [str(d).encode() for d in DIGITS]
    assert outputs["score"].dtype == np.float32 and outputs["score"][:, 0].min() > 0.5
    tensors, meta = _infer(
        http, "digits-cnn", *encode_request({"image": np.zeros((1, 1, 8, 8), np.float32)}, binary=True)
    )
    assert set(tensors) == {"logits", "probabilities"} and "processed" not in meta["parameters"]  # as before


def test_png_as_base64_in_json_answers_labels(http: httpx.Client) -> None:
    data = [base64.b64encode(p).decode() for p in _pngs()]
    body = json.dumps({"inputs": [{"name": "image", "datatype": "BYTES", "shape": [4], "data": data}]}).encode()
    response = http.post("/v2/models/digits-cnn/infer", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text
    label = next(o for o in response.json()["outputs"] if o["name"] == "label")
    assert label["datatype"] == "BYTES"
    assert label["data"][:: label["shape"][1]] == [str(d) for d in DIGITS]


def test_the_sdk_codec_sends_text_that_the_server_processes(http: httpx.Client) -> None:
    array = np.array([t.encode() for t in TEXTS], dtype=object)
    body, headers = encode_request({"text": array}, binary=True)
    outputs, _ = _infer(http, "tiny-text", body, headers)
    assert outputs["embedding"].shape == (3, 2)


def test_model_metadata_advertises_the_raw_input(http: httpx.Client) -> None:
    text = http.get("/v2/models/tiny-text").json()["parameters"]["raw_input"]
    image = http.get("/v2/models/digits-cnn").json()["parameters"]["raw_input"]
    assert (text["name"], text["datatype"], text["outputs"]) == ("text", "BYTES", ["embedding"])
    assert (image["name"], image["datatype"], image["outputs"]) == ("image", "BYTES", ["label", "score"])


@pytest.mark.parametrize(
    ("model", "items", "expected"),
    [
        ("tiny-text", [b"the cat", b"\xff\xfe"], "text 1 is not valid UTF-8"),
        ("tiny-text", [b"the cat", b"   "], "text 1 is empty"),
        ("digits-cnn", [b"not an image"], "image 0 is not a PNG or JPEG image"),
    ],
)
def test_bad_raw_input_is_a_400_naming_it(http: httpx.Client, model: str, items: list[bytes], expected: str) -> None:
    body, headers = _triton_binary("text" if model == "tiny-text" else "image", items)
    response = http.post(f"/v2/models/{model}/infer", content=body, headers=headers)
    assert response.status_code == 400
    assert expected in response.json()["error"]
    assert response.json()["code"] == "invalid_input"


def test_image_json_that_is_not_base64_is_a_400(http: httpx.Client) -> None:
    body = json.dumps({"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1], "data": ["%%%"]}]}).encode()
    response = http.post("/v2/models/digits-cnn/infer", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400 and "must be base64" in response.json()["error"]


def test_raw_input_beside_a_tensor_is_a_400(http: httpx.Client) -> None:
    document = {
        "inputs": [
            {"name": "image", "datatype": "BYTES", "shape": [1], "data": ["AAAA"]},
            {"name": "extra", "datatype": "FP32", "shape": [1], "data": [1.0]},
        ]
    }
    response = http.post("/v2/models/digits-cnn/infer", json=document)
    assert response.status_code == 400 and "send it as the only input" in response.json()["error"]


def test_merged_raw_requests_are_tokenized_once_per_batch(text_root: Path) -> None:
    model = load(text_root / "tiny-text" / "1")
    assert model.processors is not None
    calls: list[int] = []
    encode = model.processors.encode

    def counting(raw: object) -> object:
        calls.append(len(raw))  # type: ignore[arg-type]
        return encode(raw)

    model.processors.encode = counting  # type: ignore[method-assign]

    async def main() -> list[object]:
        batcher = Batcher(max_batch_size=32, max_queue_delay_ms=200)
        try:
            return await asyncio.gather(*(batcher.submit_raw(model, [t.encode()]) for t in TEXTS))
        finally:
            await batcher.close()

    answers = asyncio.run(main())
    assert calls == [len(TEXTS)]  # one encode for the merged batch, not one per request
    single = model(TEXTS)["embedding"]
    for i, answer in enumerate(answers):
        np.testing.assert_array_equal(answer["embedding"], single[i : i + 1])  # type: ignore[index]


def test_one_bad_text_in_a_merged_batch_fails_its_own_request_only(text_root: Path) -> None:
    model = load(text_root / "tiny-text" / "1")

    async def main() -> list[object]:
        batcher = Batcher(max_batch_size=32, max_queue_delay_ms=200)
        try:
            items = [[b"the cat"], [b"\xff"], [b"a mat"]]
            return await asyncio.gather(*(batcher.submit_raw(model, i) for i in items), return_exceptions=True)
        finally:
            await batcher.close()

    good, bad, other = asyncio.run(main())
    assert "not valid UTF-8" in str(bad)
    assert good["embedding"].shape == (1, 2) and other["embedding"].shape == (1, 2)  # type: ignore[index]


def test_a_tritonclient_string_request_gets_embeddings(raw_server: RunningServer, text_root: Path) -> None:
    triton = pytest.importorskip("tritonclient.http")
    client = triton.InferenceServerClient(url=raw_server.url.removeprefix("http://"))
    try:
        for binary in (True, False):
            text = triton.InferInput("text", [len(TEXTS)], "BYTES")
            text.set_data_from_numpy(np.array([t.encode() for t in TEXTS], dtype=object), binary_data=binary)
            wanted = [triton.InferRequestedOutput("embedding", binary_data=binary)]
            result = client.infer("tiny-text", [text], outputs=wanted)
            expected = load(text_root / "tiny-text" / "1")(TEXTS)["embedding"]
            np.testing.assert_array_equal(result.as_numpy("embedding"), expected)
    finally:
        client.close()
