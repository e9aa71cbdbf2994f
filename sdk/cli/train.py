"""`sdk train`: run a model recipe from ./models and save the trained model for `sdk compile`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from sdk.cli._base import console


def train(
    name: str = typer.Argument(..., help="Recipe name under ./models (e.g. sunspots-lstm), or a recipe folder."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Folder for the trained model (default: out/NAME)."),
    epochs: int | None = typer.Option(None, help="Training epochs (default: the recipe's)."),
    seed: int = typer.Option(0, help="Seed for the data split, initialisation and batch order."),
) -> None:
    """Train a recipe (seeded, with a progress bar) and save it with its test metrics.

    Compile the result with `sdk compile OUT --out ARTIFACT`.

    Example: sdk train sunspots-lstm --out out/sunspots-lstm/trained
    """
    from sdk.compile.recipe import load_recipe, write_trained

    recipe = load_recipe(name)
    folder = out or Path("out") / recipe.name
    epochs = recipe.default_epochs if epochs is None else epochs
    trained = recipe.train(seed=seed, epochs=epochs, progress=True)
    write_trained(folder, recipe, trained, seed=seed, epochs=epochs)
    metrics = ", ".join(f"{k} {v:g}" for k, v in trained.metrics.items())
    console.print(f"[bold green]{recipe.name}[/] trained (seed {seed}): {escape(metrics)}")
    console.print(f"saved to {escape(str(folder))}; next: sdk compile {escape(str(folder))} --out ARTIFACT_FOLDER")
