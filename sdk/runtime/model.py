"""A loaded model: setup once (verify, load, warm up), run many."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import field
from pathlib import Path
from typing import Any, overload

import numpy as np

from sdk._record import record
from sdk.artifacts.integrity import verify_file
from sdk.artifacts.manifest import ArtifactFile, Manifest, TensorSpec, read_manifest_bytes
from sdk.artifacts.store import Store, StoredModel, locate_model
from sdk.errors import ArtifactError, InvalidInput, ManifestError
from sdk.runtime import chained, choice, engines, inplace
from sdk.runtime.backend import Backend
from sdk.runtime.config import RuntimeConfig
from sdk.runtime.onnx_backend import OnnxRuntimeBackend
from sdk.runtime.processors import Processed, Processors, open_processors
from sdk.runtime.validation import InputValidator


@record
class RuntimeInfo:
    """Where and how a model runs: reported with every prediction."""

    model: str
    version: str
    artifact: str
    precision: str
    sha256: str
    runtime: str
    runtime_version: str
    providers: tuple[str, ...]
    notes: tuple[str, ...] = ()
    load_ms: float = 0.0
    warmup_ms: float = 0.0
    path: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        return (
            f"{self.runtime} {self.runtime_version} on {', '.join(self.providers)} ({self.artifact}, {self.precision})"
        )


class LoadedModel:
    """A verified artifact loaded into a backend. Call it with a dict of arrays (or one array), or, when its manifest
    declares processors, with raw inputs: text (a string or a list), images (PNG/JPEG bytes or paths), a series."""

    def __init__(
        self,
        manifest: Manifest,
        artifact: ArtifactFile,
        backend: Backend,
        info: RuntimeInfo,
        processors: Processors | None = None,
    ) -> None:
        self.manifest = manifest
        self.artifact = artifact
        self.backend = backend
        self.info = info
        self.validator = InputValidator(manifest.inputs)
        self.processors = processors
        _check_signature(manifest, artifact, backend)

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> str:
        return self.manifest.version

    @overload
    def __call__(self, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]: ...

    @overload
    def __call__(self, inputs: str | bytes | list[str] | list[bytes]) -> Processed: ...

    @overload
    def __call__(self, inputs: Any) -> dict[str, np.ndarray] | Processed: ...

    def __call__(self, inputs: Any) -> dict[str, np.ndarray] | Processed:
        """Tensors (a dict name -> array, or one array): validate against the manifest, run, return outputs by name.
        Raw inputs the model's processors take: ``process`` them (answers, not tensors)."""
        if self.processors is not None and self.processors.takes(inputs):
            return self.process(inputs)
        return self.backend.run(self.validator(inputs))

    predict = __call__

    def process(self, raw: Any, *, top_k: int | None = None) -> Processed:
        """Raw inputs (one item or a list) -> the model's tensors -> answers, with the artifact's processors: labels
        and scores for a classifier (``top_k`` overrides the manifest's), a normalized embedding, a forecast in the
        data's units. Truncated text is reported in the result (``truncated``, ``notes``)."""
        if self.processors is None:
            raise InvalidInput(
                f"{self.manifest.ref} takes tensors only: its manifest declares no processors",
                hint="pass a dict of arrays, or compile the model from a recipe that declares its processors",
            )
        encoded = self.processors.encode(raw)
        tensors = self.backend.run(self.validator(encoded.feeds))
        return self.processors.decode(tensors, encoded, top_k=top_k)

    def run_validated(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run feeds that ``self.validator`` already accepted (the batcher merges validated requests)."""
        return self.backend.run(feeds)

    def example_inputs(self, batch: int = 1) -> dict[str, np.ndarray]:
        """Zeros of the right dtype and shape, dynamic dimensions set to ``batch`` (first) or 1."""
        return {s.name: np.zeros(_example_shape(s, batch), dtype=s.dtype) for s in self.manifest.inputs}

    def warmup(self, runs: int = 1) -> float:
        start = time.perf_counter()
        feeds = self.validator(self.example_inputs())
        for _ in range(runs):
            self.backend.run(feeds)
        return (time.perf_counter() - start) * 1000

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> LoadedModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<LoadedModel {self.manifest.ref} {self.info.summary()}>"


def _example_shape(spec: TensorSpec, batch: int) -> tuple[int, ...]:
    names = spec.dim_names or (None,) * len(spec.shape)
    shape = []
    for axis, (size, name) in enumerate(zip(spec.shape, names)):
        if size != -1:
            shape.append(size)
        else:
            shape.append(batch if (name == "batch" or (axis == 0 and name is None)) else 1)
    return tuple(shape)


def _check_signature(manifest: Manifest, artifact: ArtifactFile, backend: Backend) -> None:
    """The manifest must describe the model the engine loaded: same names, dtypes and ranks."""
    inputs, outputs = backend.signature()
    for group, specs, actual in (("input", manifest.inputs, inputs), ("output", manifest.outputs, outputs)):
        declared = {s.name: (s.dtype, len(s.shape)) for s in specs}
        if set(declared) != set(actual):
            raise ManifestError(
                f"{manifest.ref}: manifest {group}s {sorted(declared)} do not match {artifact.file}'s {sorted(actual)}"
            )
        for name, (dtype, rank) in declared.items():
            if actual[name] != (dtype, rank):
                raise ManifestError(
                    f"{manifest.ref}: {group} '{name}' is {dtype} rank {rank} in the manifest but "
                    f"{actual[name][0]} rank {actual[name][1]} in {artifact.file}"
                )


def _parity_notes(artifact: ArtifactFile) -> tuple[str, ...]:
    parity = artifact.parity
    if parity is None:
        return (f"{artifact.file} records no parity check against its source model",)
    if not parity.passed:
        return (
            f"{artifact.file} failed its parity gate ({parity.metric} {parity.value:.3g}) "
            f"and ships anyway: {parity.waiver}",
        )
    return ()


def open_backend(folder: Path, artifact: ArtifactFile, config: RuntimeConfig) -> Backend:
    """The artifact's engine, loaded from the very bytes whose sha256 was just checked."""
    onnxruntime = choice.engine_of(artifact) == "onnxruntime" and not artifact.external
    in_place = config.weights_in_place and artifact.bytes >= inplace.MIN_MODEL_BYTES and not choice.gpu_likely(config)
    if onnxruntime and in_place:  # read with room to align the weights in place (sdk.runtime.inplace)
        padded = engines.verified_padded(folder, artifact)
        return OnnxRuntimeBackend(padded, config, origin=artifact.file, folder=folder)
    data = engines.verified_bytes(folder, artifact)
    if artifact.external:  # a large model: its weights from verified mapped shards (sdk.runtime.mapped)
        from sdk.runtime.mapped import map_weights

        if choice.engine_of(artifact) == "openvino":
            raise ArtifactError(
                f"{artifact.file} stores its weights as external data, which the OpenVINO backend does not load",
                hint="run it with ONNX Runtime (the fp32/fp16/int8 ONNX artifacts)",
            )
        return OnnxRuntimeBackend(data, config, origin=artifact.file, weights=map_weights(folder, artifact, data))
    if choice.engine_of(artifact) == "openvino":
        from sdk.runtime.openvino_backend import OpenVinoBackend

        version = choice.engine_versions().get("openvino", "")
        cache = choice.compile_cache_dir(artifact, version, config, create=True)
        return OpenVinoBackend(data, config, origin=artifact.file, cache_dir=cache)
    return OnnxRuntimeBackend(data, config, origin=artifact.file, folder=folder)


def load(
    model: str | Path | StoredModel,
    *,
    store: Store | None = None,
    config: RuntimeConfig | None = None,
    precision: str | None = None,
) -> LoadedModel:
    """Load a model by reference (``name``, ``name@alias``, ``name@version``) or artifact folder path.

    Every file the manifest lists is checked against its sha256 first; the model file is loaded from the very bytes
    that were checked. Then the session is built and warmed up.

    Which artifact: ``precision`` if given (else ``ManifestError``), else ``config.precision`` when the model has it,
    else the fastest artifact that passed its quality gate for how this process uses it (``config.usage``; see
    ``sdk.runtime.choice``). ``info.notes`` and ``info.extra["backend_choice"]`` say which ran and why.
    """
    config = config or RuntimeConfig.from_env()
    located = locate_model(model, store)
    folder, origin = located.path, located.store
    manifest, manifest_bytes = read_manifest_bytes(folder)
    if config.trusted_keys:  # before any model byte is read, on the very bytes parsed
        from sdk.artifacts import signing  # only then: ~3 ms of a cold start otherwise

        signing.require_trusted(folder, config.trusted_keys, ref=manifest.ref, manifest_bytes=manifest_bytes)
    pinned = choice.pinned_precision(manifest, config, precision)
    start = time.perf_counter()
    processors = open_processors(folder, manifest)  # its files read from the very bytes that were checked
    for extra in manifest.files:
        if processors is None or extra.file not in processors.files:
            verify_file(folder, extra.file, extra.sha256, extra.bytes)
    options = choice.options(manifest, pinned, config, gpu=choice.gpu_likely(config))
    opener = chained.opener(manifest, open_backend)  # an adapted artifact (manifest.base): its base, then its head
    backend, artifact, chosen = engines.open_chosen(manifest, folder, options, config, opener)
    load_ms = (time.perf_counter() - start) * 1000
    info = RuntimeInfo(
        model=manifest.name,
        version=manifest.version,
        artifact=artifact.file,
        precision=artifact.precision,
        sha256=artifact.sha256,
        runtime=backend.name,
        runtime_version=backend.version,
        providers=backend.providers,
        notes=backend.notes + _parity_notes(artifact) + chosen.notes,
        load_ms=load_ms,
        path=str(folder),
        extra={"store": origin, **({"backend_choice": chosen.entry} if chosen.entry else {})},
    )
    loaded = LoadedModel(manifest, artifact, backend, info, processors)
    if config.warmup_runs:
        warmup_ms = loaded.warmup(config.warmup_runs)
        loaded.info = dataclasses.replace(info, warmup_ms=warmup_ms)
    return loaded
