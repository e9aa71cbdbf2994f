"""Open Inference Protocol (KServe v2) messages: inference requests and responses, JSON and binary.
Hand-written on purpose: tritonclient is client-only, KServe's and MLServer's codecs come with their FastAPI servers.

Pure functions shared by the server side (``decode_request`` / ``encode_response``) and any client
(``encode_request`` / ``decode_response``)::

    body, headers = encode_request({"image": x}, binary=True)        # client
    request = decode_request(body, headers)                           # server
    body, headers = encode_response(outputs, model_name="digits-cnn", model_version="1", request=request)
    outputs, meta = decode_response(body, headers)                    # client

The binary tensor extension: the ``Inference-Header-Content-Length`` header gives the length of the JSON part; the
tensors whose ``parameters.binary_data_size`` is set follow it, in order, as raw little-endian bytes. A response
carries an output in binary when the request asked for it (``outputs[i].parameters.binary_data``) or for all outputs
(``parameters.binary_data_output``).

SageMaker's InvokeEndpoint passes no request or response header but its own, so there the length travels in the
content type instead, as Triton's SageMaker server does it:
``Content-Type: application/vnd.sagemaker-triton.binary+json;json-header-size=N`` (``sagemaker_framing``). Both
decoders read either form.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sdk.errors import AiaasError, MalformedRequest, PayloadTooLarge, error_for_status
from sdk.serving import jsonio
from sdk.serving.datatypes import numpy_dtype, oip_datatype
from sdk.serving.tensors import (
    as_shape,
    binary_size,
    element_count,
    from_binary,
    from_json_data,
    split_binary,
    to_binary,
    to_json_data,
)

HEADER_LENGTH = "inference-header-content-length"
JSON_CONTENT_TYPE = "application/json"
BINARY_CONTENT_TYPE = "application/octet-stream"
SAGEMAKER_BINARY_CONTENT_TYPE = "application/vnd.sagemaker-triton.binary+json"
JSON_HEADER_SIZE = "json-header-size"


@dataclass(frozen=True)
class RequestedOutput:
    """One entry of a request's ``outputs``: which output, and whether it should come back as binary data."""

    name: str
    binary: bool | None = None  # None: follow the request's ``binary_data_output``
    parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class InferRequest:
    """A decoded inference request. ``outputs`` None means every output of the model, in the model's order."""

    inputs: dict[str, np.ndarray]
    id: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    outputs: tuple[RequestedOutput, ...] | None = None
    binary_output: bool = False


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


# --- server side -------------------------------------------------------------------------------------------------


def decode_request(
    body: bytes | bytearray | memoryview, headers: Mapping[str, str], *, max_elements: int | None = None
) -> InferRequest:
    """Parse an inference request, JSON or binary. Raises MalformedRequest naming the field that is wrong, and
    PayloadTooLarge when the inputs declare more than ``max_elements`` elements (each, and all together) before any
    array is allocated for them."""
    document, binary = _split_message(body, headers, what="request")
    if not isinstance(document, dict):
        raise MalformedRequest(f"request body must be a JSON object, got {_kind(document)}")
    request_id = document.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise MalformedRequest(f"'id' must be a string, got {_kind(request_id)}")
    parameters = _parameters(document.get("parameters"), "request")
    binary_output = parameters.get("binary_data_output", False)
    if not isinstance(binary_output, bool):
        raise MalformedRequest(f"parameters.binary_data_output must be true or false, got {binary_output!r}")
    return InferRequest(
        inputs=_decode_inputs(document.get("inputs"), binary, max_elements, _mentions_booleans(body)),
        id=request_id,
        parameters=parameters,
        outputs=_requested_outputs(document.get("outputs")),
        binary_output=binary_output,
    )


