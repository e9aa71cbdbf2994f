"""PyTorch -> ONNX, and running both sides on the same inputs for the parity gate."""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

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
) -> bytes:
    """Export with the TorchScript exporter: on this CPU it gave ORT the fastest graphs and no external data file
    (FACTS.md: the dynamo exporter was slower than torch eager for MiniLM and writes ``model.onnx.data``)."""
    torch = import_torch()
    require("onnx", purpose="exporting PyTorch models to ONNX")  # else torch raises its own OnnxExporterError
    module.eval()
    args = tuple(torch.from_numpy(np.ascontiguousarray(v)) for v in example_inputs.values())
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        # The exporter announces its deprecation, and the tracer warns about Python control flow it cannot see
        # through; what proves the trace right is the parity gate that follows every export, not these warnings.
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=FutureWarning)
        warnings.simplefilter("ignore", category=UserWarning)
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        torch.onnx.export(
            module,
            args,
            buffer,
            input_names=list(example_inputs),
            output_names=list(output_names),
            dynamic_axes={k: dict(v) for k, v in dynamic_axes.items()},
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )
    return buffer.getvalue()


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


def run_onnx(model: bytes, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run ONNX bytes in ONNX Runtime on the CPU, as the edge route does."""
    from sdk.runtime.onnx_backend import OnnxRuntimeBackend

    backend = OnnxRuntimeBackend(model, RuntimeConfig(providers=("CPUExecutionProvider",), warmup_runs=0))
    try:
        return backend.run({k: np.ascontiguousarray(v) for k, v in inputs.items()})
    finally:
        backend.close()
