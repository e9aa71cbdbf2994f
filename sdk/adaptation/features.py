"""The base side of head mode: the base artifact opened through the runtime (verified, as any load), the output whose
values are the features, and those features computed for the examples, raw inputs through the base's own processors.

Which output is the feature: one named ``features`` or ``penultimate`` when the manifest declares one (a recipe that
exports its penultimate layer); else the embedding an embedding model answers with (MiniLM); else a classifier's
``logits`` (its last layer before the softmax: probabilities saturate, logits keep the distances); else the output its
processors answer with, else its first output.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from sdk._record import record
from sdk.adaptation.data import Examples
from sdk.artifacts.integrity import sha256_bytes
from sdk.artifacts.manifest import ArtifactFile, Manifest, TensorSpec, read_manifest_bytes
from sdk.artifacts.store import Store, StoredModel, locate_model
from sdk.errors import IntegrityError, InvalidInput
from sdk.runtime.config import RuntimeConfig
from sdk.runtime.model import LoadedModel, load

FEATURE_NAMES = ("features", "penultimate")
BATCH = 32
# What each kind of example needs from the base: its raw-input processor, and the column or key that gives it.
NEEDS = {"text": "text", "image": "image", "window": "series"}
GIVE = {
    "text": "a 'text' column (CSV) or key (JSONL)",
    "image": "an 'image' column or key holding PNG/JPEG paths",
    "series": "a 'window' key (JSONL) holding each window's numbers",
}

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@record(frozen=False)
class Base:
    """The base artifact, opened: its loaded model, folder and manifest (with the exact bytes, whose sha256 the adapted
    manifest records), the output read as features, and what the head learns (``classes`` or ``regression``)."""

    model: LoadedModel
    folder: Path
    manifest: Manifest
    manifest_sha256: str
    feature: str
    task: str

    @property
    def artifact(self) -> ArtifactFile:
        return self.model.artifact

    @property
    def width(self) -> int:
        spec = next(o for o in self.manifest.outputs if o.name == self.feature)
        return spec.shape[1]


def open_base(
    base: str | Path | StoredModel,
    *,
    store: Store | None = None,
    config: RuntimeConfig | None = None,
    feature: str | None = None,
) -> Base:
    """Load ``base`` (a reference or an artifact folder) through the runtime: every file is checked against its
    sha256 first. Its fp32 artifact where it has one: the head is fitted on the features of the graph the adapted
    artifact will run."""
    located = locate_model(base, store)
    manifest, manifest_bytes = read_manifest_bytes(located.path)
    if manifest.base is not None:
        raise InvalidInput(
            f"{manifest.ref} is itself adapted from {manifest.base.ref}",
            hint=f"adapt {manifest.base.ref} with all the examples instead (head mode stacks no heads)",
        )
    name = choose_feature(manifest, feature)
    task = "regression" if _answer_kind(manifest) == "forecast" else "classes"
    config = config or RuntimeConfig.from_env(usage="oneshot")
    try:
        model = load(located.path, config=config, precision=manifest.artifact().precision)
    except IntegrityError as exc:
        raise IntegrityError(
            f"the base {manifest.ref} fails its integrity check: {exc.message}",
            file=exc.file,
            hint=f"pull or compile {manifest.name} again (sdk models pull / sdk compile), then adapt",
        ) from exc
    return Base(model, located.path, manifest, sha256_bytes(manifest_bytes), name, task)


def _answer_kind(manifest: Manifest) -> str | None:
    processors = manifest.processors
    return processors.output.kind if processors is not None and processors.output is not None else None


def choose_feature(manifest: Manifest, requested: str | None = None) -> str:
    """The output the head reads (see the module's docstring); it must be a float [batch, width] tensor."""
    outputs = {o.name: o for o in manifest.outputs}
    if requested is not None:
        name = requested
        if name not in outputs:
            raise InvalidInput(f"{manifest.ref} has no output {name!r} (it has {sorted(outputs)})")
    else:
        answer = manifest.processors.output if manifest.processors is not None else None
        declared = [n for n in FEATURE_NAMES if n in outputs]
        if declared:
            name = declared[0]
        elif answer is not None and answer.kind == "embedding":
            name = answer.output
        elif "logits" in outputs:
            name = "logits"
        else:
            name = answer.output if answer is not None else manifest.outputs[0].name
    _check_feature(manifest, outputs[name])
    return name


def _check_feature(manifest: Manifest, spec: TensorSpec) -> None:
    if len(spec.shape) != 2 or spec.shape[1] < 1 or not spec.dtype.startswith("float"):
        raise InvalidInput(
            f"{manifest.ref}'s output {spec.name!r} is {spec.dtype} {list(spec.shape)}: a head reads a float "
            "[batch, width] feature with a fixed width",
            hint="compile the base with a feature output (named 'features'), or pick another with --feature",
        )


def features(base: Base, examples: Examples, *, progress: Progress | None = None) -> np.ndarray:
    """The base's feature for every example, float32 [n, width], in batches of ``BATCH``."""
    run = _runner(base, examples)
    total = len(examples)
    out = []
    for start in range(0, total, BATCH):
        out.append(run(start, min(start + BATCH, total))[base.feature])
        if progress is not None:
            progress("features", min(start + BATCH, total), total)
    values = np.concatenate(out).astype(np.float32)
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise InvalidInput(f"{examples.where[row]}: the base gives a NaN or infinite feature for this example")
    return values


def _runner(base: Base, examples: Examples) -> Callable[[int, int], dict[str, np.ndarray]]:
    """(start, stop) -> the base's outputs for those examples; every fault names the example's row."""
    model, ref = base.model, base.manifest.ref
    takes = model.processors.kind if model.processors is not None else None
    if examples.kind == "x":
        x = tensor_examples(base.manifest, examples)
        name = base.manifest.inputs[0].name
        return lambda start, stop: model({name: x[start:stop]})
    needed = NEEDS[examples.kind]
    if takes != needed:
        takes_text = f"takes {takes} input" if takes else "takes tensors only"
        give = GIVE.get(takes or "", "the input tensor as x0..xN columns (CSV), 'x' (JSONL) or x (NPZ)")
        raise InvalidInput(
            f"{examples.source.name} gives {examples.kind} examples, but {ref} {takes_text}",
            hint=f"give {give}",
        )
    processors = model.processors
    assert processors is not None

    def run(start: int, stop: int) -> dict[str, np.ndarray]:
        items = examples.items[start:stop]
        try:
            encoded = processors.encode(items)
        except InvalidInput:
            for offset, item in enumerate(items):  # which one: a batch's error names its item by position only
                try:
                    processors.encode([item])
                except InvalidInput as one:
                    raise InvalidInput(
                        f"{examples.where[start + offset]}: {one.message}",
                        hint=one.hint or "fix that example or leave it out",
                    ) from one
            raise
        return model(encoded.feeds)

    return run


def tensor_examples(manifest: Manifest, examples: Examples) -> np.ndarray:
    """Tensor examples shaped as the base's one input takes them; a wrong width is refused with the width expected."""
    if len(manifest.inputs) != 1:
        names = ", ".join(s.name for s in manifest.inputs)
        raise InvalidInput(
            f"{examples.source.name} gives tensors, but {manifest.ref} takes several inputs ({names})",
            hint="give raw inputs its processors read (text, images)",
        )
    spec = manifest.inputs[0]
    dims = spec.shape[1:]
    if any(d == -1 for d in dims):
        raise InvalidInput(
            f"{manifest.ref}'s input {spec.name!r} {list(spec.shape)} has dynamic dimensions: a row cannot fill it",
            hint="give raw inputs its processors read",
        )
    width = math.prod(dims)
    x = examples.x()
    rows = x.reshape(len(x), -1)
    if rows.shape[1] != width:
        raise InvalidInput(
            f"{examples.source.name}: each example holds {rows.shape[1]} values, but {manifest.ref}'s input "
            f"{spec.name!r} takes {list(dims)} = {width} (features of the wrong width)",
            hint=f"give the input tensor flattened, {width} values per example (x0..x{width - 1})",
        )
    return np.ascontiguousarray(rows.reshape(len(rows), *dims).astype(spec.dtype))
