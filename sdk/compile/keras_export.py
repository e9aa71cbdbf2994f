"""Keras 3 / TensorFlow -> ONNX, and running the source for the parity gate.

``tf2onnx.convert.from_keras`` fails on Keras 3 (FACTS.md); Keras' own ``model.export(path, format="onnx")`` (which
uses tf2onnx underneath) works, and so does tf2onnx's function route for a SavedModel. Both name their tensors after
TensorFlow (``Identity:0``, ``unk__35``): the graph is renamed to the manifest's names here.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sdk.artifacts.manifest import TensorSpec
from sdk.compile.extras import require
from sdk.errors import ConfigError
from sdk.extras import TF

DEFAULT_OPSET = 17
TF_INSTALL = TF.command


def import_keras() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow reads it at import: a write, none of ours
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        keras = require("keras", purpose="compiling Keras / TensorFlow models")
        require("tensorflow", purpose="compiling Keras / TensorFlow models")  # Keras' ONNX export needs it
    return keras


def _import_tf2onnx() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return require("tf2onnx", purpose="exporting TensorFlow models to ONNX")


def rename_io(model: bytes, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec]) -> bytes:
    """Give the graph's inputs and outputs the manifest's names, and its dynamic axes the manifest's dim names."""
    onnx = require("onnx", purpose="exporting TensorFlow models to ONNX")
    graph_model = onnx.load_from_string(model)
    graph = graph_model.graph
    initializers = {i.name for i in graph.initializer}
    real_inputs = [i for i in graph.input if i.name not in initializers]
    if len(real_inputs) != len(inputs) or len(graph.output) != len(outputs):
        raise ConfigError(
            f"the exported graph has {len(real_inputs)} inputs and {len(graph.output)} outputs; "
            f"the signature declares {len(inputs)} and {len(outputs)}"
        )
    renames = {old.name: spec.name for old, spec in zip(real_inputs, inputs)}
    renames.update({old.name: spec.name for old, spec in zip(graph.output, outputs)})
    for node in graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]
    for value, spec in [*zip(real_inputs, inputs), *zip(graph.output, outputs)]:
        value.name = spec.name
        names = spec.dim_names or (None,) * len(spec.shape)
        for dim, size, dim_name in zip(value.type.tensor_type.shape.dim, spec.shape, names):
            if size == -1:
                dim.dim_param = dim_name or "dynamic"
    return graph_model.SerializeToString()


def export_keras(model: Any, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec]) -> bytes:
    """Export with ``model.export(format="onnx")`` (dynamic batch), named as the manifest says."""
    import_keras()
    _import_tf2onnx()
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = Path(tmp) / "model.onnx"
        model.export(str(path), format="onnx", verbose=False, opset_version=DEFAULT_OPSET)
        return rename_io(path.read_bytes(), inputs, outputs)


def export_saved_model(folder: Path, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec]) -> bytes:
    """A TensorFlow SavedModel's ``serving_default`` signature through tf2onnx's function route."""
    import_keras()
    tf2onnx = _import_tf2onnx()
    import tensorflow as tf

    function = tf.saved_model.load(str(folder)).signatures["serving_default"]
    specs = [tf.TensorSpec([None if d == -1 else d for d in s.shape], s.dtype, name=s.name) for s in inputs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proto, _ = tf2onnx.convert.from_function(function, input_signature=specs, opset=DEFAULT_OPSET)
    return rename_io(proto.SerializeToString(), inputs, outputs)


def run_keras(model: Any, inputs: Mapping[str, np.ndarray], output_names: Sequence[str]) -> dict[str, np.ndarray]:
    """The Keras model's outputs on ``inputs`` (inference mode), by the manifest's output names."""
    feeds = [np.ascontiguousarray(v) for v in inputs.values()]
    result = model(feeds[0] if len(feeds) == 1 else feeds, training=False)
    if isinstance(result, Mapping):
        result = list(result.values())
    results = result if isinstance(result, (tuple, list)) else (result,)
    return {name: np.asarray(r) for name, r in zip(output_names, results)}


def run_saved_model(folder: Path, inputs: Mapping[str, np.ndarray], output_names: Sequence[str]) -> dict[str, Any]:
    import_keras()
    import tensorflow as tf

    function = tf.saved_model.load(str(folder)).signatures["serving_default"]
    result = function(**{k: tf.constant(v) for k, v in inputs.items()})
    ordered = [result[k] for k in sorted(result)]
    return {name: np.asarray(r) for name, r in zip(output_names, ordered)}


def keras_weights_sha256(model: Any) -> str:
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(weight.path.encode())
        digest.update(np.asarray(weight.numpy()).tobytes())
    return digest.hexdigest()


def keras_version() -> str:
    return str(import_keras().__version__)
