"""The OpenVINO backend (optional: ``pip install "aiaas-sdk[openvino]"``): one compiled model per loaded artifact.

It runs the statically quantized int8 artifact (Q/DQ ONNX from NNCF) that OpenVINO turns into int8 kernels. Measured
(FACTS.md, AMD Zen 4 with avx512_vnni): MiniLM 1x128 in 6.3 ms vs 10.3 ms for ONNX Runtime's dynamic int8. On a CPU
without VNNI (AVX2 only) the same artifact ran ~2x slower than ONNX Runtime's: which backend serves a model is chosen
by measurement on the device (``sdk.runtime.choice``), never assumed.

OpenVINO compiles a model at load (MiniLM int8 here: ~0.35-1 s). With a ``cache_dir`` (``RuntimeConfig.compile_cache``,
one folder per artifact, engine version and CPU under the cache home) it keeps the compiled model there (its
``CACHE_DIR`` property) and the next start imports it instead (~0.08 s). OpenVINO keys the blobs by the model it was
given (read from the verified bytes) and its compile settings, and drops a blob that does not match.
"""

from __future__ import annotations

import io
import queue
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from sdk.errors import ArtifactError, InvalidInput, RuntimeFault
from sdk.extras import require
from sdk.runtime.backend import first_line
from sdk.runtime.config import RuntimeConfig


def import_openvino() -> ModuleType:
    return require("openvino", purpose="running models with OpenVINO")


def available() -> bool:
    import importlib.util

    return importlib.util.find_spec("openvino") is not None


def compile_config(config: RuntimeConfig, cache_dir: Path | None = None) -> dict[str, Any]:
    """Latency first, and true fp32 arithmetic: on CPUs with bf16 OpenVINO would otherwise compute fp32 models in
    bf16 (its default there), which the fp32 parity gate never saw. ``cache_dir``: keep the compiled model there."""
    settings: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
    if config.threads:
        settings["INFERENCE_NUM_THREADS"] = config.threads
    if cache_dir is not None:
        settings["CACHE_DIR"] = str(cache_dir)
    return settings


class OpenVinoBackend:
    """An ONNX model read from verified bytes (never re-read from disk) and compiled for OpenVINO's CPU plugin."""

    name = "openvino"

    def __init__(
        self, model: bytes, config: RuntimeConfig, *, origin: str = "model.onnx", cache_dir: Path | None = None
    ) -> None:
        ov = import_openvino()
        self.version: str = ov.__version__.split("-")[0]
        core = ov.Core()
        settings = compile_config(config, cache_dir)
        try:
            self._compiled = core.compile_model(core.read_model(io.BytesIO(model)), "CPU", settings)
        except RuntimeError as exc:
            raise ArtifactError(f"OpenVINO could not load {origin}: {first_line(exc)}") from exc
        self.providers: tuple[str, ...] = ("CPU",)
        hint = self._compiled.get_property("INFERENCE_PRECISION_HINT")
        precision = hint.to_string() if hasattr(hint, "to_string") else str(hint)
        self.from_cache: bool = cache_dir is not None and _loaded_from_cache(self._compiled)
        cached = ""
        if cache_dir is not None:
            cached = "; compiled model read from its cache" if self.from_cache else "; compiled now, kept in its cache"
        self.notes: tuple[str, ...] = (f"OpenVINO CPU plugin, inference precision {precision}{cached}",)
        self._outputs = [o.get_any_name() for o in self._compiled.outputs]
        # An infer request is not thread-safe: callers borrow one from a pool that grows with concurrency.
        self._requests: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def signature(self) -> tuple[dict[str, tuple[str, int]], dict[str, tuple[str, int]]]:
        def table(ports: Any) -> dict[str, tuple[str, int]]:
            return {
                p.get_any_name(): (
                    np.dtype(p.get_element_type().to_dtype()).name,
                    p.get_partial_shape().rank.get_length(),
                )
                for p in ports
            }

        return table(self._compiled.inputs), table(self._compiled.outputs)

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._compiled is None:
            raise RuntimeFault("the model was closed")
        try:
            request = self._requests.get_nowait()
        except queue.Empty:
            request = self._compiled.create_infer_request()
        try:
            results = request.infer(dict(feeds))
            outputs = {name: np.array(results[name], copy=True) for name in self._outputs}
        except RuntimeError as exc:
            message = first_line(exc)
            if "shape" in message.lower() or "dimension" in message.lower():
                raise InvalidInput(f"the model rejected the input: {message}") from exc
            raise RuntimeFault(f"OpenVINO failed while running the model: {message}") from exc
        finally:
            self._requests.put(request)
        return outputs

    def close(self) -> None:
        self._compiled = None
        self._requests = queue.SimpleQueue()


def _loaded_from_cache(compiled: Any) -> bool:
    try:
        return bool(compiled.get_property("LOADED_FROM_CACHE"))
    except RuntimeError:  # an OpenVINO without the property
        return False
