"""The GPU check's logic, run on the CPU: bundle a model here, then compare torch against ORT fp32 outputs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def _module():
    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_prepare_then_run_on_cpu_reproduces_the_onnx_outputs(tmp_path: Path) -> None:
    gpu_check = _module()
    gpu_check.prepare(tmp_path / "bundle", ["digits-cnn"], REPO)
    assert (tmp_path / "bundle" / "digits-cnn.pt").is_file()
    rows = gpu_check.run(tmp_path / "bundle", "cpu")
    fp32 = next(r for r in rows if r["precision"] == "fp32")
    assert fp32["max |diff| vs ORT fp32 (CPU)"] < 1e-4


@pytest.mark.gpu
def test_cuda_fp16_stays_close_to_fp32_onnx(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs an NVIDIA GPU with CUDA: none on this machine")
    gpu_check = _module()
    gpu_check.prepare(tmp_path / "bundle", ["digits-cnn"], REPO)
    rows = gpu_check.run(tmp_path / "bundle", "cuda")
    assert all(r.get("max |diff| vs ORT fp32 (CPU)", 0) < 5e-2 for r in rows)