def _decode_inputs(
    items: Any, binary: memoryview | None, max_elements: int | None, booleans: bool = True
) -> dict[str, np.ndarray]:
    if items is None:
        raise MalformedRequest("'inputs' is required: a list of tensors with name, shape, datatype and data")
    if not isinstance(items, list):
        raise MalformedRequest(f"'inputs' must be a list of tensors, got {_kind(items)}")
    if not items:
        raise MalformedRequest("'inputs' is empty; send at least one tensor")
    pending: list[tuple[str, str, tuple[int, ...], int, int]] = []  # binary inputs: name, type, shape, count, size
    arrays: dict[str, np.ndarray | None] = {}
    total = 0
    for index, item in enumerate(items):
        name, datatype, shape, count, params = _tensor_header(item, f"inputs[{index}]", max_elements)
        if name in arrays:
            raise MalformedRequest(f"input '{name}' is given twice")
        total += count
        if max_elements is not None and total > max_elements:
            raise PayloadTooLarge(
                f"the inputs hold {total} elements or more; this server accepts at most {max_elements} per request",
                hint="send fewer rows per request, or raise the server's max_request_elements",
            )
        has_data = "data" in item
        size = params.get("binary_data_size")
        if has_data and size is not None:
            raise MalformedRequest(f"input '{name}' has both 'data' and parameters.binary_data_size; send one")
        if size is not None:
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise MalformedRequest(f"input '{name}': parameters.binary_data_size must be a byte count: {size!r}")
            if binary is None:
                raise MalformedRequest(
                    f"input '{name}' is sent as binary data but the request has no Inference-Header-Content-Length "
                    f"header (nor {JSON_HEADER_SIZE}=N in its Content-Type)"
                )
            fixed = binary_size(name, datatype, shape, count)
            if fixed is not None and fixed != size:
                raise MalformedRequest(
                    f"input '{name}': shape {list(shape)} {datatype} needs {fixed} bytes of binary data, "
                    f"but binary_data_size is {size}"
                )
            pending.append((name, datatype, shape, count, size))
            arrays[name] = None
        elif has_data:
            arrays[name] = from_json_data(name, datatype, shape, count, item["data"], booleans=booleans)
        else:
            raise MalformedRequest(f"input '{name}' has no 'data' (nor parameters.binary_data_size for binary data)")
    if binary is not None:
        views = split_binary([p[0] for p in pending], [p[4] for p in pending], binary)
        for (name, datatype, shape, count, _), raw in zip(pending, views):
            arrays[name] = from_binary(name, datatype, shape, count, raw)
    return arrays  # type: ignore[return-value]  # every None was filled from the binary part


def _mentions_booleans(body: bytes | bytearray | memoryview) -> bool:
    """Whether a message holds a ``true`` or ``false`` literal anywhere (a byte search, far cheaper than looking
    for booleans among a large tensor's numbers; a false alarm only costs that look)."""
    data = body if isinstance(body, (bytes, bytearray)) else bytes(body)
    return b"true" in data or b"false" in data


def _tensor_header(
    item: Any, where: str, max_elements: int | None = None
) -> tuple[str, str, tuple[int, ...], int, Mapping[str, Any]]:
    if not isinstance(item, dict):
        raise MalformedRequest(f"{where} must be an object with name, shape, datatype and data, got {_kind(item)}")
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise MalformedRequest(f"{where}: 'name' is required and must be a non-empty string")
    datatype = item.get("datatype")
    if datatype is None:
        raise MalformedRequest(f"input '{name}': 'datatype' is required (e.g. \"FP32\")")
    if "shape" not in item:
        raise MalformedRequest(f"input '{name}': 'shape' is required (a list of integers)")
    try:
        numpy_dtype(datatype)
    except MalformedRequest as exc:
        raise MalformedRequest(f"input '{name}': {exc.message}") from None
    shape, count = element_count(name, item["shape"], max_elements)
    return name, datatype, shape, count, _parameters(item.get("parameters"), f"input '{name}'")


def _requested_outputs(items: Any) -> tuple[RequestedOutput, ...] | None:
    if items is None:
        return None
    if not isinstance(items, list):
        raise MalformedRequest(f"'outputs' must be a list of {{\"name\": ...}} objects, got {_kind(items)}")
    if not items:  # the protocol defines only the absent key (every output); an empty list would answer nothing
        raise MalformedRequest(
            '"outputs": [] asks for no outputs; omit the "outputs" key to get every output, or name the ones wanted'
        )
    seen: set[str] = set()
    out = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            raise MalformedRequest(f"outputs[{index}] must be an object with a non-empty string 'name'")
        name = item["name"]
        if name in seen:
            raise MalformedRequest(f"output '{name}' is requested twice")
        seen.add(name)
        params = _parameters(item.get("parameters"), f"output '{name}'")
        binary = params.get("binary_data")
        if binary is not None and not isinstance(binary, bool):
            raise MalformedRequest(f"output '{name}': parameters.binary_data must be true or false, got {binary!r}")
        out.append(RequestedOutput(name=name, binary=binary, parameters=params))
    return tuple(out)


