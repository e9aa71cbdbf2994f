"""Options several commands share, declared once."""

from __future__ import annotations

import typer

StoreOption = typer.Option(
    None,
    "--store",
    envvar="AIAAS_STORE",
    help="Local model store folder (default: ~/.cache/aiaas/models). Built-in models are always searched after it.",
    show_default=False,
)

JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON instead of text.")
