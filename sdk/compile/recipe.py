"""The recipe protocol: how `sdk train` and `sdk compile` find and run a model recipe without importing ``models/``.

A recipe is a folder ``models/<package>/`` holding ``recipe.py`` that defines ``RECIPE = Recipe(...)``. ``sdk train
NAME`` and ``sdk compile NAME`` look for it under the current directory's ``models/`` (``NAME`` with ``-`` read as
``_``, or any recipe whose ``RECIPE.name`` is ``NAME``), or take a path to the folder or its ``recipe.py``. The folder
two levels up goes on ``sys.path`` so the recipe can import its siblings (``models.<package>.data``); ``sdk`` itself
never imports ``models``. See models/README.md for how to write one.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import field
from pathlib import Path
from typing import Any

import numpy as np

from sdk._record import record
from sdk.artifacts.manifest import TensorSpec
from sdk.artifacts.processors_schema import ProcessorsSpec
from sdk.compile.extras import translating_imports
from sdk.errors import ConfigError, ModelNotFound

FRAMEWORKS = ("pytorch", "keras")
TRAINED_FILE = "trained.json"

Arrays = Mapping[str, np.ndarray]


@record(kw_only=True)
class QualityGate:
    """What a reduced-precision artifact (fp16, int8) must keep, compared with the fp32 source model.

    ``metric`` names a value the recipe's ``Evaluation.score`` returns (``"cosine"`` is computed here: the mean cosine
    similarity of ``output`` between the artifact and the source). Exactly one bound applies:
    ``max_drop`` (absolute, for a higher-is-better metric such as accuracy), ``max_relative_increase`` (for a
    lower-is-better metric such as RMSE) or ``minimum`` (an absolute floor, such as cosine >= 0.99).
    """

    metric: str
    max_drop: float | None = None
    max_relative_increase: float | None = None
    minimum: float | None = None
    output: str | None = None

    def __post_init__(self) -> None:
        bounds = [b for b in (self.max_drop, self.max_relative_increase, self.minimum) if b is not None]
        if len(bounds) != 1:
            raise ConfigError(f"quality gate on {self.metric!r} needs exactly one bound, got {len(bounds)}")
        if self.metric == "cosine" and self.output is None:
            raise ConfigError("a cosine quality gate must name the output it compares")

    def describe(self) -> str:
        if self.max_drop is not None:
            return f"{self.metric} drop <= {self.max_drop:g}"
        if self.max_relative_increase is not None:
            return f"{self.metric} within +{self.max_relative_increase:.0%} of the source"
        return f"mean {self.metric} >= {self.minimum:g}"


@record
class Evaluation:
    """Held-out real inputs for the parity gate, and the task metrics of a model's outputs on them."""

    inputs: Arrays
    score: Callable[[Arrays], dict[str, float]] | None = None

    @property
    def samples(self) -> int:
        return int(next(iter(self.inputs.values())).shape[0])


@record
class RawEvaluation:
    """Held-out raw inputs (sentences, PNG bytes, series windows) and the source's own preprocessing of them, for the
    processor gate: the artifact's processors must turn every item into the tensors ``preprocess`` makes of it (token
    ids equal, floats within 1e-6). Include items the processor must cut (text longer than its max length)."""

    items: Sequence[Any]
    preprocess: Callable[[Sequence[Any]], Arrays]
    reference: str = "the source's preprocessing"  # names it in the gate's result, e.g. "transformers BertTokenizer"


@record
class Trained:
    """A trained (or pretrained) source model and its test metrics, as the recipe measured them."""

    model: Any
    metrics: Mapping[str, float] = field(default_factory=dict)


@record(kw_only=True)
class TransformerFusion:
    """Arguments for ONNX Runtime's transformer optimizer (attention/LayerNorm/GELU fusion)."""

    model_type: str = "bert"
    num_heads: int = 0
    hidden_size: int = 0


