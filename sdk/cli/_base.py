"""What every command shares: readable errors instead of tracebacks, and the console."""

from __future__ import annotations

import traceback
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from sdk import errors
from sdk._record import record
from sdk.errors import AiaasError
from sdk.settings import env, env_text

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


@record(kw_only=True)
class CliSettings:
    """The command line's own settings (a command's options read theirs through typer's ``envvar``)."""

    verbose: bool = env("AIAAS_VERBOSE", False, help="as `sdk --verbose`: tracebacks and more detail on errors")


def verbose_enabled(ctx: typer.Context | None) -> bool:
    root = ctx.find_root() if ctx is not None else None
    obj = root.obj if root is not None else None
    if isinstance(obj, dict) and obj.get("verbose"):
        return True
    # Read raw, not resolved: an error is being reported, and an unreadable value must not raise a second one.
    return (env_text(CliSettings, "verbose") or "").lower() in ("1", "true", "yes")


# The fix shown when the code that raised knew none: by class, most specific first (the MRO is walked).
GENERIC_FIXES: dict[type[AiaasError], str] = {
    errors.MalformedRequest: "inputs are .npy, .npz or .json files (see `sdk predict --help`)",
    errors.InvalidInput: "`sdk models show MODEL` lists the inputs the model takes (names, dtypes, shapes)",
    errors.ModelNotFound: "`sdk models list` shows the models on this device",
    errors.Unauthorized: "check the credentials: --auth-token / AIAAS_AUTH_TOKEN, or AWS credentials for AWS_IAM",
    errors.IntegrityError: "the files changed after they were written: pull or compile the model again",
    errors.ArtifactError: "`sdk models show MODEL` verifies the artifact and shows what it holds",
    errors.CloudUnavailable: "check that the endpoint is up (--endpoint, AIAAS_ENDPOINT, `sdk configure`), "
    "or run on this device with --mode local_only",
    errors.LocalUnavailable: "`sdk doctor` shows what this device can run",
    errors.Overloaded: "the server is busy: try again in a moment",
    errors.DeadlineExceeded: "allow more time (--deadline-ms) or leave the deadline out",
    errors.ConfigError: "`sdk doctor` shows this machine's settings",
    AiaasError: "run again with --verbose for the traceback, and report it if it looks like our fault",
}


def fix_for(exc: AiaasError) -> str:
    """The fix to print: the error's own hint, else the generic one for its class."""
    if exc.hint:
        return exc.hint
    return next(GENERIC_FIXES[k] for k in type(exc).__mro__ if k in GENERIC_FIXES)


def report(exc: AiaasError, *, verbose: bool) -> None:
    """Two lines: what went wrong, and how to fix it (``--verbose`` adds the traceback above them)."""
    if verbose:
        err_console.print("".join(traceback.format_exception(exc)), markup=False, end="")
    err_console.print(f"[bold red]error[/]: {type(exc).__name__}: {escape(exc.message)}")
    err_console.print(f"[bold]fix[/]: {escape(fix_for(exc))}")


class ReadableErrors(TyperGroup):
    """The root group: an AiaasError anywhere below becomes a readable message and exit status 1."""

    def invoke(self, ctx: Any) -> Any:  # a click Context: typer's own (vendored) from typer 0.26 on, click's before
        try:
            return super().invoke(ctx)
        except AiaasError as exc:
            report(exc, verbose=verbose_enabled(ctx))
            raise typer.Exit(code=1) from None
