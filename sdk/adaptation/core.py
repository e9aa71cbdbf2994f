"""``sdk.adaptation``: carry a base artifact into a new task with a few labelled examples, on this device.

Head mode (the default, and the one that runs with only the ``edge`` extra): the base, run by the edge runtime,
computes a feature for every example; a linear head is fitted on them with numpy (classes: logistic regression;
a forecasting base: ridge), its L2 strength chosen by k-fold cross-validation; the result is an artifact that reuses
the base's files byte for byte and adds ``head.onnx``, parity-gated through ``sdk.load`` before it is written. No
torch, no network: the examples never leave the device, and ``private=True`` makes every call to the new model stay
on it too.

Finetune mode (``mode="finetune"``, needs torch): the base's own weights are trained further on the examples and the
result is exported through ``sdk compile``'s pipeline as one new artifact (``sdk.adaptation.finetune``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sdk._record import record
from sdk.adaptation import heads
from sdk.adaptation.data import Examples, read_examples
from sdk.adaptation.features import BATCH, Progress, features, open_base, tensor_examples
from sdk.adaptation.merged import export_merged
from sdk.adaptation.writer import write_adapted
from sdk.artifacts.manifest import NAME_PATTERN, Manifest
from sdk.artifacts.store import Store, StoredModel
from sdk.compile.parity import ParityResult
from sdk.errors import InvalidInput
from sdk.extras import require

MODES = ("head", "finetune")


@record
class AdaptResult:
    """The adapted artifact: where it is, its manifest, its head and parity gate, and the delta it makes."""

    path: Path
    manifest: Manifest
    head: heads.Head
    parity: ParityResult
    head_bytes: int
    base_bytes: int
    mode: str = "head"
    # Finetune mode: the finetuned encoder's mean cosine with the base on held-out general sentences (head mode
    # leaves the base's encoder unchanged: None).
    forgetting: float | None = None
    notes: tuple[str, ...] = ()  # e.g. an int8 artifact a finetune left out, with its gate's numbers

    @property
    def delta_share(self) -> float:
        """The new bytes over the base's bytes: what a device or store that holds the base still lacks (head mode:
        the head; finetune mode: every model file, since the weights changed)."""
        return self.head_bytes / self.base_bytes


def adapt(
    base: str | Path | StoredModel,
    data: str | Path,
    out: str | Path,
    *,
    mode: str = "head",
    private: bool = False,
    seed: int = 0,
    folds: int = 5,
    name: str | None = None,
    version: str = "1",
    feature: str | None = None,
    merged: str | Path | None = None,
    store: Store | None = None,
    progress: Progress | None = None,
    epochs: int | None = None,
    layers: int | None = None,
) -> AdaptResult:
    """Adapt ``base`` (a model reference or an artifact folder) to the labelled examples in ``data`` (CSV, JSONL or
    NPZ; see ``sdk.adaptation.data``) and write the adapted artifact to ``out`` (replaced whole, or left as it was on
    any error). ``name`` defaults to ``<base>-adapted``; ``feature`` overrides the base output the head reads.
    ``merged``: also write the adapted model as one ONNX file there, for runtimes outside aiaas (needs ``onnx``;
    checked against the artifact on the first examples; see ``sdk.adaptation.merged``).

    Raises InvalidInput (naming the file and row, and the fix) for data the base cannot take, IntegrityError for a
    base whose files fail their check, ParityFailure when the written artifact does not reproduce the fitted head.

    ``mode="finetune"`` (needs torch: MissingDependency names the install) trains the base's last ``layers`` layers
    (default: all) for ``epochs`` epochs on the examples, then fits the head (``sdk.adaptation.finetune``).
    """
    if mode not in MODES:
        raise InvalidInput(
            f"mode {mode!r} is not available: this release adapts in {' or '.join(MODES)} mode",
            hint="use mode='head' (the default): a head fitted on the base's features; or 'finetune' (needs torch)",
        )
    if folds < 2:
        raise InvalidInput(f"folds is {folds}: cross-validation needs at least 2", hint="use --folds 2 or more")
    if mode == "head" and (epochs is not None or layers is not None):
        raise InvalidInput("epochs and layers apply to finetune mode", hint="add --mode finetune, or drop them")
    if mode == "finetune":
        from sdk.adaptation import finetune  # imports nothing heavy; torch is required at once, before any work

        finetune.import_torch()
        if merged is not None or feature is not None:
            raise InvalidInput(
                "--merged and --feature apply to head mode: a finetuned model is one graph, its head on the embedding",
                hint="drop them, or use --mode head",
            )
    if merged is not None:  # before any work: the merged export needs the onnx package
        require("onnx", purpose="exporting an adapted model as one ONNX graph (sdk adapt --merged)")
    opened = open_base(base, store=store, feature=feature)
    try:
        new_name = name or _default_name(opened.manifest.name, mode)
        if not NAME_PATTERN.match(new_name):
            raise InvalidInput(f"name {new_name!r} must be lowercase letters, digits, '.', '_' or '-' (1-64 chars)")
        examples = read_examples(data, numeric=opened.task == "regression")
        _check_examples(examples, folds, opened.task)
        if mode == "finetune":
            return finetune.finetune(
                opened,
                examples,
                Path(out),
                private=private,
                seed=seed,
                folds=folds,
                name=new_name,
                version=version,
                epochs=epochs,
                layers=layers,
                progress=progress,
            )
        values = features(opened, examples, progress=progress)
        if opened.task == "classes":
            head = heads.fit_classes(values, examples.labels, folds=folds, seed=seed)
        else:
            head = heads.fit_numbers(values, np.asarray(examples.labels, dtype=np.float64), folds=folds, seed=seed)
        metrics = {
            **head.cv,
            "l2": head.l2,
            "examples": float(len(examples)),
            "folds": float(folds),
            "seed": float(seed),
            "feature_width": float(values.shape[1]),
        }
        if head.kind == "classes":
            metrics["classes"] = float(len(head.labels))
        written = write_adapted(
            Path(out),
            base=opened,
            head=head,
            examples=examples,
            features=values,
            name=new_name,
            version=version,
            private=private,
            metrics=metrics,
            progress=progress,
        )
        if merged is not None:
            probe: Any = examples.items[:BATCH]
            if examples.kind == "x":
                probe = {opened.manifest.inputs[0].name: tensor_examples(opened.manifest, examples)[:BATCH]}
            export_merged(out, merged, probe)
    finally:
        opened.model.close()
    return AdaptResult(Path(out), written.manifest, head, written.parity, written.head_bytes, written.base_bytes)


def _default_name(base: str, mode: str) -> str:
    return f"{base[:54]}-finetuned" if mode == "finetune" else f"{base[:55]}-adapted"


def _check_examples(examples: Examples, folds: int, task: str) -> None:
    source = examples.source.name
    if len(examples) < folds:
        raise InvalidInput(
            f"{source} holds {len(examples)} example(s), fewer than the {folds} cross-validation folds",
            hint=f"give at least {folds} examples (a few per class), or fewer folds (--folds, at least 2)",
        )
    if task == "classes":
        classes = sorted(set(examples.labels))
        if len(classes) < 2:
            raise InvalidInput(
                f"{source} holds one class only ({classes[0]!r}): a classifier needs two or more",
                hint="add labelled examples of the other classes",
            )
    elif len(set(examples.labels)) < 2:
        raise InvalidInput(f"{source}: every label is {examples.labels[0]}: there is nothing to fit")
