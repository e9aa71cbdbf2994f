"""`sdk bench`: latency percentiles and throughput per route, and the router's choices over time, from real calls.

Each route is driven by ``concurrency`` threads through one `Client` for ``duration`` seconds (and at most
``max_requests`` calls), then an `auto` phase records which route the router picked for each call. Numbers are
measured on this machine in this run; compare routes within one run, never across machines.

Application code, like ``sdk.cli`` and ``sdk.demo``: only `sdk bench` imports it (tests/test_layering.py holds that).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import field
from pathlib import Path
from typing import Any

import numpy as np

from sdk._record import record
from sdk.client import Client, Mode
from sdk.errors import AiaasError, InvalidInput
from sdk.extras import require
from sdk.protocol.datatypes import numpy_dtype

ROUTE_MODES = {"local": Mode.LOCAL_ONLY, "cloud": Mode.CLOUD_ONLY}


@record(frozen=False)
class RouteStats:
    route: str
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0

    def summary(self) -> dict[str, float]:
        values = np.asarray(self.latencies_ms) if self.latencies_ms else np.asarray([np.nan])
        return {
            "requests": float(len(self.latencies_ms)),
            "errors": float(self.errors),
            "throughput_rps": len(self.latencies_ms) / self.seconds if self.seconds else 0.0,
            "p50_ms": float(np.percentile(values, 50)),
            "p90_ms": float(np.percentile(values, 90)),
            "p99_ms": float(np.percentile(values, 99)),
            "mean_ms": float(np.mean(values)),
        }


@record(frozen=False)
class BenchResult:
    model: str
    routes: dict[str, RouteStats]
    choices: list[tuple[float, str, float]]  # (seconds since start, route, latency ms) of the auto phase


def example_inputs(client: Client, model: str, batch: int) -> dict[str, np.ndarray]:
    """Random inputs of the model's signature: from the local manifest, else the cloud's metadata."""
    rng = np.random.default_rng(0)
    if client.local.availability(model).ok:
        feeds = client.local.model(model).example_inputs(batch)
        return {k: (rng.random(v.shape).astype(v.dtype) if v.dtype.kind == "f" else v) for k, v in feeds.items()}
    if client.cloud is None:
        raise InvalidInput(f"{model} is not on this device and no cloud endpoint is configured")
    out = {}
    for spec in client.cloud.metadata(model).get("inputs", []):
        shape = [batch if i == 0 and d == -1 else (1 if d == -1 else d) for i, d in enumerate(spec["shape"])]
        dtype = numpy_dtype(spec["datatype"])
        out[spec["name"]] = rng.random(shape).astype(dtype) if dtype.kind == "f" else np.zeros(shape, dtype)
    return out


def _drive(
    client: Client, model: str, inputs: Any, mode: Mode, concurrency: int, duration: float, limit: int
) -> RouteStats:
    stats = RouteStats(route=mode.value)
    lock = threading.Lock()
    stop_at = time.monotonic() + duration

    def worker() -> None:
        while time.monotonic() < stop_at:
            with lock:
                if len(stats.latencies_ms) + stats.errors >= limit:
                    return
            start = time.perf_counter()
            try:
                client.predict(model, inputs, mode=mode, privacy="public")
            except AiaasError:
                with lock:
                    stats.errors += 1
                continue
            with lock:
                stats.latencies_ms.append((time.perf_counter() - start) * 1000)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=duration + 60)
    stats.seconds = time.monotonic() - began
    return stats


def run_bench(
    client: Client,
    model: str,
    *,
    routes: Sequence[str] = ("local", "cloud"),
    concurrency: int = 1,
    duration: float = 5.0,
    max_requests: int = 5000,
    batch: int = 1,
    auto_calls: int = 200,
) -> BenchResult:
    unknown = [r for r in routes if r not in ROUTE_MODES]
    if unknown:
        raise InvalidInput(f"unknown route(s) {', '.join(unknown)}; choose from local, cloud")
    inputs = example_inputs(client, model, batch)
    for mode in (ROUTE_MODES[r] for r in routes):  # warm both paths: load the model, open connections
        for _ in range(5):
            client.predict(model, inputs, mode=mode, privacy="public")
    results = {r: _drive(client, model, inputs, ROUTE_MODES[r], concurrency, duration, max_requests) for r in routes}
    choices: list[tuple[float, str, float]] = []
    if len(routes) == 2 and auto_calls:
        began = time.perf_counter()
        for _ in range(auto_calls):
            start = time.perf_counter()
            result = client.predict(model, inputs, privacy="public")
            choices.append((start - began, result.route.value, (time.perf_counter() - start) * 1000))
    return BenchResult(model, results, choices)


def plot(result: BenchResult, path: Path) -> Path:
    """Latency distribution per route, and the router's choice (and latency) of every auto call over time."""
    require("matplotlib", purpose="plotting").use("Agg")
    plt = require("matplotlib.pyplot", purpose="plotting")
    colours = {"local": "#2a9d8f", "cloud": "#457b9d"}
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), constrained_layout=True)
    for route, stats in result.routes.items():
        if stats.latencies_ms:
            values = np.asarray(stats.latencies_ms)
            bins = np.logspace(np.log10(max(values.min(), 1e-3)), np.log10(values.max() * 1.01), 40)
            s = stats.summary()
            left.hist(values, bins=bins, alpha=0.6, color=colours[route],
                      label=f"{route}: p50 {s['p50_ms']:.2f} ms, p99 {s['p99_ms']:.2f} ms")  # fmt: skip
    left.set_xscale("log")
    left.set_xlabel("latency (ms, log scale)")
    left.set_ylabel("calls")
    left.set_title(f"{result.model}: latency per route")
    left.legend()
    for route in ("local", "cloud"):
        points = [(t, ms) for t, r, ms in result.choices if r == route]
        if points:
            t, ms = zip(*points)
            right.scatter(t, ms, s=10, color=colours[route], label=f"auto → {route} ({len(points)} calls)")
    right.set_yscale("log")
    right.set_xlabel("seconds into the auto phase")
    right.set_ylabel("latency (ms, log scale)")
    right.set_title("router's choice per call (mode auto)")
    if result.choices:
        right.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
