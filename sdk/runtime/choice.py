"""Which engine runs a model on this device: measured once on the device itself, then remembered.

A manifest can hold several artifacts of one precision, each checked by the gate for the engine it targets (int8:
ONNX Runtime's dynamic int8 and a static Q/DQ int8 for OpenVINO). Which is faster depends on the CPU: on AMD Zen 4
with avx512_vnni OpenVINO's int8 ran MiniLM 1x128 in 6.3 ms vs 10.3 ms (FACTS.md); on an AVX2-only EPYC, 30 ms vs
15 ms the other way round (benchmarks/compile_speed.py). So with ``backend="auto"`` the runtime times each candidate
on a probe input, taking turns call by call, and keeps the fastest (by a clear margin); the choice is cached per
(artifacts, engine versions, CPU, threads), so the measurement is paid once per device, not per load.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sdk.artifacts.cpu import this_cpu
from sdk.artifacts.manifest import ArtifactFile, Manifest, TensorSpec
from sdk.errors import ManifestError
from sdk.runtime.config import RuntimeConfig
from sdk.settings import xdg_cache_home

PROBE_LENGTH = 128  # non-batch dynamic dimensions in the probe input (MiniLM: a 128-token sentence)
PROBE_RUNS = 10
MARGIN = 0.05  # leave the first-listed engine only for a clear win
CACHE_FILE = "backend-choice.json"


def engine_of(artifact: ArtifactFile) -> str:
    """The engine an artifact was built and gated for."""
    return str(artifact.target.get("runtime", "onnxruntime"))


def installed(engine: str) -> bool:
    if engine == "openvino":
        from sdk.runtime.openvino_backend import available

        return available()
    return True  # ONNX Runtime: its absence is reported when the backend is built


@dataclass(frozen=True)
class Options:
    """The artifacts that could serve a load, and what was left out and why."""

    artifacts: tuple[ArtifactFile, ...]
    notes: tuple[str, ...] = ()


def options(manifest: Manifest, precision: str, config: RuntimeConfig) -> Options:
    """Every ONNX artifact of ``precision`` that ``config.backend`` allows and whose engine is installed."""
    same = [a for a in manifest.artifacts if a.kind == "onnx" and a.precision == precision]
    if config.backend != "auto":
        chosen = [a for a in same if engine_of(a) == config.backend]
        if not chosen:
            have = ", ".join(f"{a.file} ({engine_of(a)})" for a in same) or "none"
            raise ManifestError(
                f"{manifest.ref} has no {precision} artifact for backend {config.backend} (it has: {have})",
                hint="pick another precision, set backend=auto, or compile the model with that engine installed",
            )
        return Options(tuple(chosen))
    usable = tuple(a for a in same if installed(engine_of(a)))
    skipped = tuple(
        f'{a.file} is for {engine_of(a)}, which is not installed here (pip install "aiaas-sdk[{engine_of(a)}]")'
        for a in same
        if a not in usable
    )
    return Options(usable or tuple(same[:1]), skipped)


def probe_feeds(inputs: Sequence[TensorSpec]) -> dict[str, np.ndarray]:
    """A representative input: batch 1, other dynamic dimensions ``PROBE_LENGTH`` (within ``max_shape``); integer
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
                shape.append(PROBE_LENGTH if limit == -1 else min(PROBE_LENGTH, limit))
        dtype = np.dtype(spec.dtype)
        if dtype.kind == "f":
            feeds[spec.name] = rng.standard_normal(shape).astype(dtype)
        else:
            feeds[spec.name] = np.zeros(shape, dtype=dtype)
    return feeds


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


def fastest(timings: Mapping[str, float], *, margin: float = MARGIN) -> str:
    """The fastest candidate, unless it beats the first listed (the manifest's order: ONNX Runtime first) by less
    than ``margin``: a choice that noise could flip is not worth leaving the default engine for."""
    first = next(iter(timings))
    best = min(timings, key=lambda k: (timings[k], list(timings).index(k)))
    return best if timings[best] < timings[first] * (1 - margin) else first


@functools.cache  # the CPU does not change under a running process
def device_signature() -> str:
    """What makes one CPU faster with one engine than another: model name, instruction-set flags, core count."""
    cpu = this_cpu()  # read once per process (sdk.artifacts.cpu)
    parts = [cpu.machine, platform.processor(), cpu.model, " ".join(cpu.flags), str(os.cpu_count())]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def cache_key(artifacts: Sequence[ArtifactFile], versions: Mapping[str, str], config: RuntimeConfig) -> str:
    items = sorted(f"{a.sha256}:{engine_of(a)}:{versions.get(engine_of(a), '')}" for a in artifacts)
    text = "|".join([*items, device_signature(), f"threads={config.threads}", f"spin={config.allow_spinning}"])
    return hashlib.sha256(text.encode()).hexdigest()


class ChoiceCache:
    """Past measurements in one JSON file (``~/.cache/aiaas/backend-choice.json``). Unreadable or unwritable is
    not an error: the runtime measures again (a read-only home, as in Lambda, costs one probe per cold start)."""

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
    return f"{entry['file']} chosen by speed ({when}, {entry.get('probe', '?')} probe, median): {listed}"
