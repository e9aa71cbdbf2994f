"""What `sdk compile SOURCE` can compile, each turned into one ``CompileSource`` the pipeline runs.

SOURCE is one of: a recipe name or folder (trained on the spot), a folder `sdk train` wrote (``trained.json``), a
PyTorch factory ``path.py:function`` (it returns a module, or ``(module, example_inputs)``), a Keras model file
(``.keras``/``.h5``) or a TensorFlow SavedModel folder (``saved_model.pb``). Sources without a recipe take held-out
inputs from ``--inputs FILE.npz`` and gate reduced precisions on the cosine of their first output.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import field
from pathlib import Path
from typing import Any

import numpy as np

from sdk._record import record
from sdk.artifacts.manifest import NAME_PATTERN, TensorSpec
from sdk.compile.external import OnnxModel
from sdk.compile.extras import translating_imports
from sdk.compile.recipe import (
    TRAINED_FILE,
    Evaluation,
    ModelSpec,
    QualityGate,
    RawEvaluation,
    Recipe,
    Trained,
    load_recipe,
    read_trained,
)
from sdk.errors import ConfigError, InvalidInput

GENERIC_GATE_MIN_COSINE = 0.99

Arrays = Mapping[str, np.ndarray]


@record(kw_only=True)
class CompileSource(ModelSpec):
    """A source model ready to compile: its ``ModelSpec``, how to export and run it, and what to check it on."""

    framework_version: str
    recipe: str
    weights_sha256: str
    export: Callable[[], OnnxModel]
    run: Callable[[Arrays], dict[str, np.ndarray]]
    evaluation: Evaluation
    metrics: Mapping[str, float] = field(default_factory=dict)
    files: Mapping[str, tuple[bytes, str]] = field(default_factory=dict)
    # Real input batches for static int8 (calibration of activation ranges); never the evaluation data.
    calibration: Sequence[Arrays] = ()
    # Held-out raw inputs and the source's own preprocessing: what the processor gate checks ``processors`` against.
    raw_evaluation: RawEvaluation | None = None
    # Frees the source model's weights once its outputs are taken (``run`` cannot be called after): a large compile
    # calls it before quantizing, so the weights are not in memory twice.
    release: Callable[[], None] | None = None


def from_recipe(recipe: Recipe, trained: Trained, *, seed: int) -> CompileSource:
    """A recipe's trained model, with the recipe's held-out evaluation data and quality gate."""
    if recipe.framework == "pytorch":
        from sdk.compile.torch_export import export_torch, import_torch, release_torch, run_torch, weights_sha256

        torch = import_torch()
        version, sha = torch.__version__, weights_sha256(trained.model)
        evaluation = recipe.evaluation(seed)
        # batch 1: the TorchScript exporter warns that an LSTM traced at another batch size may not generalise
        example = {k: v[:1] for k, v in evaluation.inputs.items()}

        def export() -> OnnxModel:
            return export_torch(
                trained.model, example, output_names=recipe.output_names, dynamic_axes=dynamic_axes(recipe)
            )

        def run(inputs: Arrays) -> dict[str, np.ndarray]:
            return run_torch(trained.model, inputs, recipe.output_names)

        def release() -> None:
            release_torch(trained.model)

    else:
        from sdk.compile.keras_export import export_keras, keras_version, keras_weights_sha256, run_keras

        version, sha = f"keras {keras_version()}", keras_weights_sha256(trained.model)
        evaluation = recipe.evaluation(seed)

        def export() -> OnnxModel:
            return export_keras(trained.model, recipe.inputs, recipe.outputs)

        def run(inputs: Arrays) -> dict[str, np.ndarray]:
            return run_keras(trained.model, inputs, recipe.output_names)

    return CompileSource(
        **recipe.spec_fields(),
        framework_version=version,
        recipe=_display_path(recipe.path),
        weights_sha256=sha,
        export=export,
        run=run,
        evaluation=evaluation,
        metrics={**trained.metrics, "seed": float(seed)},
        files=dict(recipe.files()) if recipe.files else {},
        calibration=tuple(recipe.calibration()) if recipe.calibration else (),
        raw_evaluation=recipe.raw_evaluation(seed) if recipe.raw_evaluation else None,
        release=release if recipe.framework == "pytorch" else None,
    )


def dynamic_axes(model_or_specs: ModelSpec | tuple[TensorSpec, ...]) -> dict[str, dict[int, str]]:
    """Exporter ``dynamic_axes`` from the manifest's -1 dimensions and their names."""
    specs = model_or_specs if isinstance(model_or_specs, tuple) else (*model_or_specs.inputs, *model_or_specs.outputs)
    axes: dict[str, dict[int, str]] = {}
    for spec in specs:
        names = spec.dim_names or (None,) * len(spec.shape)
        dyn = {i: (n or f"{spec.name}_{i}") for i, (size, n) in enumerate(zip(spec.shape, names)) if size == -1}
        if dyn:
            axes[spec.name] = dyn
    return axes


