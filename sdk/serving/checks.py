"""The checks an inference body passes before it runs, shared by ``/infer`` and ``/explain``: its content type, its
tensors' datatypes against the model's, the outputs it asks for."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sdk.errors import InvalidInput, UnsupportedMediaType
from sdk.protocol import classification
from sdk.protocol.codec import InferRequest
from sdk.protocol.datatypes import oip_datatype
from sdk.protocol.framing import SAGEMAKER_BINARY_CONTENT_TYPE
from sdk.runtime import LoadedModel

# Content types an inference body may come with. curl -d sends form-urlencoded by default, and the OIP examples
# are written for curl -d, so it is accepted; anything else (text, multipart, XML, images) is refused.
BODY_TYPES = ("application/json", "application/octet-stream", "application/x-www-form-urlencoded", "")


def check_content_type(headers: Mapping[str, str]) -> str:
    """The request's media type, lowercase; raises UnsupportedMediaType (415) for one an inference body cannot be."""
    given = headers.get("content-type", "")
    media = given.split(";", 1)[0].strip().lower()
    if media not in BODY_TYPES and not (media.startswith("application/") and media.endswith("+json")):
        raise UnsupportedMediaType(
            f"Content-Type {given!r} is not supported; send application/json, or for binary tensors "
            "application/octet-stream with the Inference-Header-Content-Length header (or "
            f"{SAGEMAKER_BINARY_CONTENT_TYPE};json-header-size=N)"
        )
    return media


def check_against_model(model: LoadedModel, request: InferRequest) -> None:
    """Datatypes and requested outputs, named in OIP terms, before the validator checks shapes and values."""
    specs = {s.name: s for s in model.manifest.inputs}
    for name, array in request.inputs.items():
        spec = specs.get(name)
        if spec is not None and array.dtype != np.dtype(spec.dtype):
            expected, got = oip_datatype(np.dtype(spec.dtype)), oip_datatype(array.dtype)
            raise InvalidInput(f"input '{name}': the model takes datatype {expected}, got {got}")
    check_outputs(request, [s.name for s in model.manifest.outputs])
    for wanted in request.outputs or ():
        if wanted.classification is not None:  # before the model runs; check_outputs knows the name
            spec = next(s for s in model.manifest.outputs if s.name == wanted.name)
            classification.check_rankable(wanted.name, np.dtype(spec.dtype))


def check_outputs(request: InferRequest, known: Sequence[str]) -> None:
    if request.outputs is not None:
        for wanted in request.outputs:
            if wanted.name not in known:
                raise InvalidInput(f"unknown output '{wanted.name}'; the model's outputs are: {', '.join(known)}")


def tensor_metadata(name: str, dtype: str, shape: tuple[int, ...]) -> dict[str, Any]:
    return {"name": name, "datatype": oip_datatype(np.dtype(dtype)), "shape": list(shape)}


def batchable(model: LoadedModel) -> bool:
    """True when every input and output has a dynamic first (batch) dimension, so requests can be stacked."""
    for spec in (*model.manifest.inputs, *model.manifest.outputs):
        if not spec.shape or spec.shape[0] != -1:
            return False
        if spec.dim_names is not None and spec.dim_names[0] not in (None, "batch"):
            return False
    return True
