"""Picking which artifact to open (``sdk.runtime.choice`` decides), and the verified bytes an engine opens.

The bytes handed to an engine are the very bytes whose sha256 was checked (``sdk.runtime.model.open_backend``
opens them). On a cold start they are read and hashed in a helper thread while the engine is imported: hashing and
reading release the GIL, so the ~60 ms of reading and hashing MiniLM int8's 58 MB overlap most of ONNX Runtime's
~40 ms import.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import field
from pathlib import Path
from typing import Any

from sdk._record import record
from sdk.artifacts.integrity import read_verified, read_verified_padded
from sdk.artifacts.manifest import ArtifactFile, Manifest
from sdk.errors import ArtifactError, IntegrityError, InvalidInput, MissingDependency, RuntimeFault
from sdk.runtime import choice
from sdk.runtime.backend import Backend
from sdk.runtime.config import RuntimeConfig
from sdk.runtime.inplace import SLACK, Padded
from sdk.runtime.validation import InputValidator

_MODULES = {"onnxruntime": "onnxruntime", "openvino": "openvino"}
Opener = Callable[[Path, ArtifactFile, RuntimeConfig], Backend]  # sdk.runtime.model.open_backend
_SKIPPABLE = (ArtifactError, RuntimeFault, MissingDependency, InvalidInput)  # a candidate that cannot run here


@record
class Chosen:
    """What the choice adds to ``RuntimeInfo``: notes, and the record of the choice (``extra["backend_choice"]``)."""

    notes: tuple[str, ...] = ()
    entry: dict[str, Any] = field(default_factory=dict)


class _Reader(threading.Thread):
    """Reads and verifies one file off the main thread."""

    def __init__(self, folder: Path, artifact: ArtifactFile, slack: int) -> None:
        super().__init__(name=f"aiaas-read-{artifact.file}", daemon=True)
        self.folder, self.artifact, self.slack = folder, artifact, slack
        self.data: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.data = _read(self.folder, self.artifact, self.slack)
        except BaseException as exc:  # handed to the main thread, which raises it
            self.error = exc

    def result(self) -> Any:
        self.join()
        if self.error is not None:
            raise self.error
        assert self.data is not None
        return self.data


def _read(folder: Path, artifact: ArtifactFile, slack: int) -> Any:
    """The verified bytes, or with ``slack`` the verified numpy buffer that much longer."""
    if slack:
        return read_verified_padded(folder, artifact.file, artifact.sha256, artifact.bytes, slack=slack)
    return read_verified(folder, artifact.file, artifact.sha256, artifact.bytes)


def import_engine(engine: str) -> None:
    if engine == "openvino":
        from sdk.runtime.openvino_backend import import_openvino

        import_openvino()
    else:
        from sdk.runtime.onnx_backend import import_onnxruntime

        import_onnxruntime()


def verified_bytes(folder: Path, artifact: ArtifactFile) -> bytes:
    """The artifact's bytes, checked; its engine imported meanwhile when it is not yet (tampered bytes win over a
    missing engine: an IntegrityError is raised first)."""
    data: bytes = _verified(folder, artifact, 0)
    return data


def verified_padded(folder: Path, artifact: ArtifactFile) -> Padded:
    """``verified_bytes`` read into a buffer with room to align its weights in place (``sdk.runtime.inplace``)."""
    return Padded(_verified(folder, artifact, SLACK), artifact.bytes)


def _verified(folder: Path, artifact: ArtifactFile, slack: int) -> Any:
    engine = choice.engine_of(artifact)
    if _MODULES.get(engine, engine) in sys.modules:
        return _read(folder, artifact, slack)
    reader = _Reader(folder, artifact, slack)
    reader.start()
    try:
        import_engine(engine)
    except BaseException:
        reader.join()
        if isinstance(reader.error, IntegrityError):
            raise reader.error from None  # the bytes were bad too: that is the error to see
        raise
    return reader.result()


def _timed_open(
    open_backend: Opener, folder: Path, artifact: ArtifactFile, config: RuntimeConfig
) -> tuple[Backend, float]:
    start = time.perf_counter()
    backend = open_backend(folder, artifact, config)
    return backend, (time.perf_counter() - start) * 1000


def open_chosen(
    manifest: Manifest, folder: Path, options: choice.Options, config: RuntimeConfig, open_backend: Opener
) -> tuple[Backend, ArtifactFile, Chosen]:
    """Open (with ``open_backend``) the one candidate; or, for a server, the one measured fastest per call on this
    device (measured now, or remembered in the choice cache); or, for a oneshot or function process, the one
    ``choice.decide`` finds cheapest for it from the cache's measurements, else the best-ranked."""
    candidates = {a.file: a for a in options.artifacts}
    if len(candidates) == 1:
        only = options.artifacts[0]
        return open_backend(folder, only, config), only, Chosen(options.notes)
    usage = config.process_usage
    cache = choice.ChoiceCache()
    key = choice.cache_key(options.artifacts, choice.engine_versions(), config)
    entry = cache.get(key)
    if usage == "server":
        if entry is not None and entry["file"] in candidates:
            artifact = candidates[entry["file"]]
            note = choice.describe(entry, cached=True)
            chosen = Chosen((*options.notes, note), {**entry, "cached": True, "usage": usage})
            return open_backend(folder, artifact, config), artifact, chosen
        return _measure(manifest, folder, options, config, cache, key, open_backend)
    decision = choice.decide([_candidate(a, entry, config) for a in options.artifacts], usage)
    order = [candidates[decision.file], *(a for a in options.artifacts if a.file != decision.file)]
    skipped: list[str] = []
    for artifact in order:
        try:
            backend = open_backend(folder, artifact, config)
        except IntegrityError:
            raise  # tampered bytes are never worked around
        except _SKIPPABLE as exc:
            skipped.append(f"{artifact.file} left out: {exc.message}")
            continue
        record = {"file": artifact.file, "usage": usage, "measured": decision.measured, "reason": decision.reason}
        return backend, artifact, Chosen((*options.notes, *skipped, f"chosen: {decision.reason}"), record)
    raise ArtifactError(f"{manifest.ref}: no candidate artifact loads here: {'; '.join(skipped)}")


