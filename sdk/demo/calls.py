"""The demo's calls: each one routed by the real client, its decision printed in one line and kept for the tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.markup import escape

from sdk._record import record
from sdk.client import Client, Mode, Result, Route
from sdk.errors import AiaasError


@record(frozen=False)
class Call:
    title: str
    route: str | None
    reason: str
    line: str
    error: str | None = None


class Recorder:
    """Runs calls, prints `title → decision` per call, and keeps them for whoever checks the demo."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.calls: list[Call] = []

    def call(self, title: str, client: Client, model: str, inputs: Any, **options: Any) -> Result | None:
        try:
            result = client.predict(model, inputs, **options)
        except AiaasError as exc:
            self.calls.append(Call(title, None, exc.code, f"{type(exc).__name__}: {exc.message}", exc.code))
            self.console.print(f"  [bold]{escape(title)}[/]: [red]{type(exc).__name__}[/]: {escape(exc.message)}")
            return None
        d = result.decision
        route = d.route.value if d.route else None
        self.calls.append(Call(title, route, d.reason.value, d.line()))
        colour = "green" if d.route is Route.LOCAL else "cyan"
        self.console.print(f"  [bold]{escape(title)}[/] → [{colour}]{route}[/] {escape(f'[{d.reason.value}]')} "
                           f"{escape(d.explanation)} · {d.actual_ms:.1f} ms")  # fmt: skip
        if len(d.attempts) > 1:
            self.console.print(f"      chain: {escape(' → '.join(d.fallback_chain))}")
        return result


def learn(client: Client, model: str, inputs: Any, rounds: int) -> dict[str, float]:
    """Measure both routes (public calls) so the router's estimates are real; returns the learned estimates.

    One call per route first, unrecorded: it loads the model, opens the connection and lets the server size its
    batches (a one-time cost that says nothing about the steady state)."""
    for mode in (Mode.LOCAL_ONLY, Mode.CLOUD_ONLY):
        client.predict(model, inputs, mode=mode)
    client.router.latency.forget(model)
    for mode in (Mode.LOCAL_ONLY, Mode.CLOUD_ONLY) * rounds:
        client.predict(model, inputs, mode=mode)
    out = {}
    for route in (Route.LOCAL, Route.CLOUD):
        p = client.router.latency.predict(model, route)
        if p is not None:
            out[route.value] = p.expected_ms
    return out


def wait_for(check: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False
