"""What every command shares: readable errors instead of tracebacks, and the console."""

from __future__ import annotations

import os
import traceback
from typing import Any

import click
import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from sdk.errors import AiaasError

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

VERBOSE_ENV = "AIAAS_VERBOSE"


def verbose_enabled(ctx: click.Context | None) -> bool:
    root = ctx.find_root() if ctx is not None else None
    obj = root.obj if root is not None else None
    if isinstance(obj, dict) and obj.get("verbose"):
        return True
    return os.environ.get(VERBOSE_ENV, "").lower() in ("1", "true", "yes")


def report(exc: AiaasError, *, verbose: bool) -> None:
    """One line saying what went wrong (and a second with the fix when we know it)."""
    if verbose:
        err_console.print("".join(traceback.format_exception(exc)), markup=False, end="")
    err_console.print(f"[bold red]error[/]: {type(exc).__name__}: {escape(exc.message)}")
    if exc.hint:
        err_console.print(f"[bold]fix[/]: {escape(exc.hint)}")
    if not verbose:
        err_console.print("[dim](run with --verbose for the traceback)[/]")


class ReadableErrors(TyperGroup):
    """The root group: an AiaasError anywhere below becomes a readable message and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AiaasError as exc:
            report(exc, verbose=verbose_enabled(ctx))
            raise typer.Exit(code=1) from None
