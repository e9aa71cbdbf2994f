"""Open Inference Protocol (KServe v2) messages: inference requests and responses, JSON and binary.
Hand-written on purpose: tritonclient is client-only, KServe's and MLServer's codecs come with their FastAPI servers.

Pure functions shared by the server side (``decode_request`` / ``encode_response``) and any client
(``encode_request`` / ``decode_response``), over one encoder and one decoder of tensor entries, so that a request's
inputs and a response's outputs are written and checked by the same rules (an error names an ``input 'x'`` or an
``output 'x'``)::

    body, headers = encode_request({"image": x}, binary=True)        # client
    request = decode_request(body, headers)                           # server
    body, headers = encode_response(outputs, model_name="digits-cnn", model_version="1", request=request)
    outputs, meta = decode_response(body, headers)                    # client

A message's JSON part and binary part are framed (and unframed) by ``framing``, which also speaks SageMaker's form.
A response carries an output in binary when the request asked for it (``outputs[i].parameters.binary_data``) or for
all outputs (``parameters.binary_data_output``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import field
from typing import Any, NamedTuple

import numpy as np

from sdk._record import record
from sdk.errors import AiaasError, MalformedRequest, PayloadTooLarge, error_for_status
from sdk.protocol import classification, jsonio
from sdk.protocol.datatypes import numpy_dtype, oip_datatype
from sdk.protocol.framing import JSON_HEADER_SIZE, join_message, split_message
from sdk.protocol.plain import plain_outputs
from sdk.protocol.tensors import (
    as_shape,
    binary_size,
    element_count,
    from_binary,
    from_json_data,
    split_binary,
    to_binary,
    to_json_data,
)


@record
class RequestedOutput:
    """One entry of a request's ``outputs``: which output, and whether it should come back as binary data."""

    name: str
    binary: bool | None = None  # None: follow the request's ``binary_data_output``
    parameters: Mapping[str, Any] = field(default_factory=dict)
    classification: int | None = None  # the classification extension: this many top classes instead of the tensor


@record
class InferRequest:
    """A decoded inference request. ``outputs`` None means every output of the model, in the model's order."""

    inputs: dict[str, np.ndarray]
    id: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    outputs: tuple[RequestedOutput, ...] | None = None
    binary_output: bool = False
    # Each input's parameters (``binary_data_size`` says it came as binary data, not JSON ``data``).
    input_parameters: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


# --- server side -------------------------------------------------------------------------------------------------


def decode_request(
    body: bytes | bytearray | memoryview, headers: Mapping[str, str], *, max_elements: int | None = None
) -> InferRequest:
    """Parse an inference request, JSON or binary. Raises MalformedRequest naming the field that is wrong, and
    PayloadTooLarge when the inputs declare more than ``max_elements`` elements (each, and all together) before any
    array is allocated for them."""
    document, binary = split_message(body, headers, what="request")
    if not isinstance(document, dict):
        raise MalformedRequest(f"request body must be a JSON object, got {_kind(document)}")
    request_id = document.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise MalformedRequest(f"'id' must be a string, got {_kind(request_id)}")
    parameters = _parameters(document.get("parameters"), "request")
    binary_output = parameters.get("binary_data_output", False)
    if not isinstance(binary_output, bool):
        raise MalformedRequest(f"parameters.binary_data_output must be true or false, got {binary_output!r}")
    items = document.get("inputs")
    if items is None:
        raise MalformedRequest("'inputs' is required: a list of tensors with name, shape, datatype and data")
    if not isinstance(items, list):
        raise MalformedRequest(f"'inputs' must be a list of tensors, got {_kind(items)}")
    if not items:
        raise MalformedRequest("'inputs' is empty; send at least one tensor")
    inputs, input_parameters = _decode_tensors(
        items, binary, role="input", max_elements=max_elements, booleans=_mentions_booleans(body)
    )
    return InferRequest(
        inputs=inputs,
        id=request_id,
        parameters=parameters,
        outputs=_requested_outputs(document.get("outputs")),
        binary_output=binary_output,
        input_parameters=input_parameters,
    )


