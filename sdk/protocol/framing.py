"""How an Open Inference Protocol message is framed: a JSON part, then (binary tensor extension) raw tensor bytes.

The ``Inference-Header-Content-Length`` header gives the length of the JSON part; the tensors whose
``parameters.binary_data_size`` is set follow it, in order, as raw little-endian bytes. A message without the header
is JSON only.

SageMaker's InvokeEndpoint passes no request or response header but its own, so there the length travels in the
content type instead, as Triton's SageMaker server does it:
``Content-Type: application/vnd.sagemaker-triton.binary+json;json-header-size=N`` (``sagemaker_framing``).
``split_message`` reads either form; ``join_message`` writes the first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sdk.errors import MalformedRequest
from sdk.protocol import jsonio

HEADER_LENGTH = "inference-header-content-length"
JSON_CONTENT_TYPE = "application/json"
BINARY_CONTENT_TYPE = "application/octet-stream"
SAGEMAKER_BINARY_CONTENT_TYPE = "application/vnd.sagemaker-triton.binary+json"
JSON_HEADER_SIZE = "json-header-size"


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by lowercase ``name`` from any mapping (httpx's is case-insensitive; a plain dict may not be)."""
    value = headers.get(name)
    if value is not None:
        return value
    for key, candidate in headers.items():
        if key.lower() == name:
            return candidate
    return None


def json_header_size(content_type: str | None) -> str | None:
    """The ``json-header-size`` parameter of a content type (Triton's SageMaker framing), or None."""
    if not content_type or JSON_HEADER_SIZE not in content_type.lower():
        return None
    for parameter in content_type.split(";")[1:]:
        key, _, value = parameter.partition("=")
        if key.strip().lower() == JSON_HEADER_SIZE:
            return value.strip().strip('"')
    return None


def sagemaker_framing(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers of an encoded message, moved to SageMaker's framing: a binary message's JSON length goes into the
    content type (``...binary+json;json-header-size=N``) and no Inference-Header-Content-Length is sent, because
    SageMaker drops that header in both directions. A JSON message keeps ``application/json``."""
    out = {k: v for k, v in headers.items() if k.lower() != HEADER_LENGTH}
    length = header(headers, HEADER_LENGTH)
    if length is not None:
        for key in [k for k in out if k.lower() == "content-type"]:
            del out[key]
        out["content-type"] = f"{SAGEMAKER_BINARY_CONTENT_TYPE};{JSON_HEADER_SIZE}={length}"
    return out


def split_message(
    body: bytes | bytearray | memoryview, headers: Mapping[str, str], *, what: str
) -> tuple[Any, memoryview | None]:
    """(parsed JSON part, binary part or None) of a message, honouring Inference-Header-Content-Length or, in
    SageMaker's framing, the content type's json-header-size."""
    view = memoryview(body)
    if not len(view):
        raise MalformedRequest(f"{what} body is empty; expected an inference {what} JSON object")
    declared = header(headers, HEADER_LENGTH)
    in_type = json_header_size(header(headers, "content-type"))
    binary: memoryview | None = None
    if declared is not None and in_type is not None and declared.strip() != in_type:
        raise MalformedRequest(
            f"Inference-Header-Content-Length ({declared}) and the Content-Type's {JSON_HEADER_SIZE} ({in_type}) "
            "disagree; send one"
        )
    source = "Inference-Header-Content-Length" if declared is not None else f"the Content-Type's {JSON_HEADER_SIZE}"
    declared = declared if declared is not None else in_type
    if declared is not None:
        length = _header_length(declared, len(view), source)
        view, binary = view[:length], view[length:]
    try:
        return jsonio.loads(view), binary
    except UnicodeDecodeError as exc:
        hint = (
            ""
            if declared is not None
            else f" (binary data needs the Inference-Header-Content-Length header, or {JSON_HEADER_SIZE}=N in the "
            "Content-Type)"
        )
        raise MalformedRequest(f"{what} body is not UTF-8 JSON: {exc.reason} at byte {exc.start}{hint}") from None
    except ValueError as exc:
        raise MalformedRequest(f"{what} body is not valid JSON: {exc}") from None


def _header_length(value: str, available: int, source: str) -> int:
    text = value.strip()
    if not (text.isascii() and text.isdigit()):  # str.isdigit alone takes '²', which int() refuses
        raise MalformedRequest(f"{source} must be a byte count, got {value!r}")
    length = int(text)
    if length == 0:
        raise MalformedRequest(f"{source} is 0; the JSON part must come first")
    if length > available:
        raise MalformedRequest(f"{source} is {length} but the body has only {available} bytes")
    return length


def join_message(document: dict[str, Any], blobs: list[bytes]) -> tuple[bytes, dict[str, str]]:
    """A message's body and headers: the JSON ``document``, then the binary parts ``blobs`` in order, if any."""
    head = jsonio.dumps(document)
    if not blobs:
        return head, {"content-type": JSON_CONTENT_TYPE}
    headers = {"content-type": BINARY_CONTENT_TYPE, HEADER_LENGTH: str(len(head))}
    return b"".join([head, *blobs]), headers
