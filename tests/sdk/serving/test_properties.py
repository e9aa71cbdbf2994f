"""Property: whatever body, headers and path arrive, the service answers with a 2xx/4xx JSON body: never a 500, never
an exception. Checked in-process (many cases) and against the real server (fewer, over HTTP)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sdk.protocol.datatypes import OIP_TO_NUMPY
from sdk.serving.service import Service

PATHS = [
    "/v2/models/digits-cnn/infer",
    "/v2/models/pair/infer",
    "/v2/models/mymodel/infer",
    "/v2/models/digits-cnn/versions/1/infer",
    "/invocations",
]
DATATYPES = [*OIP_TO_NUMPY, "BF16", "FP8", "", "fp32"]
NAMES = ["image", "ids", "mask", "input0", "input1", "x", ""]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)
shapes = st.one_of(
    st.lists(st.integers(min_value=-2, max_value=10), max_size=5),
    st.lists(st.integers(min_value=0, max_value=2**40), max_size=3),
    json_values,
)


@st.composite
def tensors(draw: st.DrawFn) -> dict[str, Any]:
    tensor: dict[str, Any] = {}
    if draw(st.booleans()):
        tensor["name"] = draw(st.sampled_from(NAMES))
    if draw(st.booleans()):
        tensor["datatype"] = draw(st.sampled_from(DATATYPES))
    if draw(st.booleans()):
        tensor["shape"] = draw(shapes)
    choice = draw(st.integers(0, 3))
    if choice == 0:
        tensor["data"] = draw(
            st.lists(st.floats(allow_nan=False, width=32) | st.integers(-300, 300) | st.booleans(), max_size=80)
        )
    elif choice == 1:
        tensor["data"] = draw(json_values)
    elif choice == 2:
        tensor["parameters"] = {"binary_data_size": draw(st.integers(-5, 600) | json_values)}
    return tensor


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, dict[str, str], bytes]:
    path = draw(st.sampled_from(PATHS))
    kind = draw(st.integers(0, 3))
    headers: dict[str, str] = {}
    if kind == 0:
        body = draw(st.binary(max_size=300))
    elif kind == 1:
        body = json.dumps(draw(json_values)).encode()
    else:
        document: dict[str, Any] = {"inputs": draw(st.lists(tensors(), max_size=3))}
        if draw(st.booleans()):
            document["outputs"] = draw(
                st.lists(st.fixed_dictionaries({"name": st.sampled_from(["logits", "score", "nope"])}), max_size=2)
            )
        if draw(st.booleans()):
            document["parameters"] = draw(
                st.dictionaries(st.sampled_from(["binary_data_output", "x"]), json_values, max_size=2)
            )
        body = json.dumps(document).encode()
        if kind == 3:
            blob = draw(st.binary(max_size=600))
            headers["inference-header-content-length"] = str(draw(st.sampled_from([len(body), len(body) - 1, 0])))
            body += blob
    if draw(st.booleans()):
        headers["inference-header-content-length"] = draw(st.sampled_from(["", "-1", "abc", "5", str(len(body) + 1)]))
    if draw(st.booleans()):
        headers["content-type"] = draw(
            st.sampled_from(["application/json", "application/octet-stream", "text/plain", ""])
        )
    return path, headers, body


def _check(status: int, body: bytes) -> None:
    assert status in (200, 400, 404, 413, 415), (status, body[:300])
    document = json.loads(body) if status != 200 or body.startswith(b"{") else None
    if status != 200:
        assert isinstance(document, dict) and isinstance(document["error"], str) and document["error"]


@settings(
    max_examples=400,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(requests())
def test_random_bodies_never_cause_a_500_in_process(service: Service, case: tuple[str, dict[str, str], bytes]) -> None:
    path, headers, body = case
    response = service.handle("POST", path, headers, body)
    _check(response.status, response.body)


@pytest.mark.integration
@settings(
    max_examples=80,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(requests())
def test_random_bodies_never_cause_a_500_over_http(http: httpx.Client, case: tuple[str, dict[str, str], bytes]) -> None:
    path, headers, body = case
    response = http.post(path, content=body, headers=headers)
    _check(response.status_code, response.content)
    assert http.get("/v2/health/live").status_code == 200
