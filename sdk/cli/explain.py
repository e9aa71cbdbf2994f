"""`sdk explain`: why a model answered what it did, through the Client (so routing and privacy apply), as text, JSON
or a picture."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import typer
from rich.markup import escape

from sdk.cli._base import console
from sdk.cli.inputs import read_inputs, read_raw
from sdk.cli.options import JsonOption, StoreOption
from sdk.client import Client, Decision, Mode, Privacy
from sdk.errors import MalformedRequest
from sdk.runtime.config import RuntimeConfig

PLOT_PURPOSE = "drawing explanations (sdk explain --plot)"
BAR = 24  # characters of the widest attribution bar


def explain(
    model: str = typer.Argument(..., help="NAME, NAME@ALIAS, NAME@VERSION, or the path of an artifact folder."),
    text: list[str] | None = typer.Option(
        None,
        "--text",
        "-t",
        help="Text for a model that declares a text processor; the units are its words (repeat for more items).",
        show_default=False,
    ),
    image: list[Path] | None = typer.Option(
        None,
        "--image",
        help="A PNG or JPEG file for a model that declares an image processor; the units are pixels or patches "
        "(repeat for more items).",
        show_default=False,
    ),
    input: Path | None = typer.Option(
        None,
        "--input",
        "-i",
        help="Tensors in a file: .npy, .npz or .json (an array, {name: array}, or an OIP request body).",
        show_default=False,
    ),
    series: list[str] | None = typer.Option(
        None,
        "--series",
        help='A series window, oldest value first, as "v1,v2,..." in the data\'s units; the units are its lags '
        "(repeat for more windows).",
        show_default=False,
    ),
    target: str | None = typer.Option(
        None,
        "--target",
        help="Classifiers: the class to explain, as an index (7) or a label; default: each item's predicted class.",
        show_default=False,
    ),
    compare: str | None = typer.Option(
        None,
        "--compare",
        help="Embedding models: a second text; the explained value is the cosine similarity to it (default: to the "
        "item's own embedding).",
        show_default=False,
    ),
    method: str = typer.Option("auto", "--method", help="auto, occlusion, kernel_shap, or rise (images only)."),
    budget: int = typer.Option(256, "--budget", help="Perturbed inputs per item, all runtime calls together."),
    seed: int = typer.Option(0, "--seed", help="The seed of every random choice: the same seed, the same result."),
    privacy: Privacy | None = typer.Option(
        None,
        help="public or private (default: AIAAS_PRIVACY, else public). A private explanation runs entirely on this "
        "device: no perturbed input leaves it.",
    ),
    mode: Mode | None = typer.Option(None, help="Routing mode (default: AIAAS_MODE, else auto)."),
    local_only: bool = typer.Option(
        False,
        "--local-only",
        help="Explain on this device only: no network connection is opened, any endpoint is ignored.",
    ),
    endpoint: str | None = typer.Option(
        None, envvar="AIAAS_ENDPOINT", help="Cloud endpoint (OIP v2 base URL); none: this device only."
    ),
    precision: str | None = typer.Option(
        None, help="Explain this precision of the model on this device (fp32, fp16, int8); default: as routed."
    ),
    timeout: float | None = typer.Option(
        None,
        "--timeout",
        help="Seconds for the whole explanation; a deadline that passes stops it.",
        show_default=False,
    ),
    top: int = typer.Option(10, "--top", help="How many units to print per item, most attributed first."),
    plot: Path | None = typer.Option(
        None,
        "--plot",
        help="Draw a PNG: a heatmap over the image, highlighted words, or bars over the lags. Several items: "
        "one picture each, numbered (out-0.png, out-1.png...). Needs the plot extra.",
        show_default=False,
    ),
    store: Path | None = StoreOption,
    as_json: bool = JsonOption,
) -> None:
    """Explain why MODEL answers what it does on an input: which units (words, pixels, lags) pushed the explained
    value up or down, computed on the very artifact and runtime that answer, with a faithfulness score.

    Runs where the router decides, under the privacy rule of sdk predict: a private explanation runs entirely on
    this device; a public one may be sent to the endpoint as one request, when it offers explanations. An artifact
    folder, or --precision, is explained on this device. Prints the
    top units with their attributions, what was explained, where it ran and why, the faithfulness (deletion AUC:
    lower is better; insertion AUC: higher is better), and what it cost.

    Examples:
      sdk explain digits-cnn --image models/digits_cnn/samples/digit_7.png --plot digit.png
      sdk explain digits-cnn --image digit.png --target 3 --method kernel_shap --budget 512
      sdk explain out/minilm --text "a cat sat on the mat" --compare "a kitten rests on a rug"
      sdk explain sunspots-lstm --series "8,15,40,70,105,150,120,80,50,20,10,5,12,40,90,140,160,110,60,30"
      sdk explain digits-cnn -i digit.npy --privacy private --json
    """
    inputs = _inputs(text, image, input, series)
    if plot is not None:
        from sdk.extras import ensure

        ensure("matplotlib", purpose=PLOT_PURPOSE)  # before the work, not after it
    with Client(
        endpoint,
        privacy=privacy.value if privacy else None,
        mode=mode.value if mode else None,
        local_only=True if local_only else None,
        store=store,
        runtime=RuntimeConfig.from_env().usage_default("oneshot"),  # one call: never pay a measurement or a compile
    ) as client:
        options: dict[str, Any] = {"target": _target(target), "compare": compare, "method": method, "seed": seed}
        if Path(model).is_dir() or precision is not None:  # a folder or a precision: this device, outside the router
            explanation = client.explain_local(
                model, inputs, precision=precision, max_evals=budget, timeout_s=timeout, **options
            )
        else:
            explanation = client.explain(model, inputs, max_evals=budget, timeout_s=timeout, **options)
    pictures = _draw(explanation, plot) if plot is not None else []
    if as_json:
        body = {**explanation.to_json(), "decision": explanation.decision.to_dict()}
        body["pictures"] = [str(p) for p in pictures]
        console.print_json(json.dumps(body))
        return
    _print(explanation, top=max(1, top))
    for path in pictures:
        console.print(f"picture: {escape(str(path))}")


def _inputs(text: list[str] | None, image: list[Path] | None, input: Path | None, series: list[str] | None) -> Any:
    given = [
        name
        for name, value in (("--text", text), ("--image", image), ("--input", input), ("--series", series))
        if value
    ]
    if len(given) > 1:
        raise MalformedRequest(f"pass one kind of input, not {' and '.join(given)}: a model takes one kind")
    if not given:
        raise MalformedRequest(
            "nothing to explain",
            hint='pass --text TEXT, --image FILE, --series "v1,v2,..." or --input FILE (see sdk explain --help)',
        )
    if series:
        windows = [_window(value) for value in series]
        return windows[0] if len(windows) == 1 else windows
    if input is not None:
        return read_inputs(input)
    return read_raw(text, image)


def _window(value: str) -> list[float]:
    """One --series value as numbers, oldest first."""
    numbers = []
    for i, part in enumerate(value.replace(";", ",").split(",")):
        try:
            number = float(part)
        except ValueError:
            raise MalformedRequest(
                f"--series {value!r}: value {i} ({part.strip()!r}) is not a number",
                hint='write the window as numbers separated by commas, oldest first: --series "8,15,40,..."',
            ) from None
        if not math.isfinite(number):
            raise MalformedRequest(f"--series {value!r}: value {i} is {part.strip()}; send finite numbers")
        numbers.append(number)
    return numbers


def _target(value: str | None) -> int | str | None:
    """A class index when it is written as one (``7``), else a label."""
    if value is None:
        return None
    return int(value) if value.strip().isdigit() else value


def _draw(explanation: Any, path: Path) -> list[Path]:
    from sdk.explain.plot import plot

    count = len(explanation.items)
    if count == 1:
        return [plot(explanation, path)]
    return [plot(explanation, path.with_name(f"{path.stem}-{i}{path.suffix}"), item=i) for i in range(count)]


# --- text output ------------------------------------------------------------------------------------------------


def _print(explanation: Any, *, top: int) -> None:
    partial = " · [yellow]partial: the deadline stopped it early[/]" if explanation.partial else ""
    for index, item in enumerate(explanation.items):
        head = f"item {index}: " if len(explanation.items) > 1 else ""
        console.print(
            f"[bold]{head}{escape(explanation.model)}@{escape(explanation.version)}[/] explains "
            f"{escape(_explained(item.target))}: {item.value:.4g} (every {item.unit_kind} removed: "
            f"{item.base_value:.4g})"
        )
        _print_units(item, top)
        if item.faithfulness:
            console.print(f"  faithfulness: {escape(_faithfulness(item.faithfulness))}")
    console.print(
        f"[dim]{explanation.method} · {explanation.evaluations} evaluations in {explanation.calls} runtime calls · "
        f"{explanation.time_ms:.1f} ms · seed {explanation.seed}{partial}[/]"
    )
    _print_where(explanation)


def _explained(target: dict[str, Any]) -> str:
    kind = target.get("kind")
    if kind == "class":
        label, index = target.get("label"), target.get("index")
        return f"class {label}" + (f" (index {index})" if str(label) != str(index) else "")
    if kind == "similarity":
        return (
            "the cosine similarity to the --compare text"
            if target.get("to") == "compare"
            else ("the cosine similarity to its own embedding")
        )
    if kind == "forecast":
        output = target.get("output", "forecast")
        return "the forecast" if output == "forecast" else f"the forecast ({output})"
    return str(kind)


def _print_units(item: Any, top: int) -> None:
    values = np.asarray(item.attributions, dtype=np.float64)
    order = np.argsort(-np.abs(values), kind="stable")[:top]
    scale = float(np.max(np.abs(values))) if values.size else 0.0
    width = max((len(item.units[i]) for i in order), default=0)
    for i in order:
        value = float(values[i])
        bar = "█" * (round(abs(value) / scale * BAR) if scale > 0 else 0)
        colour = "red" if value > 0 else "blue"
        way = "up" if value > 0 else "down" if value < 0 else "none"
        console.print(f"  {escape(item.units[i]):<{width}}  {value:+.4f}  [{colour}]{bar}[/] {way}")
    if len(values) > len(order):
        console.print(f"  [dim]... {len(values) - len(order)} more {item.unit_kind}s (--top, --json for all)[/]")


def _faithfulness(scores: dict[str, float]) -> str:
    said = {
        "deletion_auc": "deletion AUC {:.3f} (lower is better)",
        "insertion_auc": "insertion AUC {:.3f} (higher is better)",
    }
    return " · ".join(said.get(k, k + " {:.3f}").format(v) for k, v in scores.items())


def _print_where(explanation: Any) -> None:
    decision: Decision = explanation.decision
    where = "this device" if explanation.ran_on == "device" else "the cloud"
    why = escape(f"[{decision.reason.value}] {decision.explanation}")
    runtime = f" · {escape(explanation.runtime)}" if explanation.runtime else ""
    console.print(f"[dim]ran on {where}{runtime} · privacy {decision.privacy.value} · why: {why}[/]")
