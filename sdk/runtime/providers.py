"""Which ONNX Runtime execution providers to ask for, from what this machine really has.

An onnxruntime-gpu wheel lists the TensorRT and CUDA providers even with no GPU and then silently runs on the CPU
(FACTS.md), so availability is probed from the driver and libraries, and what a session really uses is read back from
``session.get_providers()`` afterwards. The probe runs only when the installed onnxruntime offers a GPU provider that
was asked for: ``ctypes.util.find_library`` spawns ``ldconfig``/``gcc`` and cost ~80 ms of every cold start on a
CPU-only install, where there is nothing to probe.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
from collections.abc import Callable, Sequence
from pathlib import Path

from sdk._record import record

TENSORRT = "TensorrtExecutionProvider"
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
PREFERENCE = (TENSORRT, CUDA, CPU)
AUTO = "auto"


@record
class Machine:
    """What the providers need from the machine; ``None`` means usable, a string says why not."""

    cuda: str | None
    tensorrt: str | None


@record
class ProviderPlan:
    providers: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...]

    @property
    def notes(self) -> tuple[str, ...]:
        return tuple(f"{provider} not used: {reason}" for provider, reason in self.skipped)


def _loadable(*names: str) -> bool:
    for name in names:
        try:
            ctypes.CDLL(name)
            return True
        except OSError:
            continue
    return False


_UNPROBED = Machine(cuda="not probed", tensorrt="not probed")  # never read: no GPU provider is built in


@functools.lru_cache(maxsize=1)
def probe_machine() -> Machine:
    """Probe once per process for a CUDA driver and the TensorRT runtime library."""
    import ctypes.util  # imports subprocess (~3 ms): only when there is something to probe

    cuda = (
        None
        if _loadable("libcuda.so.1", "libcuda.so", ctypes.util.find_library("cuda") or "")
        else ("no CUDA driver (libcuda) on this machine")
    )
    if cuda:
        tensorrt: str | None = "needs a CUDA GPU"
    elif _loadable("libnvinfer.so.10", "libnvinfer.so", ctypes.util.find_library("nvinfer") or ""):
        tensorrt = None
    else:
        tensorrt = "the TensorRT runtime (libnvinfer) is not installed"
    return Machine(cuda=cuda, tensorrt=tensorrt)


@functools.lru_cache(maxsize=1)
def cuda_likely() -> bool:
    """Whether ONNX Runtime can run on a CUDA GPU here, without importing it (~40 ms) or spawning ``ldconfig``: its
    package ships the CUDA provider library and the CUDA driver loads."""
    try:
        spec = importlib.util.find_spec("onnxruntime")
    except (ImportError, ValueError):
        return False
    if spec is None or not spec.submodule_search_locations:
        return False
    capi = Path(next(iter(spec.submodule_search_locations))) / "capi"
    return any(capi.glob("libonnxruntime_providers_cuda*")) and _loadable("libcuda.so.1")


def plan_providers(
    requested: Sequence[str], available: Sequence[str], machine: Machine | Callable[[], Machine]
) -> ProviderPlan:
    """The providers to pass to ``InferenceSession``, best first, always ending with the CPU fallback.

    ``requested`` is a preference list or ``("auto",)`` for TensorRT, CUDA, CPU in that order. ``machine`` may be a
    probe (``probe_machine``), called only when a GPU provider is both wanted and built into ``available``.
    """
    wanted = list(PREFERENCE) if list(requested) == [AUTO] else [p for p in requested if p != AUTO]
    if callable(machine):
        machine = machine() if any(p in available for p in wanted if p in (CUDA, TENSORRT)) else _UNPROBED
    chosen: list[str] = []
    skipped: list[tuple[str, str]] = []
    for provider in wanted:
        if provider in chosen:
            continue
        if provider not in available:
            if provider != CPU:
                skipped.append((provider, "not built into this onnxruntime (install aiaas-sdk[gpu] on a GPU host)"))
            continue
        reason = {CUDA: machine.cuda, TENSORRT: machine.tensorrt}.get(provider)
        if reason:
            skipped.append((provider, reason))
            continue
        chosen.append(provider)
    if CPU not in chosen:
        chosen.append(CPU)
    return ProviderPlan(tuple(chosen), tuple(skipped))
