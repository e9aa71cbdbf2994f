"""The layered bases rebuilt in torch for finetune mode: the digits CNN and the sunspots LSTM.

The module comes from the recipe's model class (``models/<recipe>/model.py``), its weights from the artifact's own
ONNX initializers, read from the verified bytes (by name or name suffix; an LSTM's gates reordered back from ONNX's
i,o,f,c), and it is checked against the artifact on the examples before anything trains: a module that does not
reproduce the artifact is refused (``ParityFailure``).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sdk._record import record
from sdk.adaptation.features import BATCH, Base
from sdk.artifacts.integrity import read_verified
from sdk.artifacts.manifest import Manifest
from sdk.compile.recipe import find_recipe
from sdk.compile.torch_export import import_torch, run_torch
from sdk.errors import ConfigError, InvalidInput, ModelNotFound, ParityFailure

REBUILD_TOLERANCE = 1e-3  # max |diff| per unit of the output's scale, rebuilt module vs the artifact (float32 both)


@record
class Architecture:
    """A recipe model this mode can rebuild: where its class lives, and its layers in order (first to last)."""

    recipe: str
    module: str  # the model module inside the recipe's folder
    cls: str
    kind: str  # "images" (a classifier) or "series" (a forecaster)
    layers: tuple[str, ...]


ARCHITECTURES = (
    Architecture("digits-cnn", "model", "DigitsCNN", "images", ("features.0", "features.2", "head.1", "head.4")),
    Architecture("sunspots-lstm", "model", "SunspotLSTM", "series", ("lstm", "head", "linear")),
)


def architecture(manifest: Manifest) -> Architecture:
    """The architecture the base's manifest names (its recipe, or the recipe's model name), else the one whose
    weights the artifact holds (a base exported outside the recipe, e.g. with an extra output)."""
    recipe = Path(manifest.source.recipe).name.replace("_", "-") if manifest.source.recipe else ""
    for arch in ARCHITECTURES:
        if arch.recipe in (recipe, manifest.name):
            return arch
    if manifest.source.framework == "pytorch" and not manifest.source.recipe:
        for arch in ARCHITECTURES:  # no recipe recorded: the rebuilt module's own check decides
            if ("forecast" if arch.kind == "series" else "logits") in {s.name for s in manifest.outputs}:
                return arch
    known = ", ".join(a.recipe for a in ARCHITECTURES)
    raise InvalidInput(
        f"{manifest.ref} is not a model this release can finetune layer by layer (source "
        f"{manifest.source.framework} {manifest.source.recipe or 'without a recipe'}; finetunable: {known})",
        hint="adapt it in head mode (the default), or compile one of those recipes and finetune that",
    )


def model_class(arch: Architecture) -> Any:
    """The recipe's model class, imported from ``models/<recipe>/`` under the current directory."""
    try:
        folder = find_recipe(arch.recipe)
    except ModelNotFound as exc:  # say what finetuning needs
        raise ConfigError(
            f"finetuning {arch.recipe} needs its recipe's model class, and no recipe {arch.recipe!r} is here",
            hint="run from the project root (the folder holding models/), or adapt in head mode",
        ) from exc
    top = str(folder.parent.parent)
    if top not in sys.path:
        sys.path.insert(0, top)
    module = importlib.import_module(f"{folder.parent.name}.{folder.name}.{arch.module}")
    return getattr(module, arch.cls)


def onnx_weights(base: Base) -> dict[str, np.ndarray]:
    """The artifact's initializers by name (from the bytes checked against its sha256), LSTM weights renamed and
    reordered to PyTorch's ``lstm.weight_ih_l0``... (ONNX gates i,o,f,c; PyTorch i,f,g,o; biases split in two)."""
    import onnx
    from onnx import numpy_helper

    artifact = base.artifact
    if artifact.external:
        raise InvalidInput(f"{base.manifest.ref} keeps its weights in external shards: finetune reads one file only")
    graph = onnx.load_from_string(read_verified(base.folder, artifact.file, artifact.sha256, artifact.bytes)).graph
    weights = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for node in graph.node:
        if node.op_type != "LSTM":
            continue
        w, r, b = (weights.pop(node.input[i]) for i in (1, 2, 3))
        weights["lstm.weight_ih_l0"], weights["lstm.weight_hh_l0"] = _gates(w[0]), _gates(r[0])
        bias = np.split(b[0], 2)
        weights["lstm.bias_ih_l0"], weights["lstm.bias_hh_l0"] = _gates(bias[0]), _gates(bias[1])
    return weights


