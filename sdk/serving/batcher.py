"""Dynamic batching: concurrent requests for one model are merged into one model run and split back.

Policy (ours): per model, a FIFO queue and one worker. The worker takes the oldest request and every queued request
compatible with it (same input names and dtypes, equal non-batch dimensions), up to ``max_batch_size`` rows; with
``max_queue_delay_ms`` > 0 it first waits up to that long after the oldest request arrived for the batch to fill.
With the default delay of 0, batches form only from requests that queued while the model was busy, so a lone
request never waits. The model runs in a worker thread, so the event loop keeps accepting and parsing requests
meanwhile; with ``concurrency`` > 1 (the server's ``model_runs``) that many batches of one model run at once, each on
its own thread (on sessions given the cores divided among the runs, see ``bootstrap.divide_cores``), a second one
started once half as many rows as the last batch took are waiting. The queue is bounded: when ``max_queue_size``
requests wait, new ones get ``Overloaded`` (503 + Retry-After) at once instead of waiting without bound.

Raw inputs (text, images: ``submit_raw``) batch the same way: the raw items of the merged requests are processed
and run together, the input processor called once per batch (tokenization runs here, on the worker thread, never
on the event loop), and the answers split back by each request's count. Texts run by length (``raw.process_by_length``:
groups of similar token counts, each padded to its own longest, one run per group) unless ``length_buckets`` is off,
when the whole batch is padded to its longest text. Every group of a batch runs before the next batch is taken, so a
long text waits no longer than its batch-mates.

With ``adaptive`` on, the rows per run follow what runs cost under the live load (``BatchSizer``, in sizing.py): no
request is ever held back to measure; and a batch takes no more than the mean of what waits and what the last batch
ran (``_share``), so that under a closed loop the batches alternate in even halves and the event loop's work for one
overlaps the model run of the other.

A batch that fails is re-run one request at a time, so one bad request never fails its batch-mates; a model whose
outputs do not keep the batch dimension is run unbatched from then on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Hashable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import field
from typing import Any

import numpy as np

from sdk._record import record
from sdk.errors import AiaasError, Overloaded
from sdk.runtime import LoadedModel
from sdk.runtime.processors import Processed
from sdk.serving import raw as raw_inputs
from sdk.serving.checks import batchable
from sdk.serving.metrics import ModelSeries, ServingMetrics
from sdk.serving.sizing import BatchSizer, best_batch_size

__all__ = ["BatchSizer", "BatchStats", "Batcher", "batchable", "best_batch_size"]  # the sizer lives in sizing.py

logger = logging.getLogger("sdk.serving.batcher")

Outputs = dict[str, np.ndarray]
_RAW = ("raw",)  # the key of raw requests: any two merge (the processor makes their tensors alike)


@record(frozen=False)
class _Item:
    feeds: Mapping[str, np.ndarray]
    rows: int
    key: Hashable | None  # None: cannot be merged with anything
    future: asyncio.Future[Any]  # Outputs, or Processed for raw items
    arrived: float
    raw: list[bytes] | None = None  # raw items (text, images) to process, instead of feeds


@record(frozen=False)
class BatchStats:
    requests: int = 0
    batches: int = 0
    rows: int = 0
    rejected: int = 0
    largest_batch: int = 0
    batch_sizes: dict[int, int] = field(default_factory=dict)
    batch_limit: int | None = None  # rows per run now (adaptive batching), else None


class _ModelQueue:
    def __init__(self, model: LoadedModel, batcher: Batcher) -> None:
        self.model = model
        self.batcher = batcher
        self.items: deque[_Item] = deque()
        self.wake = asyncio.Event()
        self.merge = batchable(model) and batcher.max_batch_size > 1
        # The most rows merged per run: the configured maximum, or what the sizer finds (adaptive batching).
        self.sizer = BatchSizer(batcher.max_batch_size) if self.merge and batcher.adaptive else None
        self.stats = BatchStats()
        self.running = 0  # requests in the batches running now
        self.batches = 0  # batches running now (at most the batcher's concurrency)
        self.previous = 0  # rows of the last batch taken
        self.by_length: bool | None = None  # texts run in length groups (known on the first raw batch)
        self.series: ModelSeries | None = None  # this model's metrics, when the server keeps them
        if batcher.metrics is not None:
            self.series = batcher.metrics.model(model.manifest.name, model.manifest.version)
            self.series.track_depth(lambda: len(self.items))
        self.loop = asyncio.get_running_loop()
        self.task = self.loop.create_task(self._work(), name=f"batcher:{model.manifest.ref}")

    def key(self, feeds: Mapping[str, np.ndarray]) -> tuple[Hashable | None, int]:
        arrays = list(feeds.values())
        rows = int(arrays[0].shape[0]) if arrays and arrays[0].ndim else 1
        if not self.merge or any(a.ndim == 0 or a.shape[0] != rows for a in arrays):
            return None, rows
        return tuple((name, a.dtype.str, a.shape[1:]) for name, a in feeds.items()), rows

    async def _work(self) -> None:
        runs: set[asyncio.Task[None]] = set()
        try:
            while True:
                if not self.items or self.batches >= self.batcher.concurrency or not self._worth_a_run():
                    self.wake.clear()
                    await self.wake.wait()
                    continue
                await self._fill()
                batch = self._take()
                self.running += len(batch)
                self.batches += 1
                if self.batcher.concurrency == 1:
                    await self._guarded(batch)
                    continue
                run = self.loop.create_task(self._guarded(batch))
                runs.add(run)
                run.add_done_callback(runs.discard)
        finally:
            for run in runs:
                run.cancel()

    def _worth_a_run(self) -> bool:
        """Whether to start a batch beside one already running: only once half as many rows as the last batch took
        wait (a run that ends starts the next one whatever waits). Taking whatever came first the moment a slot
        freed split a closed loop's requests into runs of one or two rows beside each full one."""
        if not self.batches or self.sizer is None:
            return True
        return self._compatible_rows() >= min(self.limit, max(1, self.previous // 2))

    async def _guarded(self, batch: list[_Item]) -> None:
        """One batch run; whatever fails outside the model fails its requests, never the worker (its queue would hang
        every later request). The worker is woken when it ends: with concurrent runs it may be waiting for a slot."""
        try:
            await self._run(batch)
        except Exception as exc:
            logger.exception("%s: batch of %d failed outside the model run", self.model.manifest.ref, len(batch))
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(exc)
        finally:
            self.running -= len(batch)
            self.batches -= 1
            self.wake.set()

    async def _fill(self) -> None:
        """Wait (up to the queue delay after the oldest request arrived) for a batch to fill."""
        delay = self.batcher.max_queue_delay_s
        if delay <= 0 or self.items[0].key is None:
            return
        deadline = self.items[0].arrived + delay
        while self._compatible_rows() < self.limit:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self.wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.wake.wait(), remaining)

    @property
    def limit(self) -> int:
        return self.sizer.limit if self.sizer is not None else self.batcher.max_batch_size

    def _compatible_rows(self) -> int:
        key = self.items[0].key
        return sum(item.rows for item in self.items if item.key == key)

    def _take(self) -> list[_Item]:
        limit = self._share()
        first = self.items.popleft()
        batch = [first]
        if first.key is None:
            return batch
        rows, keep = first.rows, deque[_Item]()
        while self.items:
            item = self.items.popleft()
            if item.key == first.key and rows + item.rows <= limit:
                batch.append(item)
                rows += item.rows
            else:
                keep.append(item)
        self.items.extendleft(reversed(keep))
        self.previous = rows
        return batch

    def _share(self) -> int:
        """The most rows the next batch takes: the limit and, with adaptive sizing, no more than the mean of the rows
        waiting and the rows the last batch ran. Under a closed loop (each client waits for its answer) a batch that
        drains the queue is answered in a burst: the event loop then writes its answers and parses the next requests
        while the model runs the one or two that came in between, and the two take turns instead of overlapping
        (MiniLM int8 at 32 clients formed 31+1 and 30+2 batches, 20-40% dearer per row than 16+16). Taking the mean
        evens consecutive batches within a few runs; a queue deeper than the last batch still grows them."""
        if self.sizer is None:
            return self.limit
        return min(self.limit, max(1, -(-(self._compatible_rows() + self.previous) // 2)))

    async def _run(self, batch: list[_Item]) -> None:
        live = [item for item in batch if not item.future.done()]  # cancelled: the client went away
        if not live:
            return
        loop = asyncio.get_running_loop()
        began = time.monotonic()
        results = await loop.run_in_executor(self.batcher.executor, self._execute, live)
        rows, took = sum(item.rows for item in live), time.monotonic() - began
        if self.series is not None:
            self.series.ran(rows, took, [began - item.arrived for item in live])
        if self.sizer is not None and self.merge:
            self.sizer.observe(rows, took)
            self.stats.batch_limit = self.sizer.limit
        stats = self.stats
        stats.batches += 1
        stats.rows += sum(item.rows for item in live)
        stats.largest_batch = max(stats.largest_batch, len(live))
        stats.batch_sizes[len(live)] = stats.batch_sizes.get(len(live), 0) + 1
        for item, result in zip(live, results):
            if item.future.done():
                continue
            if isinstance(result, BaseException):
                item.future.set_exception(result)
            else:
                item.future.set_result(result)

    def _execute(self, batch: list[_Item]) -> list[Any]:
        """In the worker thread: one merged run, split per request; falls back to one run per request."""
        if batch[0].raw is not None:
            return self._execute_raw(batch)
        if len(batch) == 1:
            return [self._run_one(batch[0])]
        names = list(batch[0].feeds)
        merged = {n: np.concatenate([item.feeds[n] for item in batch], axis=0) for n in names}
        total = sum(item.rows for item in batch)
        try:
            outputs = self.model.run_validated(merged)
        except AiaasError:
            return [self._run_one(item) for item in batch]  # find the request that fails, spare the others
        if any(o.ndim == 0 or o.shape[0] != total for o in outputs.values()):
            logger.warning("%s: outputs lost the batch dimension; batching disabled", self.model.manifest.ref)
            self.merge = False
            return [self._run_one(item) for item in batch]
        split: list[Outputs | BaseException] = []
        start = 0
        for item in batch:
            end = start + item.rows
            split.append({n: o[start:end] for n, o in outputs.items()})
            start = end
        return split

    def _run_one(self, item: _Item) -> Outputs | Processed | BaseException:
        try:
            if item.raw is not None:
                return self._process(item.raw)
            return self.model.run_validated(item.feeds)
        except AiaasError as exc:
            return exc

    def _execute_raw(self, batch: list[_Item]) -> list[Any]:
        """Raw items of every request processed as one batch (the input processor runs once), split per request."""
        if len(batch) == 1:
            return [self._run_one(batch[0])]
        merged = [raw for item in batch for raw in item.raw or ()]
        try:
            processed = self._process(merged)
        except AiaasError:
            return [self._run_one(item) for item in batch]  # one bad text or image fails its own request only
        if len(processed) != len(merged):
            logger.warning("%s: outputs lost the batch dimension; batching disabled", self.model.manifest.ref)
            self.merge = False
            return [self._run_one(item) for item in batch]
        return list(processed.split([item.rows for item in batch]))

    def _process(self, items: list[bytes]) -> Processed:
        """Raw items processed and run: texts by length (see ``raw.process_by_length``), others in one run."""
        if self.by_length is None:
            self.by_length = self.batcher.length_buckets and raw_inputs.groupable(self.model)
        if self.by_length:
            return raw_inputs.process_by_length(self.model, items)
        return self.model.process(items)


class Batcher:
    """Queues validated feeds per model and runs them in merged batches on a worker thread."""

    def __init__(
        self,
        *,
        max_batch_size: int = 32,
        max_queue_delay_ms: float = 0.0,
        max_queue_size: int = 256,
        retry_after_s: int = 1,
        threads: int = 4,
        adaptive: bool = False,
        length_buckets: bool = True,
        concurrency: int = 1,
    ) -> None:
        self.max_batch_size = max_batch_size
        self.concurrency = max(1, concurrency)  # batches of one model running at once
        self.length_buckets = length_buckets
        self.adaptive = adaptive
        self.max_queue_delay_s = max_queue_delay_ms / 1000
        self.max_queue_size = max_queue_size
        self.retry_after_s = retry_after_s
        self.executor = ThreadPoolExecutor(max_workers=max(threads, self.concurrency), thread_name_prefix="aiaas-model")
        self._queues: dict[int, _ModelQueue] = {}
        self._closing = False
        self.metrics: ServingMetrics | None = None  # set by the service that owns this batcher

    async def submit(self, model: LoadedModel, feeds: Mapping[str, np.ndarray]) -> Outputs:
        """Run ``feeds`` (already validated) as part of a batch; the outputs are this request's rows only."""
        result: Outputs = await self._enqueue(model, feeds, None)
        return result

    async def submit_raw(self, model: LoadedModel, raw: list[bytes]) -> Processed:
        """Process and run raw items (text, images) as part of a batch; the answers are this request's only."""
        result: Processed = await self._enqueue(model, {}, raw)
        return result

    async def _enqueue(self, model: LoadedModel, feeds: Mapping[str, np.ndarray], raw: list[bytes] | None) -> Any:
        if self._closing:
            if self.metrics is not None:
                self.metrics.model(model.manifest.name, model.manifest.version).rejected("shutting_down")
            raise Overloaded("the server is shutting down", retry_after=self.retry_after_s)
        queue = self._queues.get(id(model))
        if queue is None:
            queue = self._queues[id(model)] = _ModelQueue(model, self)
        if len(queue.items) >= self.max_queue_size:
            queue.stats.rejected += 1
            if queue.series is not None:
                queue.series.rejected("queue_full")
            raise Overloaded(
                f"{model.manifest.ref} has {len(queue.items)} requests waiting, the most its queue holds; "
                f"retry after {self.retry_after_s} s",
                retry_after=self.retry_after_s,
            )
        if raw is None:
            key, rows = queue.key(feeds)
        else:
            key, rows = (_RAW if queue.merge else None), len(raw)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        queue.items.append(_Item(feeds, rows, key, future, time.monotonic(), raw))
        queue.stats.requests += 1
        queue.wake.set()
        return await future

    def stats(self) -> dict[str, Any]:
        return {q.model.manifest.ref: q.stats for q in self._queues.values()}

    def discard(self, model: LoadedModel) -> None:
        """Forget ``model``'s queue and stop its worker: the model was evicted (memory budget), which happens only
        when no request holds it, so nothing waits in its queue. Callable from any thread."""
        queue = self._queues.pop(id(model), None)
        if queue is None:
            return
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if here is queue.loop:
            queue.task.cancel()
        elif not queue.loop.is_closed():
            queue.loop.call_soon_threadsafe(queue.task.cancel)

    async def close(self, timeout: float = 30.0) -> None:
        """Refuse new requests, finish the queued ones (up to ``timeout``), then stop the workers."""
        self._closing = True
        deadline = time.monotonic() + timeout
        while any(q.items or q.running for q in self._queues.values()) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for queue in self._queues.values():
            queue.task.cancel()
            for item in queue.items:
                if not item.future.done():
                    item.future.set_exception(Overloaded("the server is shutting down", retry_after=1))
        await asyncio.gather(*(q.task for q in self._queues.values()), return_exceptions=True)
        self.executor.shutdown(wait=True)
