"""The delta (#18 item 2): an adapted artifact ships as its head and manifest when the store or the device has its base.

Bytes are counted on the wire of a real boto3 client talking to the moto server (botocore's send and receive hooks):
what a PUT or UploadPart sends, what a GetObject answers. The base is a copy of the built-in digits CNN under another
name, so the built-in models cannot stand in for it.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest

import sdk
from sdk.adaptation import adapt
from sdk.artifacts import LocalStore, read_manifest
from sdk.artifacts.s3 import S3Store
from sdk.deploy import pull
from sdk.errors import IntegrityError, ModelNotFound
from tests.functions.conftest import FakeLambdaContext, event
from tests.sdk.deploy.conftest import BUCKET, STORE_URI, Cloud, step

pytestmark = pytest.mark.integration

BASE, ADAPTED = "digits-base", "digits-upper"


class Traffic:
    """Body bytes a client sent (PutObject, UploadPart) and received (GetObject), per object key."""

    def __init__(self, client: Any) -> None:
        self.sent: Counter[str] = Counter()
        self.received: Counter[str] = Counter()
        client.meta.events.register("before-send.s3.PutObject", self._send)
        client.meta.events.register("before-send.s3.UploadPart", self._send)
        client.meta.events.register("after-call.s3.GetObject", self._receive)

    def objects(self, counts: Counter[str]) -> dict[str, int]:
        """The artifact objects' share of ``counts`` (alias records, ~200 bytes each, left out)."""
        return {key: n for key, n in counts.items() if "/aliases/" not in key}

    def reset(self) -> None:
        self.sent.clear()
        self.received.clear()

    def _send(self, request: Any, **_: Any) -> None:
        size = request.headers.get("x-amz-decoded-content-length") or request.headers.get("Content-Length") or 0
        self.sent[_key(request.url)] += int(size)

    def _receive(self, http_response: Any, **_: Any) -> None:
        self.received[_key(http_response.url)] += int(http_response.headers.get("content-length", 0))


def _key(url: str) -> str:
    """``models/...`` of a path-style (moto) object URL."""
    return unquote(urlsplit(url).path).removeprefix(f"/{BUCKET}/")


def _local() -> LocalStore:
    return LocalStore(os.environ["AIAAS_STORE"])  # the test's own empty store


@pytest.fixture
def delta(cloud: Cloud, make_artifact: Callable[..., Path], digits_split, tmp_path: Path) -> dict[str, Path]:
    """The base artifact folder and, adapted from it to digits 5-9 with five examples each, the adapted one."""
    base = make_artifact("1", name=BASE)
    rng = np.random.default_rng(1)
    chosen = np.concatenate([rng.permutation(np.flatnonzero(digits_split.y_train == c))[:5] for c in range(5, 10)])
    data = tmp_path / "five-to-nine.npz"
    np.savez(data, x=digits_split.x_train[chosen].reshape(len(chosen), -1), y=digits_split.y_train[chosen])
    adapted = adapt(base, data, tmp_path / "adapted", name=ADAPTED, seed=1).path
    return {"base": base, "adapted": adapted, "data": data}


def _answer(folder: Path, digit: np.ndarray) -> str:
    """The label the artifact in ``folder``, loaded with sdk.load (every file verified), gives ``digit``."""
    model = sdk.load(folder)
    try:
        return (model.manifest.labels or ())[int(model({"image": digit})["probabilities"].argmax())]
    finally:
        model.close()


def _sizes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in folder.iterdir() if p.is_file()}


def test_adapted_deploy_sends_only_head_and_manifest_when_the_base_is_stored(cloud: Cloud, delta) -> None:
    traffic = Traffic(cloud.s3)
    assert cloud.deployer().deploy(delta["base"]).ok
    base_bytes = sum(traffic.sent.values())
    assert traffic.sent[f"models/{BASE}/1/model.onnx"] == _sizes(delta["base"])["model.onnx"]
    traffic.reset()
    report = cloud.deployer().deploy(delta["adapted"])
    assert report.ok, report.summary()
    sizes = _sizes(delta["adapted"])
    expected = {
        f"models/{ADAPTED}/1/head.onnx": sizes["head.onnx"],
        f"models/{ADAPTED}/1/manifest.json": sizes["manifest.json"],
    }
    assert traffic.objects(traffic.sent) == expected
    share = sum(traffic.sent.values()) / base_bytes  # the alias record included
    print(f"\ndelta deploy: {sum(traffic.sent.values())} bytes sent, the base's deploy {base_bytes} ({share:.1%})")
    assert share <= 0.05
    assert "1 in the base's folder, not sent" in step(report, "upload").detail
    assert cloud.keys(f"models/{ADAPTED}/1/") == sorted(expected)  # model.onnx stays in the base's folder only
    # Deploying it again sends nothing; the stored version verifies (rollback's check) with the file in the base.
    traffic.reset()
    assert cloud.deployer().deploy(delta["adapted"]).ok and sum(traffic.sent.values()) == 0


