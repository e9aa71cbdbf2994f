"""Dynamic batching: merged runs, each request gets exactly its own rows, bounded queue, failures stay isolated."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sdk import load
from sdk.errors import InvalidInput, Overloaded
from sdk.serving.batcher import Batcher, batchable
from tests.sdk.serving.builders import pair_model, spec_model


@pytest.fixture(scope="module")
def cnn():
    return load("digits-cnn")


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory):
    return load(pair_model(tmp_path_factory.mktemp("pair")))


class StubModel:
    """A model whose run is scripted: it records batch sizes and can fail or drop the batch dimension."""

    def __init__(self, real: Any, *, delay: float = 0.0, poison: float | None = None, squash: bool = False) -> None:
        self.manifest = real.manifest
        self.real = real
        self.delay = delay
        self.poison = poison
        self.squash = squash
        self.batches: list[int] = []
        self.threads: set[str] = set()

    def run_validated(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        x = next(iter(feeds.values()))
        self.batches.append(x.shape[0])
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay)
        if self.poison is not None and (x == self.poison).any():
            raise InvalidInput("poisoned row")
        out = self.real.run_validated(feeds)
        return {k: v.sum(axis=0) for k, v in out.items()} if self.squash else out


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_concurrent_requests_merge_and_each_gets_its_own_answer(cnn, digits_split) -> None:
    images = digits_split.x_test[:24]
    expected = [cnn({"image": images[i : i + 1]}) for i in range(len(images))]

    async def main() -> tuple[list[dict[str, np.ndarray]], Any]:
        batcher = Batcher(max_batch_size=8, max_queue_delay_ms=50)
        results = await asyncio.gather(*(batcher.submit(cnn, {"image": images[i : i + 1]}) for i in range(24)))
        stats = batcher.stats()["digits-cnn@1"]
        await batcher.close()
        return results, stats

    results, stats = _run(main())
    assert stats.batches < 24 and stats.largest_batch == 8  # merged, never past max_batch_size
    for got, want in zip(results, expected):
        assert got["probabilities"].shape == (1, 10)
        np.testing.assert_allclose(got["probabilities"], want["probabilities"], rtol=1e-5, atol=1e-6)
    labels = [int(r["logits"].argmax()) for r in results]
    assert labels == [int(w["logits"].argmax()) for w in expected]


def test_multi_row_requests_split_back_by_their_row_counts(pair) -> None:
    rows = [1, 3, 2, 1]
    requests = [
        {"ids": np.arange(r * 4, dtype=np.int64).reshape(r, 4) + 100 * i, "mask": np.full((r, 4), i + 1, np.float32)}
        for i, r in enumerate(rows)
    ]

    async def main() -> list[dict[str, np.ndarray]]:
        batcher = Batcher(max_batch_size=16, max_queue_delay_ms=30)
        out = await asyncio.gather(*(batcher.submit(pair, r) for r in requests))
        assert batcher.stats()["pair@1"].batches == 1
        await batcher.close()
        return out

    for request, result in zip(requests, _run(main())):
        np.testing.assert_array_equal(result["score"], request["ids"] * request["mask"])


def test_requests_with_different_non_batch_dims_are_not_merged(pair) -> None:
    short = {"ids": np.ones((1, 3), np.int64), "mask": np.ones((1, 3), np.float32)}
    long = {"ids": np.full((1, 5), 2, np.int64), "mask": np.ones((1, 5), np.float32)}

    async def main() -> tuple[list[dict[str, np.ndarray]], int]:
        batcher = Batcher(max_batch_size=16, max_queue_delay_ms=20)
        out = await asyncio.gather(batcher.submit(pair, short), batcher.submit(pair, long), batcher.submit(pair, short))
        batches = batcher.stats()["pair@1"].batches
        await batcher.close()
        return out, batches

    (a, b, c), batches = _run(main())
    assert batches == 2  # the two short ones together, the long one alone
    assert a["score"].shape == c["score"].shape == (1, 3) and b["score"].tolist() == [[2.0] * 5]


def test_full_queue_answers_overloaded_at_once(cnn) -> None:
    slow = StubModel(cnn, delay=0.2)

    async def main() -> list[Any]:
        batcher = Batcher(max_batch_size=1, max_queue_size=2, retry_after_s=3)
        x = {"image": np.zeros((1, 1, 8, 8), np.float32)}
        out = await asyncio.gather(*(batcher.submit(slow, x) for _ in range(10)), return_exceptions=True)
        await batcher.close()
        return out

    start = time.perf_counter()
    results = _run(main())
    rejected = [r for r in results if isinstance(r, Overloaded)]
    assert len(rejected) == 8  # all ten arrive before the worker takes any: two fit the queue
    assert all(r.retry_after == 3 and "retry after 3 s" in r.message for r in rejected)
    assert all(isinstance(r, dict) for r in results if not isinstance(r, Overloaded))
    assert time.perf_counter() - start < 2.0


def test_a_failing_request_does_not_fail_its_batch_mates(cnn) -> None:
    poisoned = StubModel(cnn, poison=0.5)
    good = {"image": np.zeros((1, 1, 8, 8), np.float32)}
    bad = {"image": np.full((1, 1, 8, 8), 0.5, np.float32)}

    async def main() -> list[Any]:
        batcher = Batcher(max_batch_size=8, max_queue_delay_ms=30)
        out = await asyncio.gather(
            batcher.submit(poisoned, good),
            batcher.submit(poisoned, bad),
            batcher.submit(poisoned, good),
            return_exceptions=True,
        )
        await batcher.close()
        return out

    first, second, third = _run(main())
    assert isinstance(second, InvalidInput)
    assert first["logits"].shape == (1, 10) and third["logits"].shape == (1, 10)
    assert poisoned.batches[0] == 3  # tried together first, then one by one


def test_model_that_drops_the_batch_dimension_is_run_unbatched(cnn) -> None:
    squash = StubModel(cnn, squash=True)
    x = {"image": np.zeros((1, 1, 8, 8), np.float32)}

    async def main() -> list[Any]:
        batcher = Batcher(max_batch_size=8, max_queue_delay_ms=30)
        out = await asyncio.gather(*(batcher.submit(squash, x) for _ in range(3)))
        await batcher.close()
        return out

    assert all(r["logits"].shape == (10,) for r in _run(main()))


def test_model_runs_on_a_worker_thread_and_the_loop_stays_responsive(cnn) -> None:
    slow = StubModel(cnn, delay=0.3)

    async def main() -> int:
        batcher = Batcher()
        task = asyncio.ensure_future(batcher.submit(slow, {"image": np.zeros((1, 1, 8, 8), np.float32)}))
        ticks = 0
        while not task.done():
            await asyncio.sleep(0.01)
            ticks += 1
        await batcher.close()
        return ticks

    assert _run(main()) >= 10
    assert all(name.startswith("aiaas-model") for name in slow.threads)


def test_close_answers_queued_requests_then_refuses_new_ones(cnn) -> None:
    slow = StubModel(cnn, delay=0.05)
    x = {"image": np.zeros((1, 1, 8, 8), np.float32)}

    async def main() -> tuple[list[Any], Any]:
        batcher = Batcher(max_batch_size=1)
        pending = [asyncio.ensure_future(batcher.submit(slow, x)) for _ in range(4)]
        await asyncio.sleep(0)
        await batcher.close()
        late = await asyncio.gather(batcher.submit(slow, x), return_exceptions=True)
        return await asyncio.gather(*pending), late[0]

    done, late = _run(main())
    assert len(done) == 4 and all(r["logits"].shape == (1, 10) for r in done)
    assert isinstance(late, Overloaded) and "shutting down" in late.message


def test_fixed_shape_models_are_not_batchable(tmp_path: Path, cnn) -> None:
    assert batchable(cnn)
    assert not batchable(load(spec_model(tmp_path)))


def test_best_batch_size_keeps_batches_that_make_rows_cheaper() -> None:
    from sdk.serving.batcher import best_batch_size

    def cheap_rows(feeds):  # 5 ms per run whatever the batch: rows get cheaper as batches grow
        time.sleep(0.005)
        return feeds

    def dear_rows(feeds):  # 2 ms per row: batching buys nothing
        time.sleep(0.002 * len(feeds["x"]))
        return feeds

    x = {"x": np.zeros((1, 4), np.float32)}
    assert best_batch_size(cheap_rows, x, 16)[0] == 16
    limit, per_row = best_batch_size(dear_rows, x, 16)
    assert limit == 1 and per_row[1] == pytest.approx(2.0, rel=0.5)


def test_adaptive_batching_caps_batches_on_the_first_request(tmp_path) -> None:
    import asyncio

    import sdk
    from sdk.serving.batcher import Batcher

    model = sdk.load("digits-cnn")

    async def go():
        batcher = Batcher(max_batch_size=8, adaptive=True)
        await batcher.submit(model, model.validator({"image": np.zeros((1, 1, 8, 8), np.float32)}))
        for _ in range(200):
            stats = batcher.stats()[model.manifest.ref]
            if stats.batch_limit is not None:
                break
            await asyncio.sleep(0.02)
        await batcher.close()
        return stats.batch_limit

    limit = asyncio.run(go())
    assert limit is not None and 1 <= limit <= 8