def _display_path(path: str) -> str:
    if not path:
        return ""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return path


def read_inputs_file(path: Path | None, source: str) -> dict[str, np.ndarray]:
    if path is None:
        raise ConfigError(
            f"compiling {source} needs held-out real inputs for the parity gate",
            hint="pass --inputs FILE.npz (named arrays, first axis the batch)",
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {k: archive[k] for k in archive.files}
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read --inputs {path}: {exc}") from exc


def read_calibration_file(path: Path, inputs: Sequence[TensorSpec], *, batch: int = 32) -> list[Arrays]:
    """``--calibration FILE.npz``: real inputs for static int8 (never the gate's held-out set), as batches of at most
    ``batch`` rows. Arrays must be named like the model's inputs, with their dtype and rank."""
    arrays = read_inputs_file(path, "static int8")
    wanted = {s.name: s for s in inputs}
    if set(arrays) != set(wanted):
        raise InvalidInput(
            f"--calibration {path} holds {sorted(arrays)}; the model's inputs are {sorted(wanted)}",
            hint="save one array per model input, e.g. np.savez(FILE, **{name: array})",
        )
    rows = {len(v) for v in arrays.values()}
    if len(rows) != 1 or 0 in rows:
        raise InvalidInput(f"--calibration {path}: every array needs the same number of rows (> 0), got {sorted(rows)}")
    for name, spec in wanted.items():
        got = arrays[name]
        if str(got.dtype) != spec.dtype or got.ndim != len(spec.shape):
            raise InvalidInput(
                f"--calibration {path}: '{name}' is {got.dtype} rank {got.ndim}, "
                f"the model takes {spec.dtype} rank {len(spec.shape)}"
            )
        fixed = [(axis, size) for axis, size in enumerate(spec.shape) if size != -1 and got.shape[axis] != size]
        if fixed:
            raise InvalidInput(f"--calibration {path}: '{name}' has shape {got.shape}, the model takes {spec.shape}")
    count = rows.pop()
    return [{k: v[i : i + batch] for k, v in arrays.items()} for i in range(0, count, batch)]


def _specs_from_arrays(arrays: Arrays) -> tuple[TensorSpec, ...]:
    """Input specs for a generic source: dynamic batch, the other dimensions as the example arrays have them."""
    return tuple(
        TensorSpec(
            name=k,
            dtype=str(v.dtype),
            shape=(-1, *v.shape[1:]),
            dim_names=("batch", *(None,) * (v.ndim - 1)),
        )
        for k, v in arrays.items()
    )


def _output_specs(outputs: Arrays) -> tuple[TensorSpec, ...]:
    return tuple(
        TensorSpec(name=k, dtype=str(v.dtype), shape=(-1, *v.shape[1:]), dim_names=("batch", *(None,) * (v.ndim - 1)))
        for k, v in outputs.items()
    )


def _generic_name(name: str | None, stem: str) -> str:
    candidate = (name or stem).lower().replace("_", "-")
    if not NAME_PATTERN.match(candidate):
        raise ConfigError(f"{candidate!r} is not a valid model name", hint="pass --name NAME (lowercase, digits, -)")
    return candidate


def load_factory(spec: str) -> tuple[Any, dict[str, np.ndarray] | None]:
    """Call ``path.py:function``; it returns a torch module, or ``(module, example_inputs)``."""
    file, _, function = spec.rpartition(":")
    path = Path(file)
    if not path.is_file() or not function:
        raise ConfigError(f"{spec!r} is not PATH.py:FUNCTION (a file and a function in it)")
    module_name = f"_aiaas_factory_{abs(hash(path.resolve()))}"
    loader = importlib.util.spec_from_file_location(module_name, path)
    if loader is None or loader.loader is None:
        raise ConfigError(f"cannot import {path}")
    module = importlib.util.module_from_spec(loader)
    sys.modules[module_name] = module
    with translating_imports(f"the factory {spec}"):
        loader.loader.exec_module(module)
    factory = getattr(module, function, None)
    if not callable(factory):
        raise ConfigError(f"{path} has no function {function!r}")
    with translating_imports(f"the factory {spec}"):
        made = factory()
    if isinstance(made, tuple) and len(made) == 2 and isinstance(made[1], Mapping):
        return made[0], {k: np.asarray(v) for k, v in made[1].items()}
    return made, None


def _generic(
    *,
    name: str,
    framework: str,
    version: str,
    origin: str,
    sha: str,
    inputs: tuple[TensorSpec, ...],
    outputs: tuple[TensorSpec, ...],
    export: Callable[[], OnnxModel],
    run: Callable[[Arrays], dict[str, np.ndarray]],
    evaluation: Arrays,
) -> CompileSource:
    return CompileSource(
        name=name,
        framework=framework,
        framework_version=version,
        recipe=origin,
        weights_sha256=sha,
        inputs=inputs,
        outputs=outputs,
        export=export,
        run=run,
        evaluation=Evaluation(evaluation),
        quality=QualityGate(metric="cosine", minimum=GENERIC_GATE_MIN_COSINE, output=outputs[0].name),
        task="",
        description=f"compiled from {origin}",
    )


def from_torch_factory(spec: str, inputs_file: Path | None, name: str | None) -> CompileSource:
    from sdk.compile.torch_export import export_torch, import_torch, run_torch, weights_sha256

    torch = import_torch()
    module, example = load_factory(spec)
    evaluation = read_inputs_file(inputs_file, spec) if inputs_file or example is None else example
    assert evaluation is not None
    module.eval()
    probe = run_torch(module, evaluation, [f"output_{i}" for i in range(16)])
    in_specs, out_specs = _specs_from_arrays(evaluation), _output_specs(probe)
    names = tuple(s.name for s in out_specs)
    return _generic(
        name=_generic_name(name, Path(spec.rpartition(":")[0]).stem),
        framework="pytorch",
        version=torch.__version__,
        origin=spec,
        sha=weights_sha256(module),
        inputs=in_specs,
        outputs=out_specs,
        export=lambda: export_torch(
            module,
            {k: v[:1] for k, v in evaluation.items()},
            output_names=names,
            dynamic_axes=dynamic_axes((*in_specs, *out_specs)),
        ),
        run=lambda feeds: run_torch(module, feeds, names),
        evaluation=evaluation,
    )


def from_keras_file(path: Path, inputs_file: Path | None, name: str | None) -> CompileSource:
    from sdk.compile.keras_export import (
        export_keras,
        import_keras,
        keras_version,
        keras_weights_sha256,
        run_keras,
    )

    keras = import_keras()
    model = keras.models.load_model(str(path), compile=False)
    evaluation = read_inputs_file(inputs_file, str(path))
    in_specs = _specs_from_arrays(evaluation)
    probe = run_keras(model, evaluation, [f"output_{i}" for i in range(16)])
    out_specs = _output_specs(probe)
    names = tuple(s.name for s in out_specs)
    return _generic(
        name=_generic_name(name, path.stem),
        framework="keras",
        version=f"keras {keras_version()}",
        origin=str(path),
        sha=keras_weights_sha256(model),
        inputs=in_specs,
        outputs=out_specs,
        export=lambda: export_keras(model, in_specs, out_specs),
        run=lambda feeds: run_keras(model, feeds, names),
        evaluation=evaluation,
    )


def from_saved_model(folder: Path, inputs_file: Path | None, name: str | None) -> CompileSource:
    from sdk.compile.keras_export import export_saved_model, import_keras, run_saved_model

    import_keras()
    import tensorflow as tf

    evaluation = read_inputs_file(inputs_file, str(folder))
    in_specs = _specs_from_arrays(evaluation)
    signature = tf.saved_model.load(str(folder)).signatures["serving_default"]
    expected = set(signature.structured_input_signature[1])
    if expected != set(evaluation):
        raise InvalidInput(f"--inputs has arrays {sorted(evaluation)}; the SavedModel takes {sorted(expected)}")
    out_keys = sorted(signature.structured_outputs)
    probe = run_saved_model(folder, evaluation, out_keys)
    out_specs = _output_specs(probe)
    return _generic(
        name=_generic_name(name, folder.name),
        framework="tensorflow",
        version=f"tensorflow {tf.__version__}",
        origin=str(folder),
        sha=sha256_tree(folder),
        inputs=in_specs,
        outputs=out_specs,
        export=lambda: export_saved_model(folder, in_specs, out_specs),
        run=lambda feeds: run_saved_model(folder, feeds, out_keys),
        evaluation=evaluation,
    )


def sha256_tree(folder: Path) -> str:
    """One sha256 over every file of a folder (relative path and bytes), in a stable order."""
    digest = hashlib.sha256()
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(file.relative_to(folder).as_posix().encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def resolve_source(
    source: str,
    *,
    inputs_file: Path | None = None,
    name: str | None = None,
    seed: int = 0,
    epochs: int | None = None,
    progress: bool = True,
    root: Path | None = None,
) -> CompileSource:
    """Turn the SOURCE argument of `sdk compile` into a ``CompileSource`` (training a recipe if it names one)."""
    path = Path(source).expanduser()
    if ":" in source and source.rpartition(":")[0].endswith(".py"):
        return from_torch_factory(source, inputs_file, name)
    if path.is_dir() and (path / TRAINED_FILE).is_file():
        recipe, trained, trained_seed = read_trained(path, root=root)
        return from_recipe(recipe, trained, seed=trained_seed)
    if path.is_dir() and (path / "saved_model.pb").is_file():
        return from_saved_model(path, inputs_file, name)
    if path.is_file() and path.suffix in (".keras", ".h5"):
        return from_keras_file(path, inputs_file, name)
    recipe = load_recipe(source, root=root)
    with translating_imports(f"the recipe {recipe.name}"):  # e.g. MiniLM's weights package, imported when it trains
        trained = recipe.train(seed=seed, epochs=epochs or recipe.default_epochs, progress=progress)
        return from_recipe(recipe, trained, seed=seed)