def test_pull_onto_a_store_with_the_base_downloads_only_head_and_manifest(cloud: Cloud, delta, digit_7) -> None:
    assert cloud.deployer().deploy(delta["base"]).ok and cloud.deployer().deploy(delta["adapted"]).ok
    source, local = S3Store(STORE_URI, client=cloud.s3), _local()
    traffic = Traffic(cloud.s3)
    base = pull(f"{BASE}@1", source=source, local=local)
    base_bytes = traffic.received[f"models/{BASE}/1/model.onnx"]
    assert base_bytes == _sizes(delta["base"])["model.onnx"]
    traffic.reset()
    result = pull(ADAPTED, source=source, local=local)
    sizes = _sizes(delta["adapted"])
    assert traffic.objects(traffic.received) == {
        f"models/{ADAPTED}/1/head.onnx": sizes["head.onnx"],
        f"models/{ADAPTED}/1/manifest.json": sizes["manifest.json"],
    }
    moved = sum(traffic.received.values())  # with the alias record a bare name resolves through
    print(f"\ndelta pull: {moved} bytes received, base {base_bytes} ({moved / base_bytes:.1%})")
    assert moved <= 0.05 * base_bytes
    assert result.bytes == sizes["head.onnx"] and "already here (same sha256) not downloaded again" in result.detail
    assert os.path.samefile(result.path / "model.onnx", base.path / "model.onnx")  # linked, not copied
    assert _answer(result.path, digit_7) == "7"


def test_pull_onto_an_empty_store_fetches_the_reused_file_from_the_base_folder(cloud: Cloud, delta, digit_7) -> None:
    assert cloud.deployer().deploy(delta["base"]).ok and cloud.deployer().deploy(delta["adapted"]).ok
    traffic = Traffic(cloud.s3)
    result = pull(f"{ADAPTED}@1", source=S3Store(STORE_URI, client=cloud.s3), local=_local())
    assert traffic.received[f"models/{BASE}/1/model.onnx"] == _sizes(delta["base"])["model.onnx"]
    assert sorted(p.name for p in result.path.iterdir()) == ["head.onnx", "manifest.json", "model.onnx"]
    assert _answer(result.path, digit_7) == "7"


def test_a_changed_local_base_file_is_not_linked_but_downloaded(cloud: Cloud, delta) -> None:
    assert cloud.deployer().deploy(delta["base"]).ok and cloud.deployer().deploy(delta["adapted"]).ok
    source, local = S3Store(STORE_URI, client=cloud.s3), _local()
    base = pull(f"{BASE}@1", source=source, local=local)
    damaged = bytearray((base.path / "model.onnx").read_bytes())
    damaged[-1] ^= 0xFF
    (base.path / "model.onnx").write_bytes(bytes(damaged))
    traffic = Traffic(cloud.s3)
    result = pull(ADAPTED, source=source, local=local)
    assert traffic.received[f"models/{BASE}/1/model.onnx"] == len(damaged)
    assert not os.path.samefile(result.path / "model.onnx", base.path / "model.onnx")
    sdk.load(result.path).close()  # verified on load


