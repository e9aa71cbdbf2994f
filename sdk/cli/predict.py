"""`sdk predict`: run a model where the router decides (this device or the cloud), and say where, how and why."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import typer
from rich.markup import escape

from sdk.artifacts import Manifest
from sdk.cli._base import console, verbose_enabled
from sdk.cli.inputs import read_inputs, read_raw
from sdk.cli.options import JsonOption, StoreOption
from sdk.client import Client, Decision, Mode, Privacy, Result
from sdk.errors import MalformedRequest
from sdk.runtime import RuntimeInfo
from sdk.runtime.config import RuntimeConfig
from sdk.runtime.processors import Processed
from sdk.runtime.processors.outputs import OutputDecoder


def predict(
    ctx: typer.Context,
    model: str = typer.Argument(..., help="NAME, NAME@ALIAS, NAME@VERSION, or the path of an artifact folder."),
    input: Path | None = typer.Option(
        None,
        "--input",
        "-i",
        help="Input file: .npy (one array), .npz (named arrays), .json (array, {name: array}, or an OIP request).",
        show_default=False,
    ),
    text: list[str] | None = typer.Option(
        None,
        "--text",
        "-t",
        help="Raw text for a model that declares a text processor (repeat for a batch). Routed like --input: "
        "tokenized on this device, or sent as text to an endpoint that processes it.",
        show_default=False,
    ),
    image: list[Path] | None = typer.Option(
        None,
        "--image",
        help="A PNG or JPEG file for a model that declares an image processor (repeat for a batch).",
        show_default=False,
    ),
    privacy: Privacy | None = typer.Option(
        None,
        help="public or private (default: AIAAS_PRIVACY, else public). Private never leaves this device, and nothing "
        "lowers it: AIAAS_PRIVACY=private or a model's private floor keeps a --privacy public call home.",
    ),
    mode: Mode | None = typer.Option(None, help="Routing mode (default: AIAAS_MODE, else auto)."),
    local_only: bool = typer.Option(
        False,
        "--local-only",
        help="Run on this device only: no network connection is opened, any endpoint is ignored "
        "(default: AIAAS_LOCAL_ONLY).",
    ),
    deadline_ms: float | None = typer.Option(None, "--deadline-ms", help="Pick the route predicted to answer in time."),
    endpoint: str | None = typer.Option(
        None, envvar="AIAAS_ENDPOINT", help="Cloud endpoint (OIP v2 base URL); none: this device only."
    ),
    precision: str | None = typer.Option(None, help="Local artifact precision (fp32, fp16, int8); default fp32."),
    explain: bool = typer.Option(False, "--explain", help="Print the full routing decision and timing breakdown."),
    top: int = typer.Option(3, help="For classifiers: how many classes to show per item."),
    store: Path | None = StoreOption,
    as_json: bool = JsonOption,
) -> None:
    """Run MODEL on this device or in the cloud, as the router decides, and print the outputs and the decision.

    Local runs check every artifact file against its sha256 first; a tampered file is refused. A private call runs
    only on this device, or fails: its privacy is the strictest of --privacy, AIAAS_PRIVACY, the config file and the
    model's floors. With --local-only nothing is sent anywhere: no connection is even opened.

    With --text or --image the model's own processors (declared in its manifest, verified like the model) turn the
    raw input into tensors and the outputs into answers: labels and scores, a unit-length embedding. Raw inputs are
    routed like tensors: a private call is processed on this device; a public one may be sent as text or image bytes
    to the endpoint, which runs the same processors. The last line says where it ran, where the input was
    processed, and why.

    Examples:
      sdk predict digits-cnn --image models/digits_cnn/samples/digit_7.png
      sdk predict minilm-l6 --text "a sentence" --text "another"
      sdk predict digits-cnn --input models/digits_cnn/samples/digit_7.npy
      sdk predict minilm-l6 --text "a sentence" --endpoint http://127.0.0.1:8080 --privacy public --explain
      sdk predict digits-cnn -i digit.json --endpoint http://127.0.0.1:8080 --privacy public --explain
      sdk predict digits-cnn --image digit.png --local-only
    """
    raw = read_raw(text, image)
    if raw is not None and input is not None:
        raise MalformedRequest("pass either --input (tensors) or --text/--image (raw inputs), not both")
    if raw is None and input is None:
        raise MalformedRequest(
            "nothing to predict on", hint="pass --input FILE (tensors), --text TEXT or --image FILE (raw inputs)"
        )
    inputs = raw if raw is not None else read_inputs(input) if input is not None else None
    result: Result
    with Client(
        endpoint,
        privacy=privacy.value if privacy else None,
        mode=mode.value if mode else None,
        local_only=True if local_only else None,
        store=store,
        runtime=RuntimeConfig.from_env().usage_default("oneshot"),  # one call: never pay a measurement or a compile
    ) as client:
        if Path(model).is_dir() or precision is not None:
            result = client.run_local(model, inputs, precision=precision)
        else:
            result = client.predict(model, inputs, deadline_ms=deadline_ms)
    verbose = verbose_enabled(ctx)
    if result.processed is not None:
        _show_processed(model, result, top=max(1, top), as_json=as_json, explain=explain, verbose=verbose)
        return
    if as_json:
        console.print_json(json.dumps(_as_json(model, result.outputs, result.decision, result.runtime)))
        return
    _print_outputs(result.manifest, model, result.outputs, top)
    _print_decision(result.decision, result.runtime, explain, verbose=verbose)


def _show_processed(model: str, result: Result, *, top: int, as_json: bool, explain: bool, verbose: bool) -> None:
    """Answers for raw inputs, from whichever route answered: labels and scores, an embedding, truncation notes."""
    processed = _top_classes(result, top)
    if as_json:
        body = {
            "model": model,
            "outputs": {k: v.tolist() for k, v in processed.outputs.items()},
            "inputs": {k: v.tolist() for k, v in processed.inputs.items()},
            "notes": list(processed.notes),
            "route": result.decision.route.value if result.decision.route else None,
            "processed_on": result.decision.processed_on,
            "decision": result.decision.to_dict(),
        }
        if result.runtime is not None:
            body["runtime"] = _runtime_json(result.runtime)
        console.print_json(json.dumps(body))
        return
    _print_processed(processed, top)
    shown = processed.outputs["label"].shape[1] if "label" in processed.outputs else top
    if shown < top and len(result.labels or ()) > shown:
        console.print(f"[dim]the endpoint answered the top {shown} classes per item (the model's top_k)[/]")
    _print_decision(result.decision, result.runtime, explain, verbose=verbose)


def _top_classes(result: Result, top: int) -> Processed:
    """A classifier's answers cut to ``top`` classes per item. A device run kept the model's own scores, so more
    classes than the manifest's top_k are decoded from them; a cloud answer holds what the endpoint sent."""
    processed = result.processed
    assert processed is not None
    labels = processed.outputs.get("label")
    if labels is None or labels.ndim != 2:
        return processed
    processors = result.manifest.processors if result.manifest is not None else None
    spec = processors.output if processors is not None else None
    if labels.shape[1] < top and spec is not None and spec.kind == "classes" and spec.output in processed.tensors:
        assert result.manifest is not None
        wider = OutputDecoder(spec, result.manifest.labels).decode(processed.tensors, top_k=top)
        return replace(processed, outputs={**processed.outputs, **wider})
    cut = {"label": labels[:, :top], "score": processed.outputs["score"][:, :top]}
    return replace(processed, outputs={**processed.outputs, **cut})


