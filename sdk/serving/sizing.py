"""How many rows the batcher merges into one model run: sized by what the runs that actually ran cost.

``BatchSizer`` (adaptive batching, the server's default) never holds a request back to measure: it reads the
seconds per row of the batches the live load forms. A server's run times are noisy (the event loop, the load
generator and other processes share the cores, and the texts of a batch differ in length), so a size's cost is
the median of its recent runs, a figure not refreshed for a while is forgotten, and the limit only backs off when
rows at the limit are clearly dearer than at a smaller size (even the limit's cheap runs cost more than the smaller
size's usual ones). An average per size and a plain "dearer than the cheapest ever seen" test (the earlier sizer)
shrank the limit on noise: a lucky figure for a small size stayed the best for good, and at 32 clients the limit
kept halving while requests waited in the queue (issue #20 item 3).

``best_batch_size`` is the one-shot probe it replaced, kept for callers that size a batch offline.
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from collections.abc import Callable, Mapping

import numpy as np

Outputs = dict[str, np.ndarray]


class BatchSizer:
    """Rows per run, adapted to the seconds per row of the batches that ran, per batch size.

    Slow start, then AIMD: the limit doubles from 1 while rows get no dearer than at the best size, then grows one
    row at a time, and halves (below the best too, so the sizes under it are measured afresh) when rows at the limit
    cost clearly more than ``slack`` times a smaller size's: the median of the limit's recent runs above that, and
    its lower quartile above that size's upper quartile; a larger size clearly cheaper takes it back up at once.
    Only batches that filled to the limit move it (one cut short by an empty queue says nothing about it, though its
    cost is kept for its size), after ``settle`` of them at a new limit. A size's cost is the median of its last
    ``keep`` runs; one not run in the last ``stale`` batches is forgotten, so a lucky figure from another moment
    cannot hold the limit down. It keeps adapting: a load or machine that changes moves it."""

    def __init__(self, most: int, *, slack: float = 1.15, settle: int = 3, keep: int = 9, stale: int = 200) -> None:
        self.most = most
        self.limit = 1
        self.slack = slack
        self.settle = settle
        self.stale = stale
        self.keep = keep
        self.runs: dict[int, deque[float]] = {}  # seconds per row of the last runs, by batch size
        self.last: dict[int, int] = {}  # the batch count when each size last ran
        self.count = 0
        self.since = 0  # full batches at the limit since it last moved
        self.slow_start = True

    @property
    def cost(self) -> dict[int, float]:
        """Seconds per row by batch size: the median of the recent runs of each size still remembered."""
        return {size: statistics.median(runs) for size, runs in self.runs.items()}

    def observe(self, rows: int, seconds: float) -> None:
        self.count += 1
        self.runs.setdefault(rows, deque(maxlen=self.keep)).append(seconds / max(1, rows))
        self.last[rows] = self.count
        for size in [size for size, seen in self.last.items() if self.count - seen > self.stale]:
            del self.runs[size], self.last[size]
        if rows != self.limit:
            return
        self.since += 1
        if self.since < self.settle:
            return
        known = {size: runs for size, runs in self.runs.items() if len(runs) >= self.settle}
        if self.limit not in known:  # its earlier runs were forgotten (stale) while smaller batches ran: measure again
            return
        best = min(known, key=lambda size: statistics.median(known[size]))
        if best < self.limit and self._dearer(known[self.limit], known[best]):
            self.slow_start = False
            self._move(max(self.limit // 2, 1))  # below the best too: the sizes under the limit get measured afresh
        elif best > self.limit and self._dearer(known[self.limit], known[best]):
            self._move(best)  # back up to a larger size whose rows are clearly cheaper
        elif self.limit < self.most:
            self._move(min(self.most, self.limit * 2 if self.slow_start else self.limit + 1))

    def _dearer(self, here: deque[float], there: deque[float]) -> bool:
        """Whether rows at ``here`` clearly cost more than at ``there``: beyond the slack, and beyond the noise."""
        if statistics.median(here) <= self.slack * statistics.median(there):
            return False
        return _quartile(here, 0.25) > _quartile(there, 0.75)

    def _move(self, limit: int) -> None:
        self.limit, self.since = limit, 0


def _quartile(values: deque[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def best_batch_size(
    run: Callable[[Mapping[str, np.ndarray]], Outputs],
    feeds: Mapping[str, np.ndarray],
    max_batch: int,
    *,
    budget_s: float = 2.0,
) -> tuple[int, dict[int, float]]:
    """The smallest batch whose time per row is within 10% of the best measured, from one request's row repeated.

    Larger batches do not always pay on a CPU: fp32 MiniLM gets slower per sentence past batch 1 on 2 cores, while
    the digits CNN runs 4x cheaper per row at 32. Sizes double from 1 up to ``max_batch``; the probe stops early when
    rows get 30% dearer than the best so far, or when it has used ``budget_s``.
    """
    sizes = [1 << i for i in range(max_batch.bit_length()) if 1 << i <= max_batch]
    if sizes[-1] != max_batch:
        sizes.append(max_batch)
    row = {name: array[:1] for name, array in feeds.items()}
    per_row: dict[int, float] = {}
    began = time.perf_counter()
    for size in sizes:
        tiled = {name: np.repeat(array, size, axis=0) for name, array in row.items()}
        run(tiled)  # warm this shape
        timings = []
        for _ in range(3):
            start = time.perf_counter()
            run(tiled)
            timings.append(time.perf_counter() - start)
        per_row[size] = min(timings) / size * 1000
        best = min(per_row.values())
        if (size >= 4 and per_row[size] > 1.3 * best) or time.perf_counter() - began > budget_s:
            break
    best = min(per_row.values())
    return min(size for size, ms in per_row.items() if ms <= 1.1 * best), per_row
