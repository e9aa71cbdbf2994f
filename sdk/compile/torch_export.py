"""PyTorch -> ONNX, and running both sides on the same inputs for the parity gate."""

from __future__ import annotations

import hashlib
import io
import shutil
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from sdk.compile.external import ExternalDataConfig, LargeModel, OnnxModel, shard_onnx_file, work_folder
from sdk.compile.extras import require
from sdk.runtime.config import RuntimeConfig

DEFAULT_OPSET = 17


def import_torch() -> Any:
    return require("torch", purpose="compiling PyTorch models")


def export_torch(
    module: Any,
    example_inputs: Mapping[str, np.ndarray],
    *,
    output_names: Sequence[str],
    dynamic_axes: Mapping[str, Mapping[int, str]],
    opset: int = DEFAULT_OPSET,
    external_data: ExternalDataConfig | None = None,
) -> OnnxModel:
    """Export with the TorchScript exporter: on this CPU it gave ORT the fastest graphs and no external data file
    (FACTS.md: the dynamo exporter was slower than torch eager for MiniLM and writes ``model.onnx.data``).

    A module whose weights pass ``external_data.threshold`` is exported straight to disk (one protobuf cannot
    hold more than 2 GB) and rewritten into the artifact's shards: a ``LargeModel``, never one ``bytes``."""
    torch = import_torch()
    require("onnx", purpose="exporting PyTorch models to ONNX")  # else torch raises its own OnnxExporterError
    module.eval()
    args = tuple(torch.from_numpy(np.ascontiguousarray(v)) for v in example_inputs.values())
    settings = {
        "input_names": list(example_inputs),
        "output_names": list(output_names),
        "dynamic_axes": {k: dict(v) for k, v in dynamic_axes.items()},
        "opset_version": opset,
        "do_constant_folding": True,
        "dynamo": False,
    }
    config = external_data or ExternalDataConfig.from_env()
    if parameter_bytes(module) > config.threshold:
        return _export_large(module, args, settings, config)
    buffer = io.BytesIO()
    with _quiet_exporter(torch):
        torch.onnx.export(module, args, buffer, **settings)
    return buffer.getvalue()


def parameter_bytes(module: Any) -> int:
    """The bytes of a module's weights and buffers: about what its ONNX export holds."""
    return sum(int(t.numel()) * int(t.element_size()) for t in module.state_dict().values())


def _export_large(
    module: Any, args: tuple[Any, ...], settings: dict[str, Any], config: ExternalDataConfig
) -> LargeModel:
    """Export to a file (past 2 GB torch writes each weight to a file of its own beside it), then pack the weights
    into the artifact's shards one tensor at a time and drop the raw export."""
    torch = import_torch()
    folder = work_folder()
    raw = folder / "export"
    raw.mkdir()
    try:
        with _quiet_exporter(torch):
            torch.onnx.export(module, args, str(raw / "model.onnx"), **settings)
        return shard_onnx_file(raw / "model.onnx", folder, file="model.onnx", config=config)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(raw, ignore_errors=True)


@contextmanager
def _quiet_exporter(torch: Any) -> Iterator[None]:
    with warnings.catch_warnings(), torch.no_grad():
        # The exporter announces its deprecation, and the tracer warns about Python control flow it cannot see
        # through; what proves the trace right is the parity gate that follows every export, not these warnings.
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=FutureWarning)
        warnings.simplefilter("ignore", category=UserWarning)
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        yield


def release_torch(module: Any) -> None:
    """Free a module's weights in place (it cannot run afterwards): once a large model is exported and its outputs
    taken, its weights are a second copy of what the shards hold, and quantizing needs that memory."""
    torch = import_torch()
    for tensor in [*module.parameters(), *module.buffers()]:
        tensor.data = torch.empty(0, dtype=tensor.dtype)


def weights_sha256(module: Any) -> str:
    """sha256 over a module's state dict (names and bytes): the same weights give the same hash."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().numpy().tobytes())
    return digest.hexdigest()


def run_torch(module: Any, inputs: Mapping[str, np.ndarray], output_names: Sequence[str]) -> dict[str, np.ndarray]:
    torch = import_torch()
    module.eval()
    with torch.no_grad():
        result = module(*(torch.from_numpy(np.ascontiguousarray(v)) for v in inputs.values()))
    results = result if isinstance(result, (tuple, list)) else (result,)
    return {name: r.detach().cpu().numpy() for name, r in zip(output_names, results)}


def run_onnx(model: OnnxModel, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run an ONNX model in ONNX Runtime on the CPU, as the edge route does: a large one from its verified, mapped
    shards, exactly as ``sdk.load`` will run the artifact."""
    from sdk.runtime.onnx_backend import OnnxRuntimeBackend

    config = RuntimeConfig(providers=("CPUExecutionProvider",), warmup_runs=0)
    if isinstance(model, LargeModel):
        from sdk.runtime.mapped import map_weights

        weights = map_weights(model.folder, model.artifact(), model.graph)
        backend = OnnxRuntimeBackend(model.graph, config, origin=model.file, weights=weights)
    else:
        backend = OnnxRuntimeBackend(model, config)
    try:
        return backend.run({k: np.ascontiguousarray(v) for k, v in inputs.items()})
    finally:
        backend.close()
