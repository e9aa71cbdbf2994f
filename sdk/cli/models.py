"""`sdk models`: what models this machine has, and what each one is."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Column, Table

from sdk.artifacts import open_store, verify_artifact
from sdk.artifacts.store import ModelRef, iter_models
from sdk.cli._base import console
from sdk.cli.options import JsonOption, StoreOption

app = typer.Typer(
    help="List and inspect the models in the local store (and the models built into the package).",
    no_args_is_help=True,
)


@app.command("list")
def list_models(store: Path | None = StoreOption, as_json: bool = JsonOption) -> None:
    """List every model version, with its aliases, precisions and where it is stored.

    Example: sdk models list
    """
    layered = open_store(store)
    rows = []
    for stored in iter_models(layered):
        manifest = stored.manifest()
        aliases = [a for a, rec in layered.aliases(stored.name).items() if rec.get("version") == stored.version]
        rows.append(
            {
                "name": stored.name,
                "version": stored.version,
                "aliases": aliases,
                "task": manifest.task,
                "precisions": sorted({f"{a.kind}/{a.precision}" for a in manifest.artifacts}),
                "privacy_floor": manifest.privacy_floor,
                "store": stored.store,
            }
        )
    if as_json:
        console.print_json(json.dumps(rows))
        return
    if not rows:
        console.print(f"No models in {layered.label}. Add one with `sdk compile` (or check --store).")
        return
    table = Table(
        Column("model", no_wrap=True),
        "version",
        "aliases",
        "task",
        Column("artifacts", no_wrap=True),
        "privacy",
        "store",
    )
    for r in rows:
        table.add_row(
            r["name"],
            r["version"],
            ", ".join(r["aliases"]) or "-",
            r["task"] or "-",
            ", ".join(r["precisions"]),
            r["privacy_floor"],
            r["store"],
        )
    console.print(table)


@app.command("show")
def show(
    name: str = typer.Argument(..., help="NAME, NAME@ALIAS or NAME@VERSION (default: the latest version)."),
    store: Path | None = StoreOption,
    as_json: bool = JsonOption,
) -> None:
    """Show a model's signature, artifacts, parity results and metrics, after verifying every file's sha256.

    Example: sdk models show digits-cnn
    """
    layered = open_store(store)
    stored = layered.resolve(ModelRef.parse(name))
    manifest = stored.manifest()
    verify_artifact(stored.path, manifest)
    if as_json:
        console.print_json(manifest.to_json())
        return
    console.print(f"[bold]{manifest.ref}[/]  {manifest.description}")
    console.print(f"task: {manifest.task or '-'}   privacy floor: {manifest.privacy_floor}   path: {stored.path}")
    console.print(
        f"source: {manifest.source.framework} {manifest.source.framework_version}  "
        f"recipe: {manifest.source.recipe or '-'}"
    )
    io = Table("", "name", "dtype", "shape", title="signature", title_justify="left")
    for kind, specs in (("input", manifest.inputs), ("output", manifest.outputs)):
        for s in specs:
            io.add_row(kind, s.name, s.dtype, str(list(s.shape)))
    console.print(io)
    arts = Table("file", "kind", "precision", "bytes", "sha256", "parity", title="artifacts", title_justify="left")
    for a in manifest.artifacts:
        parity = (
            f"{'pass' if a.parity.passed else 'FAIL'}: {a.parity.metric} {a.parity.value:.2e} "
            f"<= {a.parity.tolerance:.0e} "
            f"vs {a.parity.reference}"
            if a.parity
            else "not recorded"
        )
        arts.add_row(a.file, a.kind, a.precision, f"{a.bytes:,}", a.sha256[:16] + "…", parity)
    for f in manifest.files:
        arts.add_row(f.file, f.purpose or "file", "-", f"{f.bytes:,}", f.sha256[:16] + "…", "-")
    console.print(arts)
    if manifest.metrics:
        console.print("metrics: " + ", ".join(f"{k}={v:g}" for k, v in manifest.metrics.items()))
    console.print("[green]every file matches its sha256[/]")
