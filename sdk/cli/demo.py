"""`sdk demo`: the whole story offline: compile, terraform apply on a local AWS stand-in, deploy, serve, route."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import typer

from sdk.cli._base import console


def demo(
    short: bool = typer.Option(False, "--short", help="Fewer calls (for CI): the same steps, faster."),
    workdir: Path | None = typer.Option(
        None, help="Where the demo writes (artifacts, state, logs); default: a temporary folder, removed after."
    ),
    repo: Path = typer.Option(Path("."), help="The aiaas repository (for infra/ and models/)."),
    report: Path | None = typer.Option(None, help="Also write every call's decision to this JSON file."),
) -> None:
    """Run the offline end-to-end demo: no cloud account, no network, a few minutes on a laptop.

    1. compile digits-cnn (train, export, parity gate)   2. moto server + `terraform apply` of infra/envs/dev
    3. `sdk deploy` to the model store and the function alias   4. `sdk serve` as the function
    5. `sdk models pull` to the edge   6. calls routed by privacy, latency, availability and deadline.

    Everything it starts is stopped at the end, on errors and on Ctrl-C too. Run it from the repository root.

    Example: sdk demo
    """
    from sdk.demo.run import run_demo

    # SIGTERM cleans up like Ctrl-C (sdk.cli.main): every process the demo started is stopped.
    keep = workdir is not None
    folder = workdir or Path(tempfile.mkdtemp(prefix="aiaas-demo-"))
    try:
        result = run_demo(repo=repo.resolve(), workdir=folder.resolve(), short=short, console=console)
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
    console.rule("[bold]done")
    for title, seconds in result.steps.items():
        console.print(f"  {seconds:6.1f} s  {title}")
    if report is not None:
        report.write_text(json.dumps({"calls": [c.__dict__ for c in result.calls], "steps": result.steps}, indent=2))