def _candidate(artifact: ArtifactFile, entry: dict[str, Any] | None, config: RuntimeConfig) -> choice.Candidate:
    """What the cache's measurement says about ``artifact`` for a start now: OpenVINO's load from its compiled-model
    cache when that holds the artifact's compiled model, its cold compile otherwise."""
    engine = choice.engine_of(artifact)
    if entry is None:
        return choice.Candidate(artifact.file, engine, artifact.precision)
    load = entry.get("load_ms", {}).get(artifact.file)
    warm = entry.get("load_warm_ms", {}).get(artifact.file)
    if warm is not None and engine == "openvino":
        version = choice.engine_versions().get(engine, "")
        if choice.compiled(choice.compile_cache_dir(artifact, version, config, create=False)):
            load = warm
    return choice.Candidate(
        artifact.file,
        engine,
        artifact.precision,
        call_ms=entry.get("timings_ms", {}).get(artifact.file),
        load_ms=load,
        import_ms=entry.get("import_ms", {}).get(engine),
    )


def _measure(
    manifest: Manifest,
    folder: Path,
    options: choice.Options,
    config: RuntimeConfig,
    cache: choice.ChoiceCache,
    key: str,
    open_backend: Opener,
) -> tuple[Backend, ArtifactFile, Chosen]:
    """Load every candidate (timing each engine's import and each load), time them on the probe input, keep the
    fastest per call, remember all of it for later starts."""
    candidates = {a.file: a for a in options.artifacts}
    feeds = InputValidator(manifest.inputs)(choice.probe_feeds(manifest.inputs))
    backends: dict[str, Backend] = {}
    skipped: list[str] = []
    import_ms: dict[str, float] = {}
    load_ms: dict[str, float] = {}
    load_warm_ms: dict[str, float] = {}
    try:
        for artifact in options.artifacts:
            engine = choice.engine_of(artifact)
            try:
                if _MODULES.get(engine, engine) not in sys.modules:
                    start = time.perf_counter()
                    import_engine(engine)
                    import_ms[engine] = (time.perf_counter() - start) * 1000
                warm_before = engine == "openvino" and choice.compiled(
                    choice.compile_cache_dir(artifact, choice.engine_versions().get(engine, ""), config, create=False)
                )
                backend, load_ms[artifact.file] = _timed_open(open_backend, folder, artifact, config)
                backends[artifact.file] = backend
                backend.run(feeds)  # an engine that cannot run the probe is no candidate
                if engine == "openvino" and not warm_before and config.compile_cache:
                    # Once more, from its compiled-model cache now: what the next start will pay.
                    again, load_warm_ms[artifact.file] = _timed_open(open_backend, folder, artifact, config)
                    again.close()
            except IntegrityError:
                raise
            except _SKIPPABLE as exc:
                failed = backends.pop(artifact.file, None)
                if failed is not None:
                    failed.close()
                skipped.append(f"{artifact.file} left out: {exc.message}")
    except IntegrityError:
        for opened in backends.values():
            opened.close()
        raise  # tampered bytes are never worked around
    if not backends:
        raise ArtifactError(f"{manifest.ref}: no candidate artifact loads here: {'; '.join(skipped)}")
    if len(backends) == 1:
        ((file, backend),) = backends.items()
        return backend, candidates[file], Chosen((*options.notes, *skipped))
    probes = [InputValidator(manifest.inputs)(p) for p in choice.probe_set(manifest.inputs)]
    timings = choice.time_probes({file: b.run for file, b in backends.items()}, probes, choice.PROBE_RUNS)
    winner = choice.fastest(timings)
    for file, backend in backends.items():
        if file != winner:
            backend.close()
    probe = choice.probe_label(probes)
    entry = {
        "file": winner,
        "timings_ms": timings,
        "load_ms": {f: ms for f, ms in load_ms.items() if f in backends},
        "load_warm_ms": load_warm_ms,
        "import_ms": import_ms,
        "probe": probe,
        "measured_at": time.time(),
    }
    cache.put(key, entry)
    note = choice.describe(entry, cached=False)
    chosen = Chosen((*options.notes, *skipped, note), {**entry, "cached": False, "usage": "server"})
    return backends[winner], candidates[winner], chosen