def _gates(value: np.ndarray) -> np.ndarray:
    """ONNX's LSTM gate blocks (i, o, f, c) in PyTorch's order (i, f, g, o)."""
    blocks = np.split(value, 4)
    return np.concatenate([blocks[0], blocks[2], blocks[3], blocks[1]])


def rebuild(base: Base, arch: Architecture) -> Any:
    """The recipe's model class with the artifact's weights (an output layer resized to the artifact's width)."""
    torch = import_torch()
    weights = onnx_weights(base)
    cls = model_class(arch)
    if arch.kind == "series":
        hidden = weights.get("lstm.weight_hh_l0", np.zeros((4, 1))).shape[-1]
        module = cls(hidden=hidden)
    else:
        module = cls()
    state = {}
    for key, param in module.state_dict().items():
        found = [n for n in weights if n == key or n.endswith("." + key)]
        if len(found) != 1:
            raise ParityFailure(
                f"rebuilt torch model disagrees with the artifact {base.manifest.ref}: "
                f"{'no' if not found else 'several'} ONNX weights for {key} ({arch.cls})",
                hint="the artifact is not the recipe's model: adapt it in head mode",
            )
        value = weights[found[0]]
        if value.shape != tuple(param.shape):
            _resize_linear(torch, module, key, value.shape)
        state[key] = torch.from_numpy(np.array(value, dtype=np.float32))
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:  # a shape the recipe's class does not have
        raise ParityFailure(
            f"rebuilt torch model disagrees with the artifact {base.manifest.ref}: its weights do not fit {arch.cls}",
            hint="the artifact is not the recipe's model: adapt it in head mode",
        ) from exc
    module.eval()
    return module


def _resize_linear(torch: Any, module: Any, key: str, shape: tuple[int, ...]) -> None:
    """Replace the Linear that ``key`` belongs to with one of the artifact's output width (a base built for fewer
    classes); any other mismatch is refused by the load that follows."""
    path, _, _ = key.rpartition(".")
    parent_path, _, child = path.rpartition(".")
    parent = module.get_submodule(parent_path) if parent_path else module
    old = getattr(parent, child)
    if isinstance(old, torch.nn.Linear) and len(shape) in (1, 2) and (len(shape) == 1 or shape[1] == old.in_features):
        setattr(parent, child, torch.nn.Linear(old.in_features, shape[0]))


def check_rebuilt(module: Any, base: Base, arch: Architecture, x: np.ndarray) -> float:
    """Max |diff| between the rebuilt module and the artifact on the examples; ParityFailure beyond tolerance."""
    name = base.manifest.inputs[0].name
    probe = x[: 4 * BATCH]
    expected = base.model({name: probe})
    got = run_torch(
        outputs_module(module, arch, [s.name for s in base.manifest.outputs]),
        {name: probe},
        [s.name for s in base.manifest.outputs],
    )
    worst = 0.0
    for key, want in expected.items():
        diff = float(np.max(np.abs(got[key].astype(np.float64) - want)))
        tolerance = REBUILD_TOLERANCE * max(1.0, float(np.abs(want).max()))
        if not diff <= tolerance:
            raise ParityFailure(
                f"rebuilt torch model disagrees with the artifact {base.manifest.ref}: output {key!r} max |diff| "
                f"{diff:.3g} on {len(probe)} examples (tolerance {tolerance:.3g})",
                hint="its graph is not the recipe's model with these weights; adapt it in head mode instead",
            )
        worst = max(worst, diff)
    return worst


def outputs_module(module: Any, arch: Architecture, names: Sequence[str]) -> Any:
    """A torch module answering the base's outputs ``names`` in order (logits, probabilities, features; forecast)."""
    import torch
    from torch import nn

    known = {"images": ("logits", "probabilities", "features", "penultimate"), "series": ("forecast",)}
    unknown = [n for n in names if n not in known[arch.kind]]
    if unknown:
        raise InvalidInput(f"the base's output(s) {unknown} are not the {arch.cls}'s: finetune cannot rebuild them")

    class Outputs(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = module

        def forward(self, x: Any) -> Any:
            if arch.kind == "series":
                return self.model(x)
            hidden = self.model.head[:-1](self.model.features(x))
            logits = self.model.head[-1](hidden)
            values = {"logits": logits, "probabilities": torch.softmax(logits, dim=-1)}
            return tuple(values.get(n, hidden) for n in names)

    return Outputs()
