"""Which ONNX Runtime execution providers to ask for, from what this machine really has.

An onnxruntime-gpu wheel lists the TensorRT and CUDA providers even with no GPU and then silently runs on the CPU
(FACTS.md), so availability is probed from the driver and libraries, and what a session really uses is read back from
``session.get_providers()`` afterwards.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Sequence
from dataclasses import dataclass

TENSORRT = "TensorrtExecutionProvider"
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
PREFERENCE = (TENSORRT, CUDA, CPU)
AUTO = "auto"


@dataclass(frozen=True)
class Machine:
    """What the providers need from the machine; ``None`` means usable, a string says why not."""

    cuda: str | None
    tensorrt: str | None


@dataclass(frozen=True)
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


@functools.lru_cache(maxsize=1)
def probe_machine() -> Machine:
    """Probe once per process for a CUDA driver and the TensorRT runtime library."""
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


def plan_providers(requested: Sequence[str], available: Sequence[str], machine: Machine) -> ProviderPlan:
    """The providers to pass to ``InferenceSession``, best first, always ending with the CPU fallback.

    ``requested`` is a preference list or ``("auto",)`` for TensorRT, CUDA, CPU in that order.
    """
    wanted = list(PREFERENCE) if list(requested) == [AUTO] else [p for p in requested if p != AUTO]
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
