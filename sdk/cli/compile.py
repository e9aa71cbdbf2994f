"""`sdk compile`: turn a recipe, a trained folder, a PyTorch factory, a Keras file or a SavedModel into a verified
artifact folder, one step at a time on screen."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.status import Status

from sdk.cli._base import console
from sdk.compile.progress import Progress, Step


class ConsoleProgress(Progress):
    """Each step on its own line as it finishes, with its time and outcome; a spinner while it runs."""

    def __init__(self) -> None:
        super().__init__()
        self._status: Status | None = None

    def started(self, step: Step) -> None:
        self._status = console.status(escape(step.title) + " …")
        self._status.start()

    def finished(self, step: Step) -> None:
        if self._status is not None:
            self._status.stop()
        mark = "[green]✓[/]" if step.ok else "[red]✗[/]"
        detail = f" [dim]{escape(step.detail)}[/]" if step.detail else ""
        console.print(f"{mark} {escape(step.title)} [dim]({step.seconds:.1f} s)[/]{detail}")

    def noted(self, text: str) -> None:
        console.print(f"[yellow]note[/]: {escape(text)}")


def compile_(
    source: str = typer.Argument(
        ...,
        help="A recipe name under ./models (e.g. digits-cnn), a folder `sdk train` wrote, PATH.py:FUNCTION "
        "(a PyTorch module factory), a Keras file (.keras/.h5) or a TensorFlow SavedModel folder.",
        show_default=False,
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Artifact folder to write (replaced if it exists).", show_default=False
    ),
    precision: str = typer.Option(
        "fp32",
        help="Comma-separated: fp32 (always built), fp16, int8. int8 is ONNX Runtime's dynamic int8, plus a static "
        "int8 for OpenVINO when there is calibration data (a recipe's, or --calibration) and the openvino extra is "
        "installed (the runtime times both on the device and keeps the faster).",
    ),
    tensorrt: bool = typer.Option(False, "--tensorrt", help="Also build TensorRT engines (needs TensorRT and a GPU)."),
    allow_degraded: str | None = typer.Option(
        None,
        "--allow-degraded",
        metavar="REASON",
        help="Ship artifacts that fail the gate anyway; REASON is recorded in the manifest.",
    ),
    tolerance: float | None = typer.Option(None, help="fp32 parity tolerance, max |diff| (default: the recipe's)."),
    inputs: Path | None = typer.Option(
        None, "--inputs", help="Held-out real inputs (.npz, named arrays) for sources that are not recipes."
    ),
    calibration: Path | None = typer.Option(
        None,
        "--calibration",
        help="Real inputs (.npz, named like the model's inputs) to calibrate the static int8 artifact for OpenVINO; "
        "recipes bring their own. Never the --inputs file: those are the gate's held-out samples.",
    ),
    name: str | None = typer.Option(None, help="Model name for sources that are not recipes."),
    version: str = typer.Option("1", help="Version recorded in the manifest."),
    private: bool = typer.Option(
        False, "--private", help="Set the model's privacy floor to private: every call to it stays on the device."
    ),
    sign_key: Path | None = typer.Option(
        None, "--sign-key", help="Sign the manifest with this private key (sdk keys create) once the folder is written."
    ),
    seed: int = typer.Option(0, help="Seed when SOURCE is a recipe trained on the spot."),
    epochs: int | None = typer.Option(None, help="Epochs when SOURCE is a recipe trained on the spot."),
) -> None:
    """Compile SOURCE to ONNX (and fp16/int8, TensorRT), gate every artifact on held-out real data, write --out.

    fp32 must reproduce the source within max |diff| 1e-4 (or the recipe's justified tolerance); fp16/int8 must keep
    the task metric. A failure writes nothing and lists the numbers.

    Example: sdk compile sunspots-lstm --out out/sunspots-lstm --precision fp32,fp16,int8
    """
    from sdk.compile.pipeline import compile_source, parse_precisions
    from sdk.compile.sources import resolve_source

    precisions = parse_precisions(precision)
    if sign_key is not None:
        from sdk.artifacts.signing import check_private_key

        check_private_key(sign_key)  # a bad key fails now, not after minutes of compiling
    progress = ConsoleProgress()
    with progress.step(f"load {source}") as step:
        compilable = resolve_source(source, inputs_file=inputs, name=name, seed=seed, epochs=epochs)
        step.detail = f"{compilable.name} ({compilable.framework} {compilable.framework_version})"
    if calibration is not None:
        import dataclasses

        from sdk.compile.sources import read_calibration_file

        batches = read_calibration_file(calibration, compilable.inputs)
        compilable = dataclasses.replace(compilable, calibration=batches)
    result = compile_source(
        compilable,
        out,
        precisions=precisions,
        version=version,
        tolerance=tolerance,
        allow_degraded=allow_degraded,
        tensorrt=tensorrt,
        progress=progress,
        privacy_floor="private" if private else "public",
    )
    manifest = result.manifest
    assert manifest is not None
    files = ", ".join(f"{a.file} ({a.precision})" for a in manifest.artifacts)
    if sign_key is not None:
        from sdk.artifacts.signing import sign_folder

        console.print(f"manifest signed by key {sign_folder(out, sign_key)}")
    console.print(f"[bold green]{manifest.ref}[/] → {escape(str(out))}: {escape(files)}")
    degraded = [a.file for a in manifest.artifacts if a.parity is not None and a.parity.waiver]
    if degraded:
        reason = escape(allow_degraded or "")
        console.print(f"[yellow]degraded (shipped despite the gate)[/]: {', '.join(degraded)}: {reason}")