@record
class Plan:
    """What a load would run here, and why, decided as ``load`` decides but without loading anything."""

    artifact: ArtifactFile
    usage: str
    reason: str
    precision_reason: str
    candidates: tuple[str, ...]
    notes: tuple[str, ...] = ()


def plan(manifest: Manifest, config: RuntimeConfig, *, usage: str | None = None) -> Plan:
    """The artifact ``load(..., config=config)`` would open for a process of ``usage`` (default: the config's)."""
    usage = usage or config.process_usage
    pinned = choice.pinned_precision(manifest, config, None)
    options = choice.options(manifest, pinned, config, gpu=choice.gpu_likely(config))
    why_precision = (
        f"{pinned} pinned (AIAAS_PRECISION)"
        if pinned
        else "none pinned: any artifact that passed its quality gate may run (pin one with AIAAS_PRECISION)"
    )
    files = tuple(a.file for a in options.artifacts)
    by_file = {a.file: a for a in options.artifacts}
    if len(files) == 1:
        return Plan(options.artifacts[0], usage, "the only candidate", why_precision, files, options.notes)
    key = choice.cache_key(options.artifacts, choice.engine_versions(), config)
    entry = choice.ChoiceCache().get(key)
    if usage == "server":
        if entry is not None and entry["file"] in by_file:
            reason = choice.describe(entry, cached=True).removeprefix(f"{entry['file']} ")
            return Plan(by_file[entry["file"]], usage, reason, why_precision, files, options.notes)
        reason = "not measured on this device yet: the first load times every candidate and keeps the fastest"
        return Plan(options.artifacts[0], usage, reason, why_precision, files, options.notes)
    decision = choice.decide([_candidate(a, entry, config) for a in options.artifacts], usage)
    return Plan(by_file[decision.file], usage, decision.reason, why_precision, files, options.notes)
