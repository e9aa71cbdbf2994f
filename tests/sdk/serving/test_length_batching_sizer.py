"""Batch sizing that keeps adapting (#20 item 3): the rows per run follow what the batches that ran cost, and no
request is held back by a probe."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from sdk import load
from sdk.serving.batcher import Batcher, BatchSizer


def _drive(sizer: BatchSizer, seconds_for: Any, batches: int) -> list[int]:
    """Full batches at the sizer's limit, each costing ``seconds_for(rows)``; the limits it chose, in turn."""
    limits = []
    for _ in range(batches):
        rows = sizer.limit
        sizer.observe(rows, seconds_for(rows))
        limits.append(sizer.limit)
    return limits


def test_sizer_grows_to_the_maximum_while_rows_get_cheaper() -> None:
    limits = _drive(BatchSizer(32), lambda rows: 0.005 + 0.0001 * rows, 60)  # the digits CNN's shape of cost
    assert limits[-1] == 32 and limits[:3] == [1, 1, 2]


def test_sizer_settles_where_rows_cost_within_its_slack_of_the_cheapest() -> None:
    # 2 ms per run + 0.5 ms per row, growing past 8 rows (a CPU's caches): the cheapest rows are at 9.
    def cost(rows: int) -> float:
        return 0.002 + 0.0005 * rows + 0.0001 * max(0, rows - 8) ** 2

    limits = _drive(BatchSizer(32), cost, 400)
    cheapest = min(cost(r) / r for r in range(1, 33))
    tail = limits[-100:]
    assert max(tail) < 16 and all(cost(r) / r <= 1.2 * cheapest for r in tail)


def test_sizer_moves_when_the_cost_changes() -> None:
    sizer = BatchSizer(32)
    _drive(sizer, lambda rows: 0.005 + 0.0001 * rows, 60)
    assert sizer.limit == 32
    _drive(sizer, lambda rows: 0.001 * rows + 0.0002 * max(0, rows - 4) ** 2, 200)  # now dearer per row past 4
    assert sizer.limit < 16


def test_the_first_request_runs_once_with_no_probe_holding_it_back() -> None:
    model = load("digits-cnn")
    runs: list[int] = []
    run = model.backend.run

    def counting(feeds: Any) -> dict[str, np.ndarray]:
        runs.append(len(next(iter(feeds.values()))))
        return run(feeds)

    model.backend.run = counting  # type: ignore[method-assign]

    async def main() -> int | None:
        batcher = Batcher(max_batch_size=8, adaptive=True)
        try:
            await batcher.submit(model, model.validator({"image": np.zeros((1, 1, 8, 8), np.float32)}))
            return batcher.stats()[model.manifest.ref].batch_limit
        finally:
            await batcher.close()

    limit = asyncio.run(main())
    assert runs == [1]  # the request's own run, no batches of 1, 2, 4, 8 repeated rows before it
    assert limit == 1
