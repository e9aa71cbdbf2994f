"""This machine's CPU: its model, and a short signature of the instruction sets that change float kernels.

PyTorch, oneDNN and ONNX Runtime pick their kernels by instruction set, so float results differ in the last bits
from an AVX2-only CPU to an AVX-512 one (a model retrained on each is not bit-identical). A manifest therefore
records the CPU that produced its numbers (``source.cpu``), and the runtime keys its engine measurements by it.
Neutral on purpose: ``sdk.artifacts`` writes the record and ``sdk.runtime`` reads it, and neither imports the other
way. ``/proc/cpuinfo`` is read once per process: the CPU does not change under a running one.
"""

from __future__ import annotations

import functools
import platform
from collections.abc import Iterable
from pathlib import Path

from sdk._record import record
from sdk.artifacts.manifest import CpuRecord

CPUINFO = Path("/proc/cpuinfo")

# x86-64: torch and oneDNN use their AVX-512 kernels only with all four of these (oneDNN's "avx512_core").
_AVX512 = frozenset({"avx512f", "avx512bw", "avx512vl", "avx512dq"})
# Extensions that add kernels on top of the base level: (token in the signature, flags that provide it).
_X86_EXTRAS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("vnni", ("avx512_vnni", "avx_vnni")),
    ("bf16", ("avx512_bf16",)),
    ("fp16", ("avx512_fp16",)),
    ("amx", ("amx_tile",)),
)
_ARM_EXTRAS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("dotprod", ("asimddp",)),
    ("bf16", ("bf16",)),
    ("i8mm", ("i8mm",)),
)


@record
class CpuDescription:
    """What /proc/cpuinfo says about the first processor (empty strings where it says nothing)."""

    machine: str
    model: str
    flags: tuple[str, ...]

    @property
    def isa(self) -> str:
        return isa_signature(self.flags)

    def record(self) -> CpuRecord:
        return CpuRecord(model=self.model, isa=self.isa)


def isa_signature(flags: Iterable[str]) -> str:
    """A short, stable name for the instruction sets that change float kernels: a base level and its extensions
    joined by '+', e.g. ``avx2``, ``avx512+vnni+bf16``, ``sve+bf16+i8mm``; ``unknown`` without flags."""
    have = frozenset(flags)
    if _AVX512.issubset(have):
        base, extras = "avx512", _X86_EXTRAS
    elif {"avx2", "fma"}.issubset(have):
        base, extras = "avx2", _X86_EXTRAS
    elif "avx" in have:
        base, extras = "avx", _X86_EXTRAS
    elif "sse4_2" in have:
        base, extras = "sse4_2", _X86_EXTRAS
    elif "sve2" in have or "sve" in have:
        base, extras = ("sve2" if "sve2" in have else "sve"), _ARM_EXTRAS
    elif "asimd" in have:
        base, extras = "neon", _ARM_EXTRAS
    else:
        return "unknown"
    return "+".join([base, *(token for token, names in extras if any(n in have for n in names))])


def parse_cpuinfo(text: str, machine: str = "") -> CpuDescription:
    """The first processor's model and flags. x86 says ``model name`` and ``flags``; ARM says ``Features`` and
    names the part by ``CPU implementer``/``CPU part`` numbers."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if "flags" in fields or "Features" in fields:
                break  # the end of the first processor's block
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    model = fields.get("model name", "")
    if not model and "CPU part" in fields:
        model = f"implementer {fields.get('CPU implementer', '?')} part {fields['CPU part']}"
    flags = (fields.get("flags") or fields.get("Features") or "").split()
    return CpuDescription(machine=machine, model=model, flags=tuple(flags))


@functools.cache
def this_cpu() -> CpuDescription:
    """This machine's CPU (read once per process; empty fields where /proc/cpuinfo cannot be read)."""
    try:
        text = CPUINFO.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    description = parse_cpuinfo(text, platform.machine())
    if not description.model:
        description = CpuDescription(machine=description.machine, model=platform.processor(), flags=description.flags)
    return description


def this_cpu_record() -> CpuRecord:
    """The ``source.cpu`` record for a manifest produced on this machine."""
    return this_cpu().record()
