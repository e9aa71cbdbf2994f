"""Latency estimates per (model, route), learned from the calls themselves.

Each route keeps an EWMA and a ring of recent samples (for a high percentile). The cloud's estimate is split into a
fixed part and a transfer part (payload bytes over measured bandwidth), and carries a cold-start penalty when it has
been idle long enough for a serverless function to be recycled. Estimates can be saved and loaded between runs.
"""

from __future__ import annotations

import bisect
import json
import math
import os
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import field
from pathlib import Path
from typing import Any, NamedTuple

from sdk._record import record
from sdk.client.decision import Route

STATE_VERSION = 1
REGIME_SAMPLES = 3
REGIME_FACTOR = 2.0


@record(kw_only=True)
class LatencyPolicy:
    alpha: float = 0.2  # EWMA weight of a new sample
    window: int = 64  # samples kept for the percentile
    percentile: float = 0.9  # the "high" estimate used against deadlines
    default_bandwidth_bps: float = 20e6  # until measured (bytes per second)
    min_transfer_bytes: int = 32_768  # smaller payloads tell nothing about bandwidth
    cloud_idle_s: float = 600.0  # idle longer than this: expect a cold start
    default_cold_start_ms: float = 1000.0


class Prediction(NamedTuple):
    """What a route is expected to take (ms), its high percentile, and whether a cold start is in it. A named tuple:
    two are made per routed call, and a frozen dataclass costs several times more to build."""

    expected_ms: float
    high_ms: float
    cold: bool = False


@record(frozen=False)
class _Stats:
    ewma: float | None = None
    samples: deque[float] = field(default_factory=lambda: deque(maxlen=64))
    last_seen: float | None = None  # wall-clock seconds, so it survives a restart
    count: int = 0
    # The samples in order, kept up to date sample by sample (None: sorted again when next asked), so that the high
    # percentile a prediction reads (two per call) is an index rather than a sort of the window.
    _ordered: list[float] | None = None

    def add(self, value: float, alpha: float, now: float) -> None:
        self.ewma = value if self.ewma is None else (1 - alpha) * self.ewma + alpha * value
        ordered, samples = self._ordered, self.samples
        if ordered is not None:
            if samples.maxlen is not None and len(samples) == samples.maxlen:
                del ordered[bisect.bisect_left(ordered, samples[0])]  # the sample the append below pushes out
            bisect.insort(ordered, value)
        samples.append(value)
        # A regime change (a cloud that recovered, a device that got busy): the last few samples all sit far from
        # the estimate. Start over from them instead of waiting for the EWMA to crawl there.
        # The newest sample is tested first: it is near the estimate on almost every call, which ends the test.
        ewma = self.ewma
        near = ewma / REGIME_FACTOR <= value <= ewma * REGIME_FACTOR
        if len(self.samples) >= REGIME_SAMPLES and ewma > 0 and not near:
            recent = [self.samples[-i] for i in range(REGIME_SAMPLES, 0, -1)]
            far_below = all(v < ewma / REGIME_FACTOR for v in recent)
            far_above = all(v > ewma * REGIME_FACTOR for v in recent)
            if far_below or far_above:
                self.ewma = sum(recent) / len(recent)
                self.samples = deque(recent, maxlen=self.samples.maxlen)
                self._ordered = None
        self.last_seen = now
        self.count += 1

    def high(self, q: float) -> float:
        ordered = self._ordered
        if ordered is None:
            ordered = self._ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


