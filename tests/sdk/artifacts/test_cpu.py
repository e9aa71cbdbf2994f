"""The CPU record a manifest carries: the model and a short, stable signature of the float-kernel instruction sets."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest

from sdk.artifacts.cpu import CPUINFO, isa_signature, parse_cpuinfo, this_cpu, this_cpu_record
from sdk.artifacts.manifest import CpuRecord

# First lines of real /proc/cpuinfo files, flags cut to the ones that matter plus a few others.
ZEN3_AVX2 = """processor	: 0
vendor_id	: AuthenticAMD
model name	: AMD EPYC 7B13
flags		: fpu sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi2 sha_ni vaes vpclmulqdq

processor	: 1
model name	: AMD EPYC 7B13
flags		: fpu avx512f avx512bw avx512vl avx512dq
"""
ZEN4 = (
    "processor\t: 0\nmodel name\t: AMD EPYC 9R14\nflags\t\t: sse4_2 avx fma avx2 avx512f avx512dq avx512ifma "
    "avx512cd avx512bw avx512vl avx512_bf16 avx512vbmi avx512_vbmi2 avx512_vnni avx512_bitalg\n"
)
SAPPHIRE_RAPIDS = (
    "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\nflags\t\t: avx avx2 fma avx512f avx512dq "
    "avx512bw avx512vl avx512_vnni avx512_bf16 avx_vnni avx512_fp16 amx_bf16 amx_tile amx_int8\n"
)
ALDER_LAKE = "model name\t: 12th Gen Intel(R) Core(TM) i7-12700\nflags\t\t: sse4_2 avx fma avx2 avx_vnni\n"
GRAVITON3 = """processor	: 0
BogoMIPS	: 2100.00
Features	: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics asimddp sve i8mm bf16 svebf16
CPU implementer	: 0x41
CPU part	: 0xd40
"""


@pytest.mark.parametrize(
    ("text", "model", "isa"),
    [
        (ZEN3_AVX2, "AMD EPYC 7B13", "avx2"),
        (ZEN4, "AMD EPYC 9R14", "avx512+vnni+bf16"),
        (SAPPHIRE_RAPIDS, "Intel(R) Xeon(R) Platinum 8480+", "avx512+vnni+bf16+fp16+amx"),
        (ALDER_LAKE, "12th Gen Intel(R) Core(TM) i7-12700", "avx2+vnni"),
        (GRAVITON3, "implementer 0x41 part 0xd40", "sve+dotprod+bf16+i8mm"),
        ("", "", "unknown"),
    ],
)
def test_cpuinfo_gives_the_model_and_the_instruction_set_signature(text: str, model: str, isa: str) -> None:
    cpu = parse_cpuinfo(text, "x86_64")
    assert (cpu.model, cpu.isa) == (model, isa)
    assert cpu.record() == CpuRecord(model=model, isa=isa)


def test_avx512_needs_the_four_core_subsets_that_torch_and_onednn_need() -> None:
    assert isa_signature(["avx2", "fma", "avx512f"]) == "avx2"  # AVX-512F alone (Knights Landing): AVX2 kernels
    assert isa_signature(["avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq"]) == "avx512"
    assert isa_signature(["sse4_2", "avx"]) == "avx"


def test_this_cpu_is_what_proc_cpuinfo_says() -> None:
    try:
        text = CPUINFO.read_text(encoding="utf-8", errors="replace")
    except OSError:
        pytest.skip("no /proc/cpuinfo here")
    expected = parse_cpuinfo(text, platform.machine())
    assert this_cpu().flags == expected.flags and this_cpu().isa == expected.isa
    assert this_cpu_record().isa == expected.isa != "" and this_cpu_record().model == this_cpu().model


def test_cpu_is_read_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    this_cpu()  # cached by now
    monkeypatch.setattr(Path, "read_text", lambda *a, **k: pytest.fail("read /proc/cpuinfo again"))
    assert this_cpu().isa == this_cpu_record().isa
