"""A compile replaces its output folder whole or not at all: every gate passes before anything is written, the folder
is written beside the old one and swapped in, and a failure (a late gate, an exception, Ctrl-C) leaves the previous
folder byte-identical with no staging folder behind."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from sdk.artifacts import read_manifest, verify_artifact
from sdk.compile import compile_source
from sdk.compile import package as package_module
from sdk.compile import tensorrt as trt_support
from sdk.compile.sources import CompileSource, from_torch_factory
from sdk.errors import ParityFailure

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def tiny() -> CompileSource:
    return from_torch_factory(f"{HERE / 'tiny_factory.py'}:make", None, None)


@pytest.fixture
def previous(tiny: CompileSource, tmp_path: Path) -> Path:
    """A good artifact folder from an earlier compile, with one file of its own that a new compile must not keep."""
    out = tmp_path / "models" / "tiny"
    compile_source(tiny, out, precisions="fp32")
    (out / "notes.txt").write_text("from the earlier compile\n")
    return out


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def fake_tensorrt(monkeypatch: pytest.MonkeyPatch, tiny: CompileSource, *, shift: float) -> None:
    """TensorRT cannot be installed here (FACTS.md): stand in for its build and run, with outputs off by ``shift``."""
    monkeypatch.setitem(sys.modules, "tensorrt", SimpleNamespace(__version__="10.9.0"))
    monkeypatch.setattr(trt_support, "unavailable_reason", lambda *a, **k: None)
    monkeypatch.setattr(trt_support, "gpu_compute_capability", lambda: "9.0")
    monkeypatch.setattr(trt_support, "build_engine", lambda model, inputs, precision: b"serialized engine")

    def run_engine(engine: bytes, inputs: dict[str, np.ndarray], names: tuple[str, ...]) -> dict[str, np.ndarray]:
        return {k: v + shift for k, v in tiny.run(inputs).items()}

    monkeypatch.setattr(trt_support, "run_engine", run_engine)


def test_an_engine_failing_its_gate_leaves_the_previous_folder_byte_identical(
    tiny: CompileSource, previous: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot(previous)
    fake_tensorrt(monkeypatch, tiny, shift=0.5)
    with pytest.raises(ParityFailure, match=r"engines/fp32-sm90-trt10\.9\.0-\w+\.plan.*max \|diff\| 0\.5"):
        compile_source(tiny, previous, precisions="fp32", tensorrt=True)
    assert snapshot(previous) == before
    assert sorted(p.name for p in previous.parent.iterdir()) == ["tiny"]


def test_an_engine_that_passes_its_gate_ships_beside_the_onnx(
    tiny: CompileSource, previous: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_tensorrt(monkeypatch, tiny, shift=0.0)
    result = compile_source(tiny, previous, precisions="fp32", tensorrt=True)
    assert result.manifest is not None
    assert [a.kind for a in result.manifest.artifacts] == ["onnx", "tensorrt"]
    verify_artifact(previous, read_manifest(previous))


@pytest.mark.parametrize("fault", [KeyboardInterrupt, OSError])
def test_an_interrupted_write_leaves_the_previous_folder_and_no_staging_folder(
    tiny: CompileSource, previous: Path, monkeypatch: pytest.MonkeyPatch, fault: type[BaseException]
) -> None:
    """The model files are written, then the manifest write is interrupted (Ctrl-C, a full disk)."""
    before = snapshot(previous)

    def interrupted(self: package_module.ArtifactWriter) -> None:
        written.extend(p.name for p in self.folder.iterdir())
        raise fault("interrupted")

    written: list[str] = []

    monkeypatch.setattr(package_module.ArtifactWriter, "write", interrupted)
    with pytest.raises(fault):
        compile_source(tiny, previous, precisions="fp32,int8")
    assert snapshot(previous) == before
    assert sorted(p.name for p in previous.parent.iterdir()) == ["tiny"]
    assert sorted(written) == ["model.int8.onnx", "model.onnx"]  # the fault came after the model files


def test_a_successful_compile_replaces_the_previous_folder_whole(tiny: CompileSource, previous: Path) -> None:
    (previous / "engines").mkdir()
    (previous / "engines" / "stale.plan").write_bytes(b"an engine from another model")
    result = compile_source(tiny, previous, precisions="fp32,int8")
    assert result.manifest is not None
    listed = {"manifest.json", *(a.file for a in result.manifest.artifacts)}
    assert set(snapshot(previous)) == listed == {"manifest.json", "model.onnx", "model.int8.onnx"}
    verify_artifact(previous, read_manifest(previous))
    assert sorted(p.name for p in previous.parent.iterdir()) == ["tiny"]


def test_when_the_swap_itself_fails_the_previous_folder_is_put_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second rename (staging -> target) fails, as it could on a full or read-only disk: a fault we cannot cause
    on a tmpfs, hence the patched rename."""
    target = tmp_path / "out"
    target.mkdir()
    (target / "model.onnx").write_bytes(b"old")
    real_rename = Path.rename

    def rename(self: Path, destination: Path) -> Path:
        if ".staging-" in self.name:
            raise OSError("No space left on device")
        return real_rename(self, destination)

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(OSError, match="No space left"), package_module.staged_folder(target) as staging:
        (staging / "model.onnx").write_bytes(b"new")
    assert (target / "model.onnx").read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