class LatencyModel:
    """Thread-safe estimates; ``clock`` is wall time (seconds) and injectable for tests."""

    def __init__(self, policy: LatencyPolicy | None = None, *, clock: Callable[[], float] = time.time) -> None:
        self.policy = policy or LatencyPolicy()
        self._clock = clock
        self._lock = threading.Lock()
        self._stats: dict[tuple[str, Route], _Stats] = {}
        self.bandwidth_bps = self.policy.default_bandwidth_bps
        self.bandwidth_measured = False
        self.cold_start_ms = self.policy.default_cold_start_ms

    def _get(self, model: str, route: Route) -> _Stats:
        stats = self._stats.get((model, route))
        if stats is None:
            stats = self._stats[(model, route)] = _Stats(samples=deque(maxlen=self.policy.window))
        return stats

    def transfer_ms(self, payload_bytes: int) -> float:
        return payload_bytes / self.bandwidth_bps * 1000.0

    def is_cold(self, model: str) -> bool:
        """The cloud route for ``model`` has been idle long enough to expect a cold start."""
        with self._lock:
            stats = self._stats.get((model, Route.CLOUD))
            return bool(stats and stats.last_seen and self._clock() - stats.last_seen > self.policy.cloud_idle_s)

    def predict(self, model: str, route: Route, payload_bytes: int = 0) -> Prediction | None:
        """None until the route has been measured for this model."""
        with self._lock:
            return self._predict(model, route, payload_bytes)

    def predict_both(
        self, model: str, *, local: bool, cloud: bool, payload_bytes: int = 0
    ) -> tuple[Prediction | None, Prediction | None]:
        """``predict`` for the local and the cloud route (None for one not asked or not measured), under one lock:
        the router asks for both on every call."""
        with self._lock:
            return (
                self._predict(model, Route.LOCAL) if local else None,
                self._predict(model, Route.CLOUD, payload_bytes) if cloud else None,
            )

    def _predict(self, model: str, route: Route, payload_bytes: int = 0) -> Prediction | None:
        """``predict`` with the lock held."""
        stats = self._stats.get((model, route))
        if stats is None or stats.ewma is None:
            return None
        expected, high = stats.ewma, stats.high(self.policy.percentile)
        cold = False
        if route is Route.CLOUD:
            transfer = self.transfer_ms(payload_bytes)
            expected, high = expected + transfer, high + transfer
            if stats.last_seen is not None and self._clock() - stats.last_seen > self.policy.cloud_idle_s:
                cold = True
                expected, high = expected + self.cold_start_ms, high + self.cold_start_ms
        return Prediction(expected, high, cold)

    def observe(
        self,
        model: str,
        route: Route,
        total_ms: float,
        *,
        payload_bytes: int = 0,
        network_ms: float | None = None,
        cold: bool = False,
    ) -> None:
        """Record one successful call. For the cloud, ``network_ms`` (total minus server time) refines bandwidth."""
        with self._lock:
            stats = self._get(model, route)
            value = total_ms
            if route is Route.CLOUD:
                if network_ms is not None and payload_bytes >= self.policy.min_transfer_bytes and network_ms > 0:
                    measured = payload_bytes / (network_ms / 1000.0)
                    a = self.policy.alpha
                    self.bandwidth_bps = (
                        measured if not self.bandwidth_measured else (1 - a) * self.bandwidth_bps + a * measured
                    )
                    self.bandwidth_measured = True
                value = max(0.0, total_ms - self.transfer_ms(payload_bytes))
                if cold and stats.ewma is not None:
                    # A cold call teaches the cold-start penalty, not the steady-state estimate.
                    excess = max(0.0, value - stats.ewma)
                    self.cold_start_ms = (1 - self.policy.alpha) * self.cold_start_ms + self.policy.alpha * excess
                    stats.last_seen = self._clock()
                    return
            stats.add(value, self.policy.alpha, self._clock())

    def forget(self, model: str) -> None:
        """Drop what was learned about ``model`` (e.g. after a warm-up whose cost is not the steady state)."""
        with self._lock:
            for route in Route:
                self._stats.pop((model, route), None)

    def snapshot(self, endpoint: str | None = None) -> dict[str, Any]:
        with self._lock:
            return {
                "version": STATE_VERSION,
                "endpoint": endpoint,
                "bandwidth_bps": self.bandwidth_bps,
                "bandwidth_measured": self.bandwidth_measured,
                "cold_start_ms": self.cold_start_ms,
                "routes": {
                    f"{model}|{route.value}": {
                        "ewma_ms": s.ewma,
                        "samples_ms": list(s.samples),
                        "last_seen": s.last_seen,
                        "count": s.count,
                    }
                    for (model, route), s in self._stats.items()
                },
            }

    def save(self, path: str | Path, *, endpoint: str | None = None) -> None:
        """Write the estimates; ``endpoint`` records which cloud the cloud-route figures were measured against."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(self.snapshot(endpoint), handle)
        os.replace(tmp, path)

    def load(self, path: str | Path, *, endpoint: str | None = None) -> bool:
        """Restore saved estimates; a missing or unreadable file leaves the model empty (returns False).

        Cloud figures (the cloud route's latencies, bandwidth, cold-start cost) measured against another endpoint
        than ``endpoint`` are dropped: another region or function says nothing about this one. Local ones stay.
        """
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            if data.get("version") != STATE_VERSION:
                return False
            routes = {}
            for key, item in data["routes"].items():
                model, _, route = key.rpartition("|")
                samples = deque((float(v) for v in item["samples_ms"]), maxlen=self.policy.window)
                routes[(model, Route(route))] = _Stats(
                    ewma=item["ewma_ms"], samples=samples, last_seen=item["last_seen"], count=int(item["count"])
                )
            bandwidth = float(data["bandwidth_bps"])
            cold = float(data["cold_start_ms"])
        except (OSError, ValueError, KeyError, TypeError):
            return False
        same_cloud = data.get("endpoint") == endpoint
        with self._lock:
            self._stats = routes if same_cloud else {k: v for k, v in routes.items() if k[1] is not Route.CLOUD}
            if same_cloud:
                self.bandwidth_bps, self.cold_start_ms = bandwidth, cold
                self.bandwidth_measured = bool(data.get("bandwidth_measured"))
        return True
