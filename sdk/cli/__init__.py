"""The `sdk` command line: one file per command group, composed here."""

from __future__ import annotations

import signal
import threading

import typer

from sdk._version import __version__
from sdk.cli import (
    adapt,
    audit,
    bench,
    compile,
    configure,
    demo,
    deploy,
    doctor,
    explain,
    keys,
    models,
    predict,
    serve,
    train,
)
from sdk.cli._base import ReadableErrors

app = typer.Typer(
    cls=ReadableErrors,
    name="sdk",
    help=(
        "aiaas: compile models to verified artifacts, run them on this device or in the cloud, "
        "and see where every call ran and why.\n\n"
        "Start with `sdk models list`, then `sdk predict digits-cnn --input FILE.npy`."
    ),
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"aiaas-sdk {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show tracebacks and more detail on errors."),
    version: bool | None = typer.Option(
        None, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    ctx.obj = {"verbose": verbose}


app.add_typer(models.app, name="models")
app.add_typer(keys.app, name="keys")
app.add_typer(audit.app, name="audit")
app.command("sign")(keys.sign)
app.command("predict")(predict.predict)
app.command("explain")(explain.explain)
app.command("doctor")(doctor.doctor)
app.command("compile")(compile.compile_)
app.command("adapt")(adapt.adapt)
app.command("train")(train.train)
app.command("configure")(configure.configure)
app.command("serve")(serve.serve)
app.command("deploy")(deploy.deploy)
app.command("rollback")(deploy.rollback)
app.command("status")(deploy.status)
app.command("demo")(demo.demo)
app.command("bench")(bench.bench)


SIGTERM_EXIT = 128 + signal.SIGTERM  # a shell's status for a process that SIGTERM ended


class _Terminated:
    """SIGTERM (a supervisor, a CI timeout, ``kill``) ends a command the way Ctrl-C does: as a KeyboardInterrupt,
    so every cleanup runs (a compile's staging folder removed, a deploy's done steps undone, pulled partial files
    kept for the resume), then the process exits with status 143. Python's default would end it on the spot."""

    received = False

    @classmethod
    def handler(cls, signum: int, frame: object) -> None:
        cls.received = True
        raise KeyboardInterrupt(f"terminated by signal {signum}")


def main() -> None:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _Terminated.handler)
    try:
        app()
    except SystemExit:
        if _Terminated.received:
            raise SystemExit(SIGTERM_EXIT) from None
        raise
