"""The ONNX Runtime backend: one ``InferenceSession`` per loaded artifact."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from sdk.errors import ArtifactError, InvalidInput, RuntimeFault
from sdk.extras import require
from sdk.runtime import inplace
from sdk.runtime.backend import first_line
from sdk.runtime.config import RuntimeConfig
from sdk.runtime.inplace import InPlace, Padded, split
from sdk.runtime.mapped import MappedWeights, pin_weights
from sdk.runtime.providers import CPU, plan_providers, probe_machine

# ONNX type strings -> numpy dtype names.
_ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(int16)": "int16",
    "tensor(uint16)": "uint16",
    "tensor(uint32)": "uint32",
    "tensor(uint64)": "uint64",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
    "tensor(bool)": "bool",
}


def import_onnxruntime() -> ModuleType:
    return require("onnxruntime", purpose="running models on this device")


def session_options(ort: ModuleType, config: RuntimeConfig) -> Any:
    options = ort.SessionOptions()
    options.graph_optimization_level = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[config.graph_optimization]
    if config.threads:
        options.intra_op_num_threads = config.threads
    options.inter_op_num_threads = config.inter_op_threads
    spin = "1" if config.allow_spinning else "0"
    options.add_session_config_entry("session.intra_op.allow_spinning", spin)
    options.add_session_config_entry("session.inter_op.allow_spinning", spin)
    options.log_severity_level = 3  # errors only: provider probing warnings are reported in `notes` instead
    return options


class OnnxRuntimeBackend:
    """An ONNX model loaded from verified bytes into ONNX Runtime."""

    name = "onnxruntime"

    def __init__(
        self,
        model: bytes | Padded,
        config: RuntimeConfig,
        *,
        origin: str = "model.onnx",
        weights: MappedWeights | None = None,
        folder: Path | None = None,
    ) -> None:
        """``weights``: a large model's external initializers over verified mapped shards (``sdk.runtime.mapped``),
        handed to ONNX Runtime as they are; kept referenced here, since the session reads them for its lifetime.
        ``folder``: where ``origin`` lies; given, on the CPU, the weights inside ``model`` are handed over in place
        (``sdk.runtime.inplace``) unless ``config.weights_in_place`` is off; a ``Padded`` model is read for that."""
        ort = import_onnxruntime()
        self.version: str = ort.__version__
        plan = plan_providers(config.providers, ort.get_available_providers(), probe_machine)
        options = session_options(ort, config)
        self._weights = weights
        self._pinned: list[object] = []
        self._in_place: InPlace | None = None
        if weights is not None:
            self._pinned = pin_weights(ort, options, weights)
        elif folder is not None and config.weights_in_place and plan.providers == (CPU,):
            # CPU only: TensorRT parses the graph itself, and would look for the weights where the graph says.
            size = model.size if isinstance(model, Padded) else len(model)
            self._in_place = split(model) if size >= inplace.MIN_MODEL_BYTES else None
        if self._in_place is not None:
            assert folder is not None
            refused: tuple[type[Exception], ...] = (ArtifactError, *_load_errors(ort))
            try:
                self._session = self._in_place_session(ort, config, folder, plan.providers)
            except refused:  # an optimizer wanted a weight's values, or ORT copied one: load the model as it is
                self._in_place, self._pinned = None, []
        if self._in_place is None:
            if isinstance(model, Padded):
                model = model.tobytes()
            try:
                self._session = ort.InferenceSession(model, sess_options=options, providers=list(plan.providers))
            except _load_errors(ort) as exc:
                raise ArtifactError(f"ONNX Runtime could not load {origin}: {first_line(exc)}") from exc
        self.providers: tuple[str, ...] = tuple(self._session.get_providers())
        unused = [p for p in plan.providers if p not in self.providers]
        self.notes: tuple[str, ...] = plan.notes + tuple(
            f"{p} was requested but the session does not use it" for p in unused
        )
        if weights is not None:
            self.notes += (
                f"{weights.nbytes / 1e6:.1f} MB of weights used in place from {len(weights.maps)} mapped shards",
            )
        self._outputs = [o.name for o in self._session.get_outputs()]
        self._errors = _ort_errors(ort)

    def _in_place_session(
        self, ort: ModuleType, config: RuntimeConfig, folder: Path, providers: tuple[str, ...]
    ) -> Any:
        assert self._in_place is not None
        options = session_options(ort, config)
        options.log_severity_level = 4  # a refusal here is expected (see sdk.runtime.inplace) and not the user's error
        for name, array in self._in_place.arrays.items():
            value = ort.OrtValue.ortvalue_from_numpy(array)
            if array.size and value.data_ptr() != array.ctypes.data:
                raise ArtifactError(f"ONNX Runtime copied initializer {name!r} instead of using it in place")
            options.add_initializer(name, value)
            self._pinned.append(value)
        # Where ORT looks for the moved weights' location (inplace.NOWHERE): it exists, and cannot be read as data.
        options.add_session_config_entry("session.model_external_initializers_file_folder_path", str(folder))
        return ort.InferenceSession(self._in_place.graph, sess_options=options, providers=list(providers))

    def signature(self) -> tuple[dict[str, tuple[str, int]], dict[str, tuple[str, int]]]:
        def table(args: list[Any]) -> dict[str, tuple[str, int]]:
            return {a.name: (_ORT_TYPES.get(a.type, a.type), len(a.shape)) for a in args}

        return table(self._session.get_inputs()), table(self._session.get_outputs())

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        try:
            results = self._session.run(self._outputs, feeds)
        except self._errors[0] as exc:
            raise InvalidInput(f"the model rejected the input: {first_line(exc)}") from exc
        except self._errors[1] as exc:
            raise RuntimeFault(f"ONNX Runtime failed while running the model: {first_line(exc)}") from exc
        return dict(zip(self._outputs, results))

    def close(self) -> None:
        self._session = None
        self._pinned, self._weights, self._in_place = [], None, None


def _load_errors(ort: ModuleType) -> tuple[type[Exception], ...]:
    state = ort.capi.onnxruntime_pybind11_state
    names = (
        "Fail",
        "InvalidProtobuf",
        "InvalidGraph",
        "InvalidArgument",
        "NoSuchFile",
        "NotImplemented",
        "RuntimeException",
    )
    return (RuntimeError, *(getattr(state, n) for n in names if hasattr(state, n)))


def _ort_errors(ort: ModuleType) -> tuple[type[Exception], tuple[type[Exception], ...]]:
    state = ort.capi.onnxruntime_pybind11_state
    faults = tuple(
        getattr(state, n)
        for n in ("Fail", "RuntimeException", "EPFail", "NotImplemented", "EngineError")
        if hasattr(state, n)
    )
    return state.InvalidArgument, faults
