"""`sdk bench`: latency percentiles and throughput per route, and the router's choices, from real calls."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from sdk.cli._base import console
from sdk.cli.options import JsonOption, StoreOption
from sdk.client import Client


def bench(
    model: str = typer.Argument(..., help="Model to call, e.g. digits-cnn."),
    routes: str = typer.Option("local,cloud", help="Comma-separated routes to measure: local, cloud."),
    endpoint: str | None = typer.Option(None, envvar="AIAAS_ENDPOINT", help="Cloud endpoint (for the cloud route)."),
    concurrency: int = typer.Option(1, min=1, max=256, help="Concurrent callers per route."),
    duration: float = typer.Option(5.0, min=0.1, help="Seconds per route."),
    max_requests: int = typer.Option(5000, min=1, help="At most this many calls per route."),
    batch: int = typer.Option(1, min=1, help="Batch size of each call."),
    auto_calls: int = typer.Option(200, min=0, help="Calls in mode auto afterwards (the router's choices)."),
    plot: Path | None = typer.Option(None, "--plot", help="Write a PNG: latency per route, router choices over time."),
    store: Path | None = StoreOption,
    as_json: bool = JsonOption,
) -> None:
    """Measure MODEL on each route: requests/s and p50/p90/p99 latency, then the router's choice per call.

    Both routes are measured in the same run on this machine: compare them with each other, not across machines.

    Examples:
      sdk bench digits-cnn --routes local
      sdk bench digits-cnn --endpoint http://127.0.0.1:8080 --concurrency 8 --plot bench.png
    """
    from sdk.bench import plot as draw
    from sdk.bench import run_bench

    wanted = [r.strip() for r in routes.split(",") if r.strip()]
    with Client(endpoint, store=store, persist_latency=False) as client:
        result = run_bench(
            client, model, routes=wanted, concurrency=concurrency, duration=duration,
            max_requests=max_requests, batch=batch, auto_calls=auto_calls,
        )  # fmt: skip
    summaries = {route: stats.summary() for route, stats in result.routes.items()}
    picks = {r: sum(1 for _, chosen, _ in result.choices if chosen == r) for r in ("local", "cloud")}
    if plot is not None:
        draw(result, plot)
    if as_json:
        console.print_json(json.dumps({"model": model, "routes": summaries, "auto_choices": picks}))
        return
    table = Table("route", "requests", "errors", "req/s", "p50 ms", "p90 ms", "p99 ms", title=f"{model}, batch {batch}")
    for route, s in summaries.items():
        table.add_row(
            route, f"{s['requests']:.0f}", f"{s['errors']:.0f}", f"{s['throughput_rps']:.1f}",
            f"{s['p50_ms']:.3f}", f"{s['p90_ms']:.3f}", f"{s['p99_ms']:.3f}",
        )  # fmt: skip
    console.print(table)
    if result.choices:
        console.print(f"auto: {picks['local']} calls routed local, {picks['cloud']} cloud")
    if plot is not None:
        console.print(f"plot written to {plot}")
