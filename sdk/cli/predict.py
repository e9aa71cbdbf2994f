"""`sdk predict`: run a model on this device, and say where and how it ran."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
import numpy as np
import typer
from rich.markup import escape

from sdk.artifacts import open_store
from sdk.cli._base import console, verbose_enabled
from sdk.cli.inputs import read_inputs
from sdk.cli.options import JsonOption, StoreOption
from sdk.runtime import LoadedModel, load


def predict(
    model: str = typer.Argument(..., help="NAME, NAME@ALIAS, NAME@VERSION, or the path of an artifact folder."),
    input: Path = typer.Option(
        ...,
        "--input",
        "-i",
        help="Input file: .npy (one array), .npz (named arrays), or .json (array or {name: array}).",
        show_default=False,
    ),
    precision: str | None = typer.Option(None, help="Artifact precision to run (fp32, fp16, int8); default fp32."),
    top: int = typer.Option(3, help="For classifiers: how many classes to show per item."),
    store: Path | None = StoreOption,
    as_json: bool = JsonOption,
) -> None:
    """Run MODEL on the local edge runtime (ONNX Runtime on this device) and print its outputs.

    The artifact's files are checked against their sha256 before loading; a tampered file is refused.

    Example: sdk predict digits-cnn --input models/digits_cnn/samples/digit_7.npy
    """
    inputs = read_inputs(input)
    loaded = load(model, store=open_store(store), precision=precision)
    start = time.perf_counter()
    outputs = loaded(inputs)
    run_ms = (time.perf_counter() - start) * 1000
    info = loaded.info
    if as_json:
        console.print_json(
            json.dumps(
                {
                    "model": info.model,
                    "version": info.version,
                    "outputs": {k: v.tolist() for k, v in outputs.items()},
                    "runtime": {
                        "route": "local",
                        "runtime": info.runtime,
                        "runtime_version": info.runtime_version,
                        "providers": list(info.providers),
                        "artifact": info.artifact,
                        "precision": info.precision,
                        "sha256": info.sha256,
                        "verified": True,
                        "run_ms": round(run_ms, 3),
                        "load_ms": round(info.load_ms, 3),
                    },
                }
            )
        )
        return
    _print_outputs(loaded, outputs, top)
    console.print(
        f"[dim]ran locally on {info.runtime} {info.runtime_version} · {', '.join(info.providers)} · "
        f"{info.artifact} ({info.precision}, sha256 {info.sha256[:12]}… verified) · {run_ms:.2f} ms "
        f"(load {info.load_ms:.0f} ms)[/]"
    )
    if verbose_enabled(click.get_current_context(silent=True)):
        for note in info.notes:
            console.print(f"[dim]note: {escape(note)}[/]")


def _print_outputs(loaded: LoadedModel, outputs: dict[str, np.ndarray], top: int) -> None:
    manifest = loaded.manifest
    labels = manifest.labels
    scores_name = "probabilities" if "probabilities" in outputs else manifest.outputs[0].name
    scores = outputs[scores_name]
    if manifest.task == "classification" and labels and scores.ndim == 2 and scores.shape[1] == len(labels):
        for i, row in enumerate(scores):
            best = np.argsort(row)[::-1][: max(1, top)]
            ranked = " · ".join(f"{labels[j]} {row[j]:.3f}" for j in best)
            console.print(
                f"[bold]{manifest.ref}[/] item {i}: [bold green]{labels[best[0]]}[/]   ({scores_name}: {ranked})"
            )
        return
    for name, value in outputs.items():
        console.print(f"[bold]{name}[/] {value.dtype} {list(value.shape)}")
        console.print(np.array2string(value, precision=4, threshold=40, edgeitems=4))
