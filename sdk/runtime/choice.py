"""Which artifact, in which engine, runs a model on this device: the fastest that passed its quality gate, where
"fastest" depends on how the process uses the model (``RuntimeConfig.usage``).

Candidates: with no precision pinned (``precision=`` / ``AIAAS_PRECISION``), every ONNX artifact whose gate passed
(fp32, int8, fp16; several int8 when each engine has its own: ONNX Runtime's dynamic int8 and a static Q/DQ int8 for
OpenVINO), whose engine is installed; with a precision pinned, that precision's artifacts. Which is faster depends on
the CPU: on AMD Zen 4 with avx512_vnni OpenVINO's int8 ran MiniLM 1x128 in 6.3 ms vs 10.3 ms (FACTS.md); on an
AVX2-only EPYC 30 ms vs 15 ms the other way round (benchmarks/compile_speed.py). So it is measured, never assumed:

- ``server`` (long-lived): per-call time decides. The candidates are timed on probe inputs once per device, taking
  turns call by call; the fastest is kept (by a clear margin) and the measurement cached per (artifacts, engine
  versions, CPU, threads, probes), with each candidate's load time. A model with a sequence dimension is probed at
  a real sentence's length (16 tokens) and at 128, and ranked by the geometric mean of the two: OpenVINO's int8
  won MiniLM at 1x128 by 13% but lost real 13-24 token sentences by 2x to ONNX Runtime (benchmarks/int8_ceiling.py),
  so a probe at 128 alone chose the slower engine for what clients send.
- ``oneshot`` (a CLI call) and ``function`` (a serverless init): every start pays the load (OpenVINO compiles: ~1 s
  cold for MiniLM here, ~0.1 s from its compiled-model cache), so a candidate costs import + load + expected calls x
  per-call time (1 call, 100 calls). They never measure (that loads every candidate: the very cost to avoid); they
  use a server's measurements from the cache when it has them, else a prior: engines that do not compile first
  (ONNX Runtime), then int8, fp32, fp16 on a CPU (fp16 first where ONNX Runtime can use CUDA).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sdk._record import record
from sdk.artifacts.cpu import this_cpu
from sdk.artifacts.manifest import ArtifactFile, Manifest, TensorSpec
from sdk.errors import ManifestError
from sdk.runtime.config import RuntimeConfig
from sdk.runtime.providers import CPU, cuda_likely
from sdk.settings import xdg_cache_home

PROBE_LENGTH = 128  # non-batch dynamic dimensions in the probe input (MiniLM: a 128-token sentence)
SHORT_PROBE_LENGTH = 16  # and a real sentence's length (MiniLM's held-out sentences: 13-24 tokens)
PROBE_RUNS = 10
MARGIN = 0.05  # leave the first-ranked candidate only for a clear win
CACHE_FILE = "backend-choice.json"
COMPILE_CACHE = "compiled"  # engines' compiled models, under the cache home, one folder per (artifact, engine, CPU)
EXPECTED_CALLS = {"oneshot": 1, "function": 100}  # calls a process of that usage answers per load
# A fresh process's import of each engine, ms, when no measurement recorded it (this 2-core EPYC, numpy loaded).
IMPORT_MS = {"onnxruntime": 40.0, "openvino": 120.0}
PRECISION_ORDER = {"cpu": ("int8", "fp32", "bf16", "fp16"), "gpu": ("fp16", "bf16", "fp32", "int8")}
_ENGINES = {"onnxruntime": ("onnxruntime", ("onnxruntime", "onnxruntime_gpu")), "openvino": ("openvino", ("openvino",))}


def engine_of(artifact: ArtifactFile) -> str:
    """The engine an artifact was built and gated for."""
    return str(artifact.target.get("runtime", "onnxruntime"))


def installed(engine: str) -> bool:
    if engine == "openvino":
        from sdk.runtime.openvino_backend import available

        return available()
    return True  # ONNX Runtime: its absence is reported when the backend is built


def gated(artifact: ArtifactFile) -> bool:
    """True when the artifact passed its parity or quality gate (a waived failure does not count)."""
    return artifact.parity is not None and artifact.parity.passed


@functools.cache
def engine_versions() -> dict[str, str]:
    """Installed engine versions, read from their ``*.dist-info`` folder names (``importlib.metadata`` alone costs
    ~25 ms to import, a tenth of a cold start). An engine that cannot be found is left out."""
    versions: dict[str, str] = {}
    for engine, (module, dists) in _ENGINES.items():
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            continue
        if spec is None or spec.origin is None:
            continue
        site = Path(spec.origin).parent.parent
        for dist in dists:
            found = sorted(site.glob(f"{dist}-*.dist-info"))
            if found:
                versions[engine] = found[-1].name[len(dist) + 1 : -len(".dist-info")]
                break
    return versions


def pinned_precision(manifest: Manifest, config: RuntimeConfig, precision: str | None) -> str | None:
    """The precision a load is held to: ``precision`` (it must exist: ``ManifestError`` otherwise), else
    ``config.precision`` when an artifact of it can run here (a preference, e.g. int8 on small devices), else None
    (automatic: the fastest that passed its gate)."""
    if precision is not None:
        return manifest.artifact(kind="onnx", precision=precision).precision
    if config.precision is None:
        return None
    onnx = [a for a in manifest.artifacts if a.kind == "onnx"]
    runnable = [a for a in onnx if config.backend != "auto" or installed(engine_of(a))]
    return config.precision if any(a.precision == config.precision for a in runnable) else None


def gpu_likely(config: RuntimeConfig) -> bool:
    """Whether ONNX Runtime will run on a GPU here, checked without importing it (for the prior's precision order)."""
    return list(config.providers) != [CPU] and cuda_likely()


@record
class Options:
    """The artifacts that could serve a load, best-ranked first, and what was left out and why."""

    artifacts: tuple[ArtifactFile, ...]
    notes: tuple[str, ...] = ()


def options(manifest: Manifest, precision: str | None, config: RuntimeConfig, *, gpu: bool = False) -> Options:
    """Every ONNX artifact of ``precision`` (None: every one that passed its gate, else the manifest's default) that
    ``config.backend`` allows and whose engine is installed, ranked by ``rank``."""
    onnx = [a for a in manifest.artifacts if a.kind == "onnx"]
    if precision is None:
        pool = [a for a in onnx if gated(a)] or [manifest.artifact()]
    else:
        pool = [a for a in onnx if a.precision == precision]
    if config.backend != "auto":
        chosen = [a for a in pool if engine_of(a) == config.backend]
        if not chosen:
            wanted = precision or manifest.artifact().precision
            same = [a for a in onnx if a.precision == wanted]
            have = ", ".join(f"{a.file} ({engine_of(a)})" for a in same) or "none"
            raise ManifestError(
                f"{manifest.ref} has no {wanted} artifact for backend {config.backend} (it has: {have})",
                hint="pick another precision, set backend=auto, or compile the model with that engine installed",
            )
        return Options(rank(chosen, gpu=gpu))
    usable = [a for a in pool if installed(engine_of(a))]
    skipped = tuple(
        f'{a.file} is for {engine_of(a)}, which is not installed here (pip install "aiaas-sdk[{engine_of(a)}]")'
        for a in pool
        if a not in usable
    )
    return Options(rank(usable or pool[:1], gpu=gpu), skipped)


def rank(artifacts: Sequence[ArtifactFile], *, gpu: bool = False) -> tuple[ArtifactFile, ...]:
    """The prior, best first: engines that do not compile at load (ONNX Runtime) before those that do (OpenVINO),
    then precision (int8, fp32, bf16, fp16 on a CPU; fp16 first on a GPU), then the manifest's order."""
    order = PRECISION_ORDER["gpu" if gpu else "cpu"]

    def key(item: tuple[int, ArtifactFile]) -> tuple[int, int, int]:
        index, artifact = item
        where = order.index(artifact.precision) if artifact.precision in order else len(order)
        return (engine_of(artifact) != "onnxruntime", where, index)

    return tuple(a for _, a in sorted(enumerate(artifacts), key=key))


@record
class Candidate:
    """One artifact as the decision sees it: what a measurement on this device recorded, if any."""

    file: str
    engine: str
    precision: str
    call_ms: float | None = None  # median per call on the probe input
    load_ms: float | None = None  # read, verify, build (compile) the session, as this start would pay it
    import_ms: float | None = None  # the engine's import in a fresh process


@record
class Decision:
    file: str
    measured: bool  # False: the prior decided (nothing measured on this device yet)
    reason: str


def decide(candidates: Sequence[Candidate], usage: str, *, margin: float = MARGIN) -> Decision:
    """The candidate to load for a process of ``usage`` (oneshot, function, server). ``candidates`` come best-ranked
    first (``rank``); a measured rival must beat the first by ``margin`` to be chosen."""
    first = candidates[0]
    if usage == "server":
        if all(c.call_ms is not None for c in candidates):
            timings = {c.file: float(c.call_ms or 0.0) for c in candidates}
            listed = ", ".join(f"{f} {ms:.2f} ms" for f, ms in timings.items())
            return Decision(fastest(timings, margin=margin), True, f"fastest per call (median): {listed}")
        return Decision(first.file, False, f"{first.file}: not measured on this device")
    calls = EXPECTED_CALLS[usage]
    if all(c.call_ms is not None and c.load_ms is not None for c in candidates):
        costs = {
            c.file: (c.import_ms if c.import_ms is not None else IMPORT_MS.get(c.engine, 0.0))
            + float(c.load_ms or 0.0)
            + calls * float(c.call_ms or 0.0)
            for c in candidates
        }
        listed = ", ".join(f"{f} {ms:.0f} ms" for f, ms in costs.items())
        call_s = "call" if calls == 1 else "calls"
        reason = f"cheapest for a {usage} process (import + load + {calls} {call_s}, measured on this device): {listed}"
        return Decision(fastest(costs, margin=margin), True, reason)
    why = "no compile step" if first.engine == "onnxruntime" else first.engine
    return Decision(
        first.file,
        False,
        f"{first.file} for a {usage} process: nothing measured on this device yet, so the prior decides "
        f"({first.engine}: {why}; {first.precision} ranks first of the precisions that passed their gate)",
    )


def fastest(timings: Mapping[str, float], *, margin: float = MARGIN) -> str:
    """The fastest candidate, unless it beats the first listed (the best-ranked: ONNX Runtime first) by less
    than ``margin``: a choice that noise could flip is not worth leaving the default for."""
    first = next(iter(timings))
    best = min(timings, key=lambda k: (timings[k], list(timings).index(k)))
    return best if timings[best] < timings[first] * (1 - margin) else first


def probe_feeds(inputs: Sequence[TensorSpec], length: int = PROBE_LENGTH) -> dict[str, np.ndarray]:
    """A representative input: batch 1, other dynamic dimensions ``length`` (within ``max_shape``); integer
    inputs zero (a valid id, the padding token for text), float inputs a fixed random draw (zeros hit fast paths)."""
    rng = np.random.default_rng(0)
    feeds = {}
    for spec in inputs:
        names = spec.dim_names or (None,) * len(spec.shape)
        limits = spec.max_shape or (-1,) * len(spec.shape)
        shape = []
        for axis, (size, name, limit) in enumerate(zip(spec.shape, names, limits)):
            if size != -1:
                shape.append(size)
            elif name == "batch" or (axis == 0 and name is None):
                shape.append(1)
            else:
                shape.append(length if limit == -1 else min(length, limit))
        dtype = np.dtype(spec.dtype)
        if dtype.kind == "f":
            feeds[spec.name] = rng.standard_normal(shape).astype(dtype)
        else:
            feeds[spec.name] = np.zeros(shape, dtype=dtype)
    return feeds


def probe_set(inputs: Sequence[TensorSpec]) -> list[dict[str, np.ndarray]]:
    """The probe inputs: at ``SHORT_PROBE_LENGTH`` and ``PROBE_LENGTH`` when the model has a dynamic dimension
    besides the batch (text: engines rank differently on short and long sequences), else the one probe."""
    probes = [probe_feeds(inputs, SHORT_PROBE_LENGTH), probe_feeds(inputs, PROBE_LENGTH)]
    shapes = [tuple(tuple(v.shape) for v in p.values()) for p in probes]
    return probes if shapes[0] != shapes[1] else probes[1:]


def probe_label(probes: Sequence[Mapping[str, np.ndarray]]) -> str:
    """How the probes are named in the record, e.g. ``1x16+1x128``."""
    return "+".join("x".join(str(d) for d in next(iter(p.values())).shape) for p in probes if p)


def combine(per_probe: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Each candidate's geometric mean over the probes' medians: a ranking by the mean of its speed ratios, so
    neither the long probe's larger milliseconds nor the short one's dominate."""
    files = list(per_probe[0])
    return {f: float(np.exp(np.mean([np.log(max(t[f], 1e-6)) for t in per_probe]))) for f in files}


def time_probes(
    runs: Mapping[str, Callable[[Mapping[str, np.ndarray]], Any]],
    probes: Sequence[Mapping[str, np.ndarray]],
    rounds: int,
) -> dict[str, float]:
    """``time_calls`` on each probe, combined (``combine``)."""
    return combine([time_calls(runs, feeds, rounds) for feeds in probes])


def time_calls(
    runs: Mapping[str, Callable[[Mapping[str, np.ndarray]], Any]], feeds: Mapping[str, np.ndarray], rounds: int
) -> dict[str, float]:
    """Median milliseconds per call of each candidate, after two warm-up calls each. The candidates take turns
    call by call, so a burst of noise from the rest of the machine hits them alike."""
    for run in runs.values():
        for _ in range(2):
            run(feeds)
    times: dict[str, list[float]] = {key: [] for key in runs}
    for _ in range(rounds):
        for key, run in runs.items():
            start = time.perf_counter()
            run(feeds)
            times[key].append(time.perf_counter() - start)
    return {key: float(np.median(values) * 1000) for key, values in times.items()}


@functools.cache  # the CPU does not change under a running process
def device_signature() -> str:
    """What makes one CPU faster with one engine than another: model name, instruction-set flags, core count."""
    cpu = this_cpu()  # read once per process (sdk.artifacts.cpu); platform.processor() would spawn `uname -p`
    parts = [cpu.machine, cpu.model, " ".join(cpu.flags), str(os.cpu_count())]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def cache_key(artifacts: Sequence[ArtifactFile], versions: Mapping[str, str], config: RuntimeConfig) -> str:
    items = sorted(f"{a.sha256}:{engine_of(a)}:{versions.get(engine_of(a), '')}" for a in artifacts)
    probes = f"probes={SHORT_PROBE_LENGTH}+{PROBE_LENGTH}"  # a measurement made on other probes is not reused
    text = "|".join([*items, device_signature(), f"threads={config.threads}", f"spin={config.allow_spinning}", probes])
    return hashlib.sha256(text.encode()).hexdigest()


def compile_cache_dir(artifact: ArtifactFile, version: str, config: RuntimeConfig, *, create: bool) -> Path | None:
    """The folder for one artifact's compiled model (OpenVINO's ``CACHE_DIR``), keyed like the choice cache: the
    artifact's sha256, the engine version, this CPU, the thread count. None when caching is off, or the folder
    cannot be made (a read-only home, as in Lambda: the engine then compiles every start)."""
    if not config.compile_cache:
        return None
    text = f"{artifact.sha256}|{engine_of(artifact)} {version}|{device_signature()}|threads={config.threads}"
    path = xdg_cache_home() / COMPILE_CACHE / hashlib.sha256(text.encode()).hexdigest()[:32]
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError:
            return None
    return path


def compiled(path: Path | None) -> bool:
    """True when ``path`` holds a compiled model from an earlier start."""
    try:
        return path is not None and any(path.iterdir())
    except OSError:
        return False


class ChoiceCache:
    """Past measurements in one JSON file (``~/.cache/aiaas/backend-choice.json``). Unreadable or unwritable is
    not an error: a server measures again (a read-only home, as in Lambda, never measures: see the module doc)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or xdg_cache_home() / CACHE_FILE

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, key: str) -> dict[str, Any] | None:
        entry = self._read().get(key)
        return entry if isinstance(entry, dict) and isinstance(entry.get("file"), str) else None

    def put(self, key: str, entry: Mapping[str, Any]) -> bool:
        data = self._read()
        data[key] = dict(entry)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            return False
        return True


def describe(entry: Mapping[str, Any], *, cached: bool) -> str:
    timings = entry.get("timings_ms", {})
    listed = ", ".join(f"{file} {ms:.2f} ms" for file, ms in timings.items())
    when = "measured earlier on this device" if cached else "measured now on this device"
    probe = str(entry.get("probe", "?"))
    how = "geometric mean of the probes' medians" if "+" in probe else "median"
    return f"{entry['file']} chosen by speed ({when}, {probe} probe, {how}): {listed}"
