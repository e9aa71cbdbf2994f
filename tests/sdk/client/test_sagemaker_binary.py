"""The client's `sagemaker` endpoint kind with tensors past its 64 KiB switch to binary: SageMaker's InvokeEndpoint
drops Inference-Header-Content-Length both ways, so the client sends the JSON length in the content type and reads
the answer's from there (Triton's SageMaker convention). The endpoint is a real `sdk serve` behind a loopback
stand-in for InvokeEndpoint's header filtering."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from sdk import Client
from sdk.artifacts import builtin_store
from sdk.client import Route
from sdk.client.cloud import CloudRoute
from sdk.client.config import ClientConfig
from tests.sdk.serving.conftest import RunningServer
from tests.sdk.serving.sagemaker_front import SageMakerFront

pytestmark = pytest.mark.integration

SAGEMAKER_BINARY = "application/vnd.sagemaker-triton.binary+json;json-header-size="


@pytest.fixture
def front(cloud: RunningServer) -> Iterator[SageMakerFront]:
    proxy = SageMakerFront(cloud.url)
    yield proxy
    proxy.close()


def _route(front: SageMakerFront) -> CloudRoute:
    return CloudRoute(ClientConfig(endpoint=front.url, endpoint_kind="sagemaker", auth="none", persist_latency=False))


def test_large_tensors_go_binary_with_the_json_length_in_the_content_type(front: SageMakerFront, digits_split) -> None:
    x = np.ascontiguousarray(digits_split.x_test[:300])
    assert x.nbytes >= ClientConfig(persist_latency=False).binary_threshold_bytes  # the default switch to binary
    route = _route(front)
    try:
        outputs, _ = route.infer("digits-cnn", {"image": x}, timeout_s=60)
    finally:
        route.close()
    assert front.seen["content-type"].startswith(SAGEMAKER_BINARY)
    assert "inference-header-content-length" not in front.seen
    predicted = outputs["probabilities"].argmax(-1)
    assert predicted.shape == (300,) and np.mean(predicted == digits_split.y_test[:300]) > 0.95  # the CNN's ~98%


def test_small_tensors_stay_json_through_sagemaker(front: SageMakerFront, digit_7: np.ndarray) -> None:
    route = _route(front)
    try:
        outputs, _ = route.infer("digits-cnn", {"image": digit_7.astype(np.float32)}, timeout_s=30)
    finally:
        route.close()
    assert front.seen["content-type"] == "application/json"
    assert int(outputs["probabilities"].argmax()) == 7


def test_client_predict_through_sagemaker_matches_the_device(front: SageMakerFront, digits_split) -> None:
    x = np.ascontiguousarray(digits_split.x_test[:400])
    with Client(
        front.url, endpoint_kind="sagemaker", auth="none", store=builtin_store(), persist_latency=False
    ) as client:
        cloud = client.predict("digits-cnn", {"image": x}, mode="cloud_only")
        local = client.predict("digits-cnn", {"image": x}, mode="local_only")
    assert cloud.route is Route.CLOUD and front.seen["content-type"].startswith(SAGEMAKER_BINARY)
    np.testing.assert_allclose(cloud["probabilities"], local["probabilities"], atol=1e-5)