def test_a_tampered_base_blob_is_refused_and_nothing_becomes_visible(cloud: Cloud, delta) -> None:
    assert cloud.deployer().deploy(delta["base"]).ok and cloud.deployer().deploy(delta["adapted"]).ok
    key = f"models/{BASE}/1/model.onnx"
    data = bytearray(cloud.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    data[100] ^= 0xFF  # same size, other bytes
    cloud.s3.put_object(Bucket=BUCKET, Key=key, Body=bytes(data))
    local = _local()
    with pytest.raises(IntegrityError, match="model.onnx failed its sha256 check") as caught:
        pull(ADAPTED, source=S3Store(STORE_URI, client=cloud.s3), local=local)
    assert caught.value.file == "model.onnx"
    _assert_nothing_visible(local)


def test_a_missing_base_blob_is_a_clear_error_and_nothing_becomes_visible(cloud: Cloud, delta) -> None:
    assert cloud.deployer().deploy(delta["base"]).ok and cloud.deployer().deploy(delta["adapted"]).ok
    cloud.s3.delete_object(Bucket=BUCKET, Key=f"models/{BASE}/1/model.onnx")
    local = _local()
    with pytest.raises(IntegrityError, match="model.onnx is missing from the store") as caught:
        pull(ADAPTED, source=S3Store(STORE_URI, client=cloud.s3), local=local)
    assert f"s3://{BUCKET}/models/{BASE}/1/model.onnx nor s3://{BUCKET}/models/{ADAPTED}/1/model.onnx" in str(
        caught.value
    )
    assert caught.value.file == "model.onnx" and "its base first" in (caught.value.hint or "")
    _assert_nothing_visible(local)


def _assert_nothing_visible(local: LocalStore) -> None:
    assert local.versions(ADAPTED) == []
    assert [p for p in (local.root / ADAPTED).rglob("*") if p.is_file()] == []
    with pytest.raises(ModelNotFound):
        local.resolve(ADAPTED)


def test_an_adapted_version_stored_whole_still_pulls_and_takes_the_local_base(cloud: Cloud, delta, digit_7) -> None:
    """The layout every artifact had before deltas (all files in the version's own folder) is read as before, and a
    device that holds the base still downloads only what it lacks."""
    traffic = Traffic(cloud.s3)
    assert cloud.deployer().deploy(delta["adapted"]).ok  # the base is not in the store: shipped whole
    assert traffic.sent[f"models/{ADAPTED}/1/model.onnx"] == _sizes(delta["adapted"])["model.onnx"]
    source, local = S3Store(STORE_URI, client=cloud.s3), _local()
    whole = pull(ADAPTED, source=source, local=LocalStore(local.root.parent / f"{local.root.name}-other"))
    assert traffic.received[f"models/{ADAPTED}/1/model.onnx"] == _sizes(delta["adapted"])["model.onnx"]
    assert _answer(whole.path, digit_7) == "7"
    assert cloud.deployer().deploy(delta["base"]).ok
    base = pull(f"{BASE}@1", source=source, local=local)
    traffic.reset()
    result = pull(ADAPTED, source=source, local=local)
    assert not any(key.endswith("model.onnx") for key in traffic.received)
    assert os.path.samefile(result.path / "model.onnx", base.path / "model.onnx")


def test_rollback_verifies_an_adapted_version_whose_file_is_in_the_base(cloud: Cloud, delta, tmp_path: Path) -> None:
    assert cloud.deployer().deploy(delta["base"]).ok
    assert cloud.deployer().deploy(delta["adapted"]).ok
    second = adapt(delta["base"], delta["data"], tmp_path / "adapted-2", name=ADAPTED, version="2", seed=2).path
    assert cloud.deployer().deploy(second).ok
    assert cloud.keys(f"models/{ADAPTED}/2/") == [f"models/{ADAPTED}/2/{f}" for f in ("head.onnx", "manifest.json")]
    report = cloud.deployer().rollback(ADAPTED)
    assert report.ok, report.summary()
    assert cloud.alias_object(ADAPTED)["version"] == "1"


def _load_handler(monkeypatch: pytest.MonkeyPatch, model_uri: str, cache: Path) -> ModuleType:
    """functions.aws_lambda.handler imported afresh (a cold start) with MODEL_URI and the cache folder set."""
    from aws_lambda_powertools.metrics.provider import cold_start

    monkeypatch.setenv("MODEL_URI", model_uri)
    monkeypatch.setenv("AIAAS_CACHE_DIR", str(cache))
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "aiaas-test")
    monkeypatch.delitem(sys.modules, "functions.aws_lambda.handler", raising=False)
    cold_start.reset_cold_start_flag()
    return importlib.import_module("functions.aws_lambda.handler")


def _infer(module: ModuleType, model: str, labels: tuple[str, ...]) -> str:
    """The label the handler answers for the event file's digit 7, asked of ``model``."""
    request = event("function_url_infer_json.json")
    request["rawPath"] = f"/v2/models/{model}/infer"
    request["requestContext"]["http"]["path"] = request["rawPath"]
    response = module.handler(request, FakeLambdaContext())
    assert response["statusCode"] == 200, response["body"]
    outputs = json.loads(response["body"])["outputs"]
    probabilities = next(o for o in outputs if o["name"] == "probabilities")["data"]
    return labels[int(np.argmax(probabilities))]


def test_lambda_model_uri_of_a_delta_version_loads_it_from_the_base_folder(
    cloud: Cloud, delta, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cloud.deployer().deploy(delta["base"]).ok and cloud.deployer().deploy(delta["adapted"]).ok
    monkeypatch.setenv("AWS_ENDPOINT_URL", cloud.url)
    assert not any(key.endswith("model.onnx") for key in cloud.keys(f"models/{ADAPTED}/"))  # stored as a delta
    uri = cloud.model_uri("live")  # what the deploy pinned on the function version
    assert uri == f"{STORE_URI}{ADAPTED}/1/"
    cache = tmp_path / "lambda-cache"
    module = _load_handler(monkeypatch, uri, cache)
    try:
        assert _infer(module, ADAPTED, read_manifest(delta["adapted"]).labels or ()) == "7"
    finally:
        sys.modules.pop("functions.aws_lambda.handler", None)
    cached = cache / BUCKET / "models" / ADAPTED / "1"
    assert sorted(p.name for p in cached.iterdir()) == ["head.onnx", "manifest.json", "model.onnx"]


def test_pull_of_a_model_adapted_from_a_built_in_one_takes_the_built_in_base(
    cloud: Cloud, delta, tmp_path: Path, digit_7: np.ndarray
) -> None:
    adapted = adapt("digits-cnn", delta["data"], tmp_path / "from-built-in", name=ADAPTED, seed=1).path
    assert cloud.deployer().deploy(adapted).ok  # digits-cnn is not in the bucket: shipped whole
    traffic = Traffic(cloud.s3)
    result = pull(ADAPTED, source=S3Store(STORE_URI, client=cloud.s3), local=_local())
    assert set(traffic.objects(traffic.received)) == {f"models/{ADAPTED}/1/{f}" for f in ("head.onnx", "manifest.json")}
    assert _answer(result.path, digit_7) == "7"