def _mentions_booleans(body: bytes | bytearray | memoryview) -> bool:
    """Whether a message holds a ``true`` or ``false`` literal anywhere (a byte search, far cheaper than looking
    for booleans among a large tensor's numbers; a false alarm only costs that look)."""
    data = body if isinstance(body, (bytes, bytearray)) else bytes(body)
    return b"true" in data or b"false" in data


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
        count = classification.parse_count(name, params.get(classification.PARAMETER))
        out.append(RequestedOutput(name=name, binary=binary, parameters=params, classification=count))
    return tuple(out)


def encode_response(
    outputs: Mapping[str, np.ndarray],
    *,
    model_name: str,
    model_version: str,
    request: InferRequest | None = None,
    parameters: Mapping[str, Any] | None = None,
    labels: Sequence[str] | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The response to ``request``: the outputs it asked for (all by default), each in JSON or binary as asked, or
    as its top classes where it asked for them (``sdk.protocol.classification``; ``labels``: the model's)."""
    request = request or InferRequest(inputs={})
    wanted = request.outputs
    if wanted is None:
        wanted = tuple(RequestedOutput(name=n) for n in outputs)
    document: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if request.id is not None:
        document["id"] = request.id
    if parameters:
        document["parameters"] = dict(parameters)
    document["outputs"], blobs = _encode_tensors(
        (
            want.name,
            outputs[want.name]
            if want.classification is None
            else classification.classify(want.name, outputs[want.name], want.classification, labels),
            request.binary_output if want.binary is None else want.binary,
        )
        for want in wanted
    )
    return join_message(document, blobs)


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
    document["inputs"], blobs = _encode_tensors((name, np.asarray(value), binary) for name, value in inputs.items())
    if outputs is not None:
        flags = outputs if isinstance(outputs, Mapping) else dict.fromkeys(outputs, binary)
        document["outputs"] = [{"name": n, "parameters": {"binary_data": bool(b)}} for n, b in flags.items()]
    return join_message(document, blobs)


def decode_response(
    body: bytes | bytearray | memoryview, headers: Mapping[str, str], *, status: int = 200
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Outputs by name, and ``meta`` (model_name, model_version, id, parameters, and each output's parameters).

    An error response (``status`` >= 400 or an ``error`` body) raises the matching error of ``sdk.errors``.
    """
    try:
        document, binary = split_message(body, headers, what="response")
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
    fast = plain_outputs(document["outputs"], binary, booleans=lambda: _mentions_booleans(body))
    if fast is not None:
        arrays, output_parameters = fast
    else:
        arrays, output_parameters = _decode_tensors(
            document["outputs"], binary, role="output", booleans=_mentions_booleans(body)
        )
    meta = {
        "model_name": document.get("model_name"),
        "model_version": document.get("model_version"),
        "id": document.get("id"),
        "parameters": document.get("parameters") or {},
        "output_parameters": output_parameters,
    }
    return arrays, meta


def _response_error(status: int, message: Any) -> AiaasError:
    text = message if isinstance(message, str) else "the server answered with an error"
    return error_for_status(status if status >= 400 else 500, text)


# --- tensor entries, both sides ----------------------------------------------------------------------------------


def _encode_tensors(tensors: Iterable[tuple[str, np.ndarray, bool]]) -> tuple[list[dict[str, Any]], list[bytes]]:
    """The entries of a message's ``inputs`` or ``outputs`` for (name, array, binary) triples, and the binary parts
    of those sent as binary data, in order."""
    items: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, array, binary in tensors:
        entry: dict[str, Any] = {"name": name, "datatype": oip_datatype(array.dtype), "shape": as_shape(array)}
        if binary:
            blob = to_binary(array)
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = to_json_data(array)
        items.append(entry)
    return items, blobs


class _Header(NamedTuple):
    """A tensor entry's header, checked: what it holds, before any array is made for it."""

    name: str
    label: str  # how messages name it: "input 'x'" or "output 'x'"
    datatype: str
    shape: tuple[int, ...]
    elements: int
    parameters: dict[str, Any]


def _decode_tensors(
    items: list[Any],
    binary: memoryview | None,
    *,
    role: str,
    max_elements: int | None = None,
    booleans: bool = True,
) -> tuple[dict[str, np.ndarray], dict[str, Mapping[str, Any]]]:
    """The tensors of a request's ``inputs`` (``role`` "input") or a response's ``outputs`` ("output") by name, and
    each one's parameters. Elements are counted, each and all together, against ``max_elements`` before any array
    is allocated; binary tensors are cut from the ``binary`` part once every header is read."""
    arrays: dict[str, np.ndarray] = {}
    parameters: dict[str, Mapping[str, Any]] = {}
    pending: list[tuple[_Header, int]] = []  # binary tensors and their sizes, in order
    total = 0
    for index, item in enumerate(items):
        head = _tensor_header(item, f"{role}s[{index}]", role, max_elements)
        if head.name in parameters:
            raise MalformedRequest(f"{head.label} is given twice")
        total += head.elements
        if max_elements is not None and total > max_elements:
            raise PayloadTooLarge(
                f"the {role}s hold {total} elements or more; this server accepts at most {max_elements} per request",
                hint="send fewer rows per request, or raise the server's max_request_elements",
            )
        parameters[head.name] = head.parameters
        size = _binary_data_size(head, item, binary is not None, "request" if role == "input" else "response")
        if size is None:
            arrays[head.name] = from_json_data(
                head.label, head.datatype, head.shape, head.elements, item["data"], booleans=booleans
            )
        else:
            pending.append((head, size))
    if binary is not None:
        views = split_binary([head.name for head, _ in pending], [size for _, size in pending], binary)
        for (head, _), raw in zip(pending, views):
            arrays[head.name] = from_binary(head.label, head.datatype, head.shape, head.elements, raw)
    return {name: arrays[name] for name in parameters}, parameters  # in the message's order


def _tensor_header(item: Any, where: str, role: str, max_elements: int | None) -> _Header:
    if not isinstance(item, dict):
        raise MalformedRequest(f"{where} must be an object with name, shape, datatype and data, got {_kind(item)}")
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise MalformedRequest(f"{where}: 'name' is required and must be a non-empty string")
    label = f"{role} '{name}'"
    datatype = item.get("datatype")
    if datatype is None:
        raise MalformedRequest(f"{label}: 'datatype' is required (e.g. \"FP32\")")
    if "shape" not in item:
        raise MalformedRequest(f"{label}: 'shape' is required (a list of integers)")
    try:
        numpy_dtype(datatype)
    except MalformedRequest as exc:
        raise MalformedRequest(f"{label}: {exc.message}") from None
    shape, count = element_count(label, item["shape"], max_elements)
    return _Header(name, label, datatype, shape, count, _parameters(item.get("parameters"), label))


def _binary_data_size(head: _Header, item: dict[str, Any], has_binary: bool, what: str) -> int | None:
    """The byte count of a tensor sent in the message's binary part, or None for one sent as JSON ``data``."""
    label, size, has_data = head.label, head.parameters.get("binary_data_size"), "data" in item
    if has_data and size is not None:
        raise MalformedRequest(f"{label} has both 'data' and parameters.binary_data_size; send one")
    if size is None:
        if not has_data:
            raise MalformedRequest(f"{label} has no 'data' (nor parameters.binary_data_size for binary data)")
        return None
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise MalformedRequest(f"{label}: parameters.binary_data_size must be a byte count: {size!r}")
    if not has_binary:
        raise MalformedRequest(
            f"{label} is sent as binary data but the {what} has no Inference-Header-Content-Length header "
            f"(nor {JSON_HEADER_SIZE}=N in its Content-Type)"
        )
    fixed = binary_size(head.datatype, head.elements)
    if fixed is not None and fixed != size:
        raise MalformedRequest(
            f"{label}: shape {list(head.shape)} {head.datatype} needs {fixed} bytes of binary data, "
            f"but binary_data_size is {size}"
        )
    return size


# --- small helpers -----------------------------------------------------------------------------------------------


def _parameters(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MalformedRequest(f"{where}: 'parameters' must be an object, got {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)
