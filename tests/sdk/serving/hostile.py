"""Hypothesis strategies for hostile requests: paths, headers, JSON bodies and binary headers that declare what they
do not carry (huge or zero dimensions, BYTES counts past their data, sizes that lie), shared by the sdk serve and
Lambda property tests."""

from __future__ import annotations

import json
import struct
from typing import Any

from hypothesis import strategies as st

from sdk.protocol.datatypes import OIP_TO_NUMPY

METHODS = ["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE"]
KNOWN_PATHS = [
    "/v2/models/digits-cnn/infer",
    "/v2/models/pair/infer",
    "/v2/models/mymodel/infer",
    "/v2/models/digits-cnn/versions/1/infer",
    "/v2/models/digits-cnn",
    "/v2/models/digits-cnn/ready",
    "/invocations",
    "/ping",
    "/v2",
    "/v2/health/live",
]
INFER_PATHS = [p for p in KNOWN_PATHS if p.endswith(("/infer", "/invocations"))]
DATATYPES = [*OIP_TO_NUMPY, "BF16", "", "fp32", "BYTES"]
NAMES = ["image", "ids", "mask", "input0", "input1", ""]
HUGE = [0, 1, 2, 7, 64, 2**31, 2**32 + 1, 10**8, 2**62, 2**63 - 1, 2**64]

path_text = st.lists(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E) | st.sampled_from(["é", "%00", "%2F", "..", "//", "\x7f"]),
    max_size=30,
).map("".join)
paths = st.one_of(
    st.sampled_from(KNOWN_PATHS),
    st.builds(lambda p, s: p + s, st.sampled_from(KNOWN_PATHS), path_text),
    st.builds(lambda s: "/" + s, path_text),
    st.builds(lambda n: "/v2/models/" + "n" * n + "/infer", st.integers(1, 3000)),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=12,
)
shapes = st.one_of(
    st.lists(st.sampled_from(HUGE), min_size=1, max_size=4),
    st.lists(st.integers(-1, 9), max_size=5),
    st.sampled_from([[1, 1, 8, 8], [2, 3], [3], [1, 64], [0, 2**63 - 1]]),
    json_values,
)


@st.composite
def tensor_headers(draw: st.DrawFn, binary: bool) -> tuple[dict[str, Any], bytes]:
    """One input's JSON header, and the bytes it contributes to the binary part (empty when sent as JSON data)."""
    tensor: dict[str, Any] = {"name": draw(st.sampled_from(NAMES)), "datatype": draw(st.sampled_from(DATATYPES))}
    if draw(st.integers(0, 9)):
        tensor["shape"] = draw(shapes)
    blob = b""
    if binary:
        kind = draw(st.integers(0, 2))
        if kind == 0:  # BYTES elements: length prefixes that may claim more than follows
            count = draw(st.integers(0, 6))
            blob = b"".join(struct.pack("<I", draw(st.sampled_from([0, 1, 3, 2**31]))) + b"ab" for _ in range(count))
        elif kind == 1:
            blob = draw(st.binary(max_size=300))
        else:
            blob = bytes(draw(st.sampled_from([0, 4, 256, 1024])))
        size = draw(st.sampled_from([len(blob), len(blob) + 1, max(len(blob) - 1, 0), 2**40, -1, "4", None]))
        tensor["parameters"] = {"binary_data_size": size}
    else:
        tensor["data"] = draw(
            st.one_of(
                st.lists(st.floats(width=32, allow_nan=False) | st.integers(-300, 300) | st.booleans(), max_size=70),
                st.lists(st.text(max_size=3), max_size=10),
                json_values,
            )
        )
    return tensor, blob


@st.composite
def bodies(draw: st.DrawFn) -> tuple[bytes, dict[str, str]]:
    """An inference body and the headers that frame it: random bytes, random JSON, or a request (JSON or binary)."""
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return draw(st.binary(max_size=200)), {}
    if kind == 1:
        return json.dumps(draw(json_values)).encode(), {}
    if kind == 2:  # deep nesting
        depth = draw(st.sampled_from([10, 1000, 1100, 5000]))
        return b'{"inputs": ' + b"[" * depth + b"]" * depth + b"}", {}
    binary = kind >= 4
    inputs = [draw(tensor_headers(binary)) for _ in range(draw(st.integers(1, 3)))]
    document: dict[str, Any] = {"inputs": [tensor for tensor, _ in inputs]}
    if draw(st.booleans()):
        document["outputs"] = draw(st.lists(st.fixed_dictionaries({"name": st.sampled_from(["logits", "x"])})))
    if draw(st.booleans()):
        document["parameters"] = {"binary_data_output": draw(st.booleans() | st.integers(0, 2))}
    head = json.dumps(document).encode()
    blob = b"".join(part for _, part in inputs)
    if not binary:
        return head, {}
    length = draw(st.sampled_from([str(len(head)), str(len(head) + 1), "0", "²", "-3", " 12", "1e3"]))
    if draw(st.booleans()):
        return head + blob, {"inference-header-content-length": length}
    content_type = f"application/vnd.sagemaker-triton.binary+json;json-header-size={length}"
    return head + blob, {"content-type": content_type}


header_values = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=30)
headers = st.dictionaries(
    st.sampled_from(
        [
            "content-type",
            "content-encoding",
            "authorization",
            "x-request-id",
            "inference-header-content-length",
            "x-amzn-sagemaker-target-model",
            "x-amzn-sagemaker-custom-attributes",
            "accept",
            "x-other",
        ]
    ),
    st.one_of(
        header_values,
        st.sampled_from(["application/json", "gzip", "br", "deflate, gzip", "Bearer x", "model=digits-cnn", "abc\n"]),
    ),
    max_size=4,
)
