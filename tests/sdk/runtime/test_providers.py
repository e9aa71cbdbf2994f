from __future__ import annotations

from sdk.runtime.providers import CPU, CUDA, TENSORRT, Machine, plan_providers

GPU_BOX = Machine(cuda=None, tensorrt=None)
GPU_NO_TRT = Machine(cuda=None, tensorrt="the TensorRT runtime (libnvinfer) is not installed")
CPU_BOX = Machine(cuda="no CUDA driver (libcuda) on this machine", tensorrt="needs a CUDA GPU")
GPU_WHEEL = [TENSORRT, CUDA, CPU]


def test_auto_on_a_full_gpu_host_prefers_tensorrt_then_cuda() -> None:
    assert plan_providers(["auto"], GPU_WHEEL, GPU_BOX).providers == (TENSORRT, CUDA, CPU)


def test_auto_without_tensorrt_library_falls_back_to_cuda_and_says_why() -> None:
    plan = plan_providers(["auto"], GPU_WHEEL, GPU_NO_TRT)
    assert plan.providers == (CUDA, CPU)
    assert plan.skipped == ((TENSORRT, "the TensorRT runtime (libnvinfer) is not installed"),)


def test_gpu_wheel_on_a_cpu_machine_does_not_ask_for_gpu_providers() -> None:
    # onnxruntime-gpu lists CUDA/TensorRT even with no GPU, then silently runs on the CPU (FACTS.md).
    plan = plan_providers(["auto"], GPU_WHEEL, CPU_BOX)
    assert plan.providers == (CPU,)
    assert [p for p, _ in plan.skipped] == [TENSORRT, CUDA]
    assert any("libcuda" in note for note in plan.notes)


def test_cpu_wheel_reports_gpu_providers_as_not_built_in() -> None:
    plan = plan_providers(["auto"], ["AzureExecutionProvider", CPU], GPU_BOX)
    assert plan.providers == (CPU,)
    assert all("not built into this onnxruntime" in reason for _, reason in plan.skipped)


def test_explicit_order_is_kept_and_cpu_is_always_the_last_fallback() -> None:
    assert plan_providers([CUDA], GPU_WHEEL, GPU_BOX).providers == (CUDA, CPU)
    assert plan_providers([CPU, CUDA], GPU_WHEEL, GPU_BOX).providers == (CPU, CUDA)