@record(kw_only=True)
class ModelSpec:
    """What a model is and what its artifacts must keep: declared once by a recipe, carried on by the source compiled
    from it (``CompileSource``), and read by the pipeline and the manifest writer."""

    name: str
    framework: str
    task: str
    description: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    quality: QualityGate
    labels: tuple[str, ...] | None = None
    classify_output: str | None = None
    fp32_tolerance: float = 1e-4
    transformer: TransformerFusion | None = None
    # Raw inputs in, answers out (the manifest's processors block): checked by the processor gate, then written.
    processors: ProcessorsSpec | None = None

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.outputs)

    def spec_fields(self) -> dict[str, Any]:
        """This object's ``ModelSpec`` fields, as keyword arguments for another ``ModelSpec`` subclass."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(ModelSpec)}


@record(kw_only=True)
class Recipe(ModelSpec):
    """Everything `sdk train` and `sdk compile` need from a model recipe: the ``ModelSpec`` and how to get the model.

    ``train(seed=, epochs=, progress=)`` returns ``Trained``; ``save(model, folder)`` / ``load(folder)`` persist it;
    ``evaluation(seed)`` returns held-out real inputs (never training data); ``files()`` returns extra files to ship
    (name -> (bytes, purpose)); ``calibration()`` returns real input batches for static quantization;
    ``raw_evaluation(seed)`` returns held-out raw inputs and the source's own preprocessing (needed with an input
    processor).
    """

    train: Callable[..., Trained]
    save: Callable[[Any, Path], None]
    load: Callable[[Path], Any]
    evaluation: Callable[[int], Evaluation]
    default_epochs: int | None = None
    files: Callable[[], Mapping[str, tuple[bytes, str]]] | None = None
    calibration: Callable[[], Sequence[Arrays]] | None = None
    raw_evaluation: Callable[[int], RawEvaluation] | None = None
    path: str = ""

    def __post_init__(self) -> None:
        if self.framework not in FRAMEWORKS:
            raise ConfigError(f"recipe {self.name!r}: framework {self.framework!r} must be one of {FRAMEWORKS}")


def _recipe_dirs(root: Path) -> list[Path]:
    models = root / "models"
    return sorted(p.parent for p in models.glob("*/recipe.py")) if models.is_dir() else []


def find_recipe(name_or_path: str, *, root: Path | None = None) -> Path:
    """The recipe folder for a name (under ``root/models``, default: the current directory) or a path."""
    root = Path.cwd() if root is None else root
    path = Path(name_or_path).expanduser()
    if path.name == "recipe.py" and path.is_file():
        return path.parent.resolve()
    if (path / "recipe.py").is_file() and ("/" in name_or_path or name_or_path.startswith(".")):
        return path.resolve()
    candidate = root / "models" / name_or_path.replace("-", "_")
    if (candidate / "recipe.py").is_file():
        return candidate.resolve()
    for folder in _recipe_dirs(root):
        if _declared_name(folder) == name_or_path:
            return folder.resolve()
    known = ", ".join(_declared_name(d) or d.name for d in _recipe_dirs(root)) or "none"
    raise ModelNotFound(
        f"no recipe named {name_or_path!r} under {root / 'models'} (recipes there: {known})",
        hint="run from the project root, or pass the recipe folder's path",
    )


def _declared_name(folder: Path) -> str | None:
    """The ``name=`` a recipe declares, read from its source text (no import needed to list recipes)."""
    for line in (folder / "recipe.py").read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped.startswith("NAME =") or stripped.startswith("NAME: str ="):
            return stripped.split("=", 1)[1].strip().strip("'\"")
    return None


def load_recipe(name_or_path: str | Path, *, root: Path | None = None) -> Recipe:
    """Import ``models/<package>/recipe.py`` as part of its package and return its ``RECIPE``."""
    folder = find_recipe(str(name_or_path), root=root)
    top = folder.parent.parent
    if str(top) not in sys.path:
        sys.path.insert(0, str(top))
    module_name = f"{folder.parent.name}.{folder.name}.recipe"
    # A recipe imports its framework at the top: without torch that is MissingDependency with the pinned install.
    with translating_imports(f"the recipe {folder}", hint="install what the recipe needs (see models/README.md)"):
        module = importlib.import_module(module_name)
    recipe = getattr(module, "RECIPE", None)
    if not isinstance(recipe, Recipe):
        raise ConfigError(f"{folder / 'recipe.py'} must define RECIPE = sdk.compile.Recipe(...)")
    return dataclasses.replace(recipe, path=str(folder))


def write_trained(folder: Path, recipe: Recipe, trained: Trained, *, seed: int, epochs: int | None) -> Path:
    """Save a trained model with a ``trained.json`` that `sdk compile FOLDER` reads back."""
    folder.mkdir(parents=True, exist_ok=True)
    recipe.save(trained.model, folder)
    record = {
        "recipe": recipe.name,
        "recipe_path": recipe.path,
        "framework": recipe.framework,
        "seed": seed,
        "epochs": epochs,
        "metrics": dict(trained.metrics),
    }
    path = folder / TRAINED_FILE
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path


def read_trained(folder: Path, *, root: Path | None = None) -> tuple[Recipe, Trained, int]:
    """(recipe, trained model, seed) from a folder that `sdk train` wrote."""
    try:
        record = json.loads((folder / TRAINED_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{folder / TRAINED_FILE} is missing or unreadable: {exc}") from exc
    where = record.get("recipe_path") or record["recipe"]
    if not (Path(where) / "recipe.py").is_file():
        where = record["recipe"]
    recipe = load_recipe(where, root=root)
    with translating_imports(f"loading {folder} with the recipe {recipe.name}"):
        model = recipe.load(folder)
    trained = Trained(model, {k: float(v) for k, v in record.get("metrics", {}).items()})
    return recipe, trained, int(record.get("seed", 0))
