"""`sdk adapt`: carry a base model into a new task with a few labelled examples, on this device, with a progress bar
over each stage (the base's pass over the examples; in finetune mode, training and the compile)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from sdk.cli._base import console
from sdk.cli.options import StoreOption

if TYPE_CHECKING:
    from sdk.adaptation import AdaptResult

STAGES = {
    "features": "base features",
    "parity": "parity gate",
    "train": "finetune (contrastive pairs)",
    "embed": "finetuned embeddings",
    "compile": "compile and gates",
}


def adapt(
    base: str = typer.Argument(
        ...,
        help="The base model: NAME, NAME@ALIAS, NAME@VERSION, or the path of an artifact folder.",
        show_default=False,
    ),
    data: Path = typer.Option(
        ...,
        "--data",
        "-d",
        help="Labelled examples: a .csv (a label column and one input: text, image with PNG/JPEG paths, or x0..xN), "
        'a .jsonl (one {"text": ..., "label": ...} per line; or image, window, x) or an .npz (arrays x and y).',
        show_default=False,
    ),
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="Artifact folder to write (replaced whole; left as it was on any error).",
        show_default=False,
    ),
    mode: str = typer.Option(
        "head",
        help="head: a head fitted on the base's features (numpy and the edge runtime; the new model reuses the "
        "base's files). finetune: the base's last layers trained on the examples first, then the head; exported as a "
        "new model with its parity and int8 gates. It needs torch, from the compile extra: pip install torch==2.13.0 "
        "and aiaas-sdk's compile extra. Text finetune trains MiniLM (minilm-l6) SetFit-style on pairs of examples.",
    ),
    epochs: int | None = typer.Option(
        None,
        help="Finetune mode: passes over the examples (default: as many as fill the cap of 120 training steps, "
        "which keeps a run within minutes).",
        show_default=False,
    ),
    layers: int | None = typer.Option(
        None,
        help="Finetune mode: how many of the base's last layers train (default: all; fewer is faster and forgets "
        "less).",
        show_default=False,
    ),
    private: bool = typer.Option(
        False, "--private", help="Set the new model's privacy floor to private: every call to it stays on the device."
    ),
    seed: int = typer.Option(0, help="Seed of the cross-validation folds (and, in finetune mode, of training)."),
    folds: int = typer.Option(5, help="Cross-validation folds that choose the head's regularization (at least 2)."),
    name: str | None = typer.Option(
        None, help="Name of the new model (default: BASE-adapted, or BASE-finetuned).", show_default=False
    ),
    version: str = typer.Option("1", help="Version recorded in the manifest."),
    feature: str | None = typer.Option(
        None,
        help="The base output the head reads (default: a declared feature or embedding output, else the logits).",
        show_default=False,
    ),
    merged: Path | None = typer.Option(
        None,
        "--merged",
        help="Also write the adapted model as one ONNX file here, for runtimes outside aiaas (as large as the base; "
        "needs the onnx package).",
        show_default=False,
    ),
    store: Path | None = StoreOption,
) -> None:
    """Adapt BASE to the labelled examples in --data and write the adapted model to --out.

    The base runs on this device and computes a feature for each example; a small head (logistic regression for
    classes, ridge for a forecasting base) is fitted with its regularization chosen by cross-validation. The new
    artifact reuses the base's files byte for byte and adds head.onnx: only that delta has to move. It is loaded back
    and checked against the fitted head before anything is written. Nothing leaves the device.

    With --mode finetune the base's weights are trained further first, then the head is fitted; the new model is
    compiled like any other (fp32 parity gate, int8 kept only if it passes its gate) and shares only its tokenizer
    with the base. It reports forgetting: how close the finetuned encoder stays to the base on general sentences.

    Examples:
      sdk adapt digits-cnn --data odd_even.npz --out out/digits-odd-even
      sdk adapt out/minilm-l6 --data tickets.jsonl --out out/tickets --private
      sdk adapt digits-cnn --data labels.csv --out out/digits-new --folds 3 --seed 1
      sdk adapt out/minilm-l6 --data tickets.jsonl --out out/tickets-ft --mode finetune
    """
    from sdk.adaptation import adapt as run_adapt
    from sdk.artifacts.store import open_store

    bar = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )
    tasks: dict[str, TaskID] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(STAGES.get(stage, stage), total=total)
        bar.update(tasks[stage], completed=done)

    with bar:
        result = run_adapt(
            base,
            data,
            out,
            mode=mode,
            private=private,
            seed=seed,
            folds=folds,
            name=name,
            version=version,
            feature=feature,
            merged=merged,
            store=open_store(store),
            progress=progress,
            epochs=epochs,
            layers=layers,
        )
    manifest, head = result.manifest, result.head
    metrics = manifest.metrics
    if head.kind == "classes":
        quality = f"cross-validated accuracy {metrics['cv_accuracy']:.1%} over {len(head.labels)} classes"
        if result.mode == "finetune":
            quality += " (optimistic: the encoder trained on these examples)"
    else:
        quality = f"cross-validated RMSE {metrics['cv_rmse']:.4g}"
    console.print(
        f"[bold green]{manifest.ref}[/] → {escape(str(out))}: {quality} ({int(metrics['examples'])} examples, "
        f"L2 {head.l2:g})"
    )
    console.print(f"parity: {escape(result.parity.summary())}")
    if result.mode == "finetune":
        _finetune_report(result)
    else:
        console.print(
            f"delta: head.onnx {result.head_bytes} bytes = {result.delta_share:.3%} of the base's "
            f"{result.base_bytes} bytes it reuses"
        )
    if merged is not None:
        console.print(f"merged graph (base and head in one ONNX file): {escape(str(merged))}")
    if manifest.privacy_floor == "private":
        console.print("privacy floor: private (every call to it stays on this device)")


def _finetune_report(result: AdaptResult) -> None:
    metrics = result.manifest.metrics
    console.print(
        f"finetuned the last {int(metrics['layers'])} layer(s): {int(metrics['epochs'])} epoch(s), "
        f"{int(metrics['steps'])} steps, {int(metrics['pairs'])} pairs"
    )
    files = ", ".join(f"{a.file} ({a.precision})" for a in result.manifest.artifacts)
    console.print(f"artifacts: {escape(files)}; {result.head_bytes} new bytes (the base's: {result.base_bytes})")
    for note in result.notes:
        console.print(f"note: {escape(note)}")
    if result.forgetting is not None:
        sentences = int(metrics.get("forgetting.sentences", 0))
        console.print(
            f"forgetting: the finetuned encoder's mean cosine with the base on {sentences} general sentences is "
            f"{result.forgetting:.4f} (1 = unchanged)"
        )