def encode_response(
    outputs: Mapping[str, np.ndarray],
    *,
    model_name: str,
    model_version: str,
    request: InferRequest | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The response to ``request``: the outputs it asked for (all by default), each in JSON or binary as asked."""
    request = request or InferRequest(inputs={})
    wanted = request.outputs
    if wanted is None:
        wanted = tuple(RequestedOutput(name=n) for n in outputs)
    document: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if request.id is not None:
        document["id"] = request.id
    if parameters:
        document["parameters"] = dict(parameters)
    items: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for want in wanted:
        array = outputs[want.name]
        entry: dict[str, Any] = {"name": want.name, "datatype": oip_datatype(array.dtype), "shape": as_shape(array)}
        if want.binary if want.binary is not None else request.binary_output:
            blob = to_binary(array)
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = to_json_data(array)
        items.append(entry)
    document["outputs"] = items
    return _join_message(document, blobs)


def encode_error(message: str, code: str | None = None) -> bytes:
    """An OIP error body: ``{"error": "<message>"}``, with our error ``code`` beside it when there is one (a compatible
    extension: other clients read only ``error``; ours rebuild the exact ``sdk.errors`` class from it)."""
    return jsonio.dumps({"error": message} if code is None else {"error": message, "code": code})


# --- client side -------------------------------------------------------------------------------------------------


def encode_request(
    inputs: Mapping[str, Any],
    *,
    binary: bool,
    outputs: Sequence[str] | Mapping[str, bool] | None = None,
    request_id: str | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> tuple[bytes, dict[str, str]]:
    """An inference request for ``inputs`` (name -> array). ``binary`` sends every tensor in binary form and asks
    for binary outputs; ``outputs`` names the outputs wanted (a mapping name -> binary overrides per output)."""
    if not inputs:
        raise MalformedRequest("an inference request needs at least one input")
    document: dict[str, Any] = {}
    if request_id is not None:
        document["id"] = request_id
    params = dict(parameters or {})
    if binary and outputs is None:
        params["binary_data_output"] = True
    if params:
        document["parameters"] = params
    items: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, value in inputs.items():
        array = value if isinstance(value, np.ndarray) else np.asarray(value)
        entry: dict[str, Any] = {"name": name, "shape": as_shape(array), "datatype": oip_datatype(array.dtype)}
        if binary:
            blob = to_binary(array)
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = to_json_data(array)
        items.append(entry)
    document["inputs"] = items
    if outputs is not None:
        flags = outputs if isinstance(outputs, Mapping) else dict.fromkeys(outputs, binary)
        document["outputs"] = [{"name": n, "parameters": {"binary_data": bool(b)}} for n, b in flags.items()]
    return _join_message(document, blobs)


def decode_response(
    body: bytes | bytearray | memoryview, headers: Mapping[str, str], *, status: int = 200
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Outputs by name, and ``meta`` (model_name, model_version, id, parameters, and each output's parameters).

    An error response (``status`` >= 400 or an ``error`` body) raises the matching error of ``sdk.errors``.
    """
    try:
        document, binary = _split_message(body, headers, what="response")
    except MalformedRequest:
        if status >= 400:
            raise error_for_status(status, bytes(body[:200]).decode("utf-8", "replace")) from None
        raise
    if isinstance(document, dict) and ("error" in document or status >= 400):
        # Our servers and KServe say {"error": ...}; AWS front doors (function URLs, API Gateway) {"Message": ...}.
        raise _response_error(status, document.get("error") or document.get("message") or document.get("Message"))
    if status >= 400:
        raise error_for_status(status, f"HTTP {status}")
    if not isinstance(document, dict) or not isinstance(document.get("outputs"), list):
        raise MalformedRequest("response is not an inference response: it has no 'outputs' list")
    pending: list[tuple[str, str, tuple[int, ...], int, int]] = []
    arrays: dict[str, np.ndarray | None] = {}
    output_parameters: dict[str, Mapping[str, Any]] = {}
    for index, item in enumerate(document["outputs"]):
        name, datatype, shape, count, params = _tensor_header(item, f"outputs[{index}]")
        output_parameters[name] = params
        size = params.get("binary_data_size")
        if size is not None:
            if binary is None or not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise MalformedRequest(f"output '{name}': binary_data_size {size!r} without a matching binary part")
            pending.append((name, datatype, shape, count, size))
            arrays[name] = None
        else:
            arrays[name] = from_json_data(name, datatype, shape, count, item.get("data", []))
    if binary is not None:
        for (name, datatype, shape, count, _), raw in zip(
            pending, split_binary([p[0] for p in pending], [p[4] for p in pending], binary)
        ):
            arrays[name] = from_binary(name, datatype, shape, count, raw)
    meta = {
        "model_name": document.get("model_name"),
        "model_version": document.get("model_version"),
        "id": document.get("id"),
        "parameters": document.get("parameters") or {},
        "output_parameters": output_parameters,
    }
    return arrays, meta  # type: ignore[return-value]


def _response_error(status: int, message: Any) -> AiaasError:
    text = message if isinstance(message, str) else "the server answered with an error"
    return error_for_status(status if status >= 400 else 500, text)


# --- framing -----------------------------------------------------------------------------------------------------


def _split_message(
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


def _join_message(document: dict[str, Any], blobs: list[bytes]) -> tuple[bytes, dict[str, str]]:
    head = jsonio.dumps(document)
    if not blobs:
        return head, {"content-type": JSON_CONTENT_TYPE}
    headers = {"content-type": BINARY_CONTENT_TYPE, HEADER_LENGTH: str(len(head))}
    return b"".join([head, *blobs]), headers


def _parameters(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MalformedRequest(f"{where}: 'parameters' must be an object, got {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)