def _print_processed(processed: Processed, top: int) -> None:
    for note in processed.notes:
        console.print(f"[yellow]truncated[/]: {escape(note)}")
    if processed.labels is not None:
        for i in range(len(processed)):
            console.print(processed.describe(i, top=1), markup=False, end="")
            rest = processed.describe(i, top=top).partition(" · ")[2]
            console.print(f"   [dim]{escape(rest)}[/]" if rest else "")
        return
    for name, value in processed.outputs.items():
        console.print(f"[bold]{name}[/] {value.dtype} {list(value.shape)}")
        console.print(np.array2string(value, precision=4, threshold=40, edgeitems=4), markup=False)
    if "tokens" in processed.inputs:
        counts = ", ".join(str(int(n)) for n in processed.inputs["tokens"])
        console.print(f"[dim]tokens per text: {counts}[/]")


def _runtime_json(info: RuntimeInfo) -> dict[str, Any]:
    return {
        "runtime": info.runtime,
        "runtime_version": info.runtime_version,
        "providers": list(info.providers),
        "artifact": info.artifact,
        "precision": info.precision,
        "sha256": info.sha256,
        "verified": True,
        "version": info.version,
    }


def _as_json(
    model: str, outputs: dict[str, np.ndarray], decision: Decision, info: RuntimeInfo | None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "outputs": {k: v.tolist() for k, v in outputs.items()},
        "decision": decision.to_dict(),
    }
    if info is not None:
        body["runtime"] = _runtime_json(info)
    return body


def _print_outputs(manifest: Manifest | None, model: str, outputs: dict[str, np.ndarray], top: int) -> None:
    labels = manifest.labels if manifest else None
    scores_name = "probabilities" if "probabilities" in outputs else next(iter(outputs))
    scores = outputs[scores_name]
    ref = manifest.ref if manifest else model
    if labels and scores.ndim == 2 and scores.shape[1] == len(labels):
        for i, row in enumerate(scores):
            best = np.argsort(row)[::-1][: max(1, top)]
            ranked = " · ".join(f"{labels[j]} {row[j]:.3f}" for j in best)
            console.print(f"[bold]{ref}[/] item {i}: [bold green]{labels[best[0]]}[/]   ({scores_name}: {ranked})")
        return
    for name, value in outputs.items():
        console.print(f"[bold]{name}[/] {value.dtype} {list(value.shape)}")
        console.print(np.array2string(value, precision=4, threshold=40, edgeitems=4), markup=False)


_PROCESSED_ON = {"device": "raw input processed on this device", "cloud": "raw input processed in the cloud"}


def _print_decision(decision: Decision, info: RuntimeInfo | None, explain: bool, *, verbose: bool) -> None:
    where = decision.route.value if decision.route else "-"
    actual = f"{decision.actual_ms:.2f} ms" if decision.actual_ms is not None else "-"
    processed = decision.processed_on and _PROCESSED_ON.get(decision.processed_on, decision.processed_on)
    step = f" · {processed}" if processed else ""
    why = escape(f"[{decision.reason.value}] {decision.explanation}")
    if info is not None:
        console.print(
            f"[dim]ran {where} on {info.runtime} {info.runtime_version} · {', '.join(info.providers)} · "
            f"{info.artifact} ({info.precision}, sha256 {info.sha256[:12]}… verified) · {actual}{step} · why: {why}[/]"
        )
    else:
        console.print(f"[dim]ran {where} · {actual}{step} · why: {why}[/]")
    if explain:
        console.print("decision: " + escape(decision.line()), markup=True)
        console.print("timings (ms): " + ", ".join(f"{k} {v:.2f}" for k, v in decision.timings.items()))
        if decision.processing:
            console.print("processing: " + escape(decision.processing))
    if info is not None and verbose:
        for note in info.notes:
            console.print(f"[dim]note: {escape(note)}[/]")
