"""`sdk adapt`: carry a base model into a new task with a few labelled examples, on this device, with a progress bar
over the base's pass over the examples."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from sdk.cli._base import console
from sdk.cli.options import StoreOption

STAGES = {"features": "base features", "parity": "parity gate"}


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
    mode: str = typer.Option("head", help="head: a head fitted on the base's features (numpy and the edge runtime)."),
    private: bool = typer.Option(
        False, "--private", help="Set the new model's privacy floor to private: every call to it stays on the device."
    ),
    seed: int = typer.Option(0, help="Seed of the cross-validation folds."),
    folds: int = typer.Option(5, help="Cross-validation folds that choose the head's regularization (at least 2)."),
    name: str | None = typer.Option(None, help="Name of the new model (default: BASE-adapted).", show_default=False),
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

    Examples:
      sdk adapt digits-cnn --data odd_even.npz --out out/digits-odd-even
      sdk adapt out/minilm-l6 --data tickets.jsonl --out out/tickets --private
      sdk adapt digits-cnn --data labels.csv --out out/digits-new --folds 3 --seed 1
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
        )
    manifest, head = result.manifest, result.head
    metrics = manifest.metrics
    if head.kind == "classes":
        quality = f"cross-validated accuracy {metrics['cv_accuracy']:.1%} over {len(head.labels)} classes"
    else:
        quality = f"cross-validated RMSE {metrics['cv_rmse']:.4g}"
    console.print(
        f"[bold green]{manifest.ref}[/] → {escape(str(out))}: {quality} ({int(metrics['examples'])} examples, "
        f"L2 {head.l2:g})"
    )
    console.print(f"parity: {escape(result.parity.summary())}")
    console.print(
        f"delta: head.onnx {result.head_bytes} bytes = {result.delta_share:.3%} of the base's "
        f"{result.base_bytes} bytes it reuses"
    )
    if merged is not None:
        console.print(f"merged graph (base and head in one ONNX file): {escape(str(merged))}")
    if manifest.privacy_floor == "private":
        console.print("privacy floor: private (every call to it stays on this device)")
