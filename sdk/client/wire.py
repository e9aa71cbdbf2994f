"""A call's inputs as the named tensors an Open Inference Protocol endpoint is sent, for ``/infer`` and ``/explain``
alike: tensors named after the model's metadata, or raw inputs (text, images) as the one BYTES tensor the endpoint
advertises."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from sdk.client import raw
from sdk.errors import CloudUnavailable, InvalidInput
from sdk.protocol.datatypes import numpy_dtype

if TYPE_CHECKING:
    from sdk.client.cloud import CloudRoute


def named_arrays(route: CloudRoute, model: str, inputs: Any) -> dict[str, np.ndarray]:
    """Tensors by input name: a dict of arrays as it is; a bare array or lists typed and named by the metadata."""
    if type(inputs) is dict and all(type(v) is np.ndarray for v in inputs.values()):
        return inputs  # the common call: no ABC checks, no copy (the encoder only reads it)
    if isinstance(inputs, Mapping) and all(isinstance(v, np.ndarray) for v in inputs.values()):
        return dict(inputs)
    specs = {i["name"]: i for i in route.metadata(model).get("inputs", [])}
    if not isinstance(inputs, Mapping):
        if len(specs) != 1:
            raise InvalidInput(f"{model} takes {len(specs)} inputs ({', '.join(specs)}); pass a dict name -> array")
        inputs = {next(iter(specs)): inputs}
    out = {}
    for name, value in inputs.items():
        if isinstance(value, np.ndarray):
            out[name] = value
        elif name in specs:
            out[name] = np.asarray(value, dtype=numpy_dtype(specs[name]["datatype"]))
        else:
            raise InvalidInput(f"unknown input '{name}' for {model} (it takes: {', '.join(specs)})")
    return out


def raw_arrays(route: CloudRoute, model: str, inputs: Any) -> tuple[dict[str, np.ndarray], bool]:
    """Raw inputs as the one BYTES tensor the endpoint's metadata advertises (``parameters.raw_input``), and
    whether to send it as binary data (images always: JSON strings cannot carry their bytes). An endpoint that
    advertises none cannot process them: CloudUnavailable, so a public call falls back to this device."""
    if route.config.endpoint_kind == "sagemaker":
        raise CloudUnavailable(
            f"a SageMaker endpoint publishes no metadata to say it takes raw input for {model}; nothing was sent"
        )
    advertised = (route.metadata(model).get("parameters") or {}).get("raw_input")
    if not isinstance(advertised, dict) or not isinstance(advertised.get("name"), str):
        raise CloudUnavailable(
            f"{route.base_url} takes no raw input for {model} (its metadata advertises no raw_input); nothing was sent",
            hint="send tensors, or serve the model from an artifact that declares its processors",
        )
    items = raw.wire_items(inputs, model)
    array = np.empty(len(items), dtype=object)
    array[:] = items
    binary = advertised.get("kind") == "image" or sum(map(len, items)) >= route.config.binary_threshold_bytes
    return {advertised["name"]: array}, binary
