"""What `sdk serve` spends per request outside the model (issue #20 item 3): one send per answer, request ids without
a system call, and concurrent batches of one model on sessions that share the cores among them."""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
import uuid
from typing import Any

import numpy as np
import pytest

from sdk import load
from sdk.errors import ConfigError
from sdk.runtime.config import RuntimeConfig
from sdk.serving.batcher import Batcher
from sdk.serving.bootstrap import divide_cores
from sdk.serving.config import ServeConfig
from sdk.serving.connection import Corked
from sdk.serving.messages import request_id
from sdk.serving.sizing import BatchSizer


class Recording:
    """The far side of a transport: what was handed to it, write by write."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1234) if name == "peername" else default


def test_headers_and_body_written_in_one_turn_leave_as_one_send() -> None:
    async def main() -> Recording:
        far = Recording()
        corked = Corked(far, asyncio.get_running_loop())  # type: ignore[arg-type]
        corked.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        corked.write(b"{}")
        assert far.writes == []  # nothing sent before the turn ends
        assert corked.get_write_buffer_size() == len(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
        await asyncio.sleep(0)
        return far

    far = asyncio.run(main())
    assert far.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]


def test_close_sends_what_is_held_first_and_abort_drops_it() -> None:
    async def main() -> tuple[Recording, Recording]:
        loop = asyncio.get_running_loop()
        closed, aborted = Recording(), Recording()
        first, second = Corked(closed, loop), Corked(aborted, loop)  # type: ignore[arg-type]
        first.write(b"bye")
        first.close()
        assert closed.writes == [b"bye"] and closed.closed
        second.write(b"lost")
        second.abort()
        await asyncio.sleep(0)
        assert first.get_extra_info("peername") == ("127.0.0.1", 1234)  # the rest is the transport's own
        return closed, aborted

    closed, aborted = asyncio.run(main())
    assert closed.writes == [b"bye"]
    assert aborted.writes == [] and aborted.aborted


def test_request_ids_are_made_without_a_system_call_per_request(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(*_: Any) -> Any:
        raise AssertionError("a request id read the system's random source")

    monkeypatch.setattr(os, "urandom", refused)
    monkeypatch.setattr(uuid, "uuid4", refused)
    made = {request_id("") for _ in range(1000)}
    assert len(made) == 1000
    assert all(re.fullmatch(r"[0-9a-f]{32}", rid) for rid in made)
    assert request_id("client-given.1") == "client-given.1"


class Gated:
    """A model whose runs wait at a gate: shows how many batches run at once."""

    def __init__(self, real: Any) -> None:
        self.manifest = real.manifest
        self.real = real
        self.gate = threading.Event()
        self.lock = threading.Lock()
        self.inside = 0
        self.most_inside = 0

    def run_validated(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with self.lock:
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
        try:
            self.gate.wait(5)
            return self.real.run_validated(feeds)
        finally:
            with self.lock:
                self.inside -= 1


@pytest.fixture(scope="module")
def cnn() -> Any:
    return load("digits-cnn")


@pytest.mark.parametrize("runs", [1, 2])
def test_batches_of_one_model_run_at_once_up_to_its_concurrency(cnn: Any, runs: int) -> None:
    model = Gated(cnn)
    image = np.zeros((1, 1, 8, 8), np.float32)

    async def main() -> int:
        batcher = Batcher(max_batch_size=1, concurrency=runs)
        pending = [asyncio.ensure_future(batcher.submit(model, {"image": image})) for _ in range(4)]  # type: ignore[arg-type]
        deadline = time.monotonic() + 5
        while model.inside < runs and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # room for a run past the concurrency to start, if the batcher allowed one
        seen = model.most_inside
        model.gate.set()
        answers = await asyncio.gather(*pending)
        assert all(a["probabilities"].shape == (1, 10) for a in answers)
        await batcher.close()
        return seen

    assert asyncio.run(main()) == runs


def test_a_closed_loop_of_clients_never_stalls_with_concurrent_batches(cnn: Any) -> None:
    """Each client sends its next request only once answered, so a batch that ends must itself start the next one
    (an earlier draft waited for a new arrival that never came once every client was waiting)."""
    image = np.zeros((1, 1, 8, 8), np.float32)

    async def client(batcher: Batcher) -> int:
        for _ in range(30):
            await batcher.submit(cnn, {"image": image})
        return 30

    async def main() -> tuple[int, Any]:
        batcher = Batcher(max_batch_size=4, concurrency=2, adaptive=True)
        done = await asyncio.wait_for(asyncio.gather(*(client(batcher) for _ in range(8))), 30)
        stats = batcher.stats()["digits-cnn@1"]
        await batcher.close()
        return sum(done), stats

    answered, stats = asyncio.run(main())
    assert answered == 240 and stats.requests == 240


def test_concurrent_batches_share_the_cores_unless_threads_are_set() -> None:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    default = RuntimeConfig(threads=0)
    assert divide_cores(default, 2).threads == max(1, cores // 2)
    assert divide_cores(default, 1).threads == 0  # one batch at a time: the runtime's own default
    assert divide_cores(RuntimeConfig(threads=3), 2).threads == 3  # what the operator set stays


def test_model_runs_below_one_is_refused_naming_the_setting() -> None:
    with pytest.raises(ConfigError, match="model_runs must be >= 1"):
        ServeConfig(model_runs=0)
    assert ServeConfig().model_runs == 2  # two batches of a model at once by default


def test_the_sizer_survives_a_limit_whose_runs_were_forgotten_while_smaller_batches_ran() -> None:
    """Seen with two concurrent runs: the limit's runs went stale while short batches ran, then full batches came
    back and the sizer looked up the forgotten size (KeyError: a 500 for the whole batch)."""
    sizer = BatchSizer(32, settle=3, stale=5)
    while sizer.limit < 8:
        sizer.observe(sizer.limit, 0.01 * sizer.limit)
    limit = sizer.limit
    sizer.observe(limit, 0.01 * limit)
    sizer.observe(limit, 0.01 * limit)  # two runs at the limit: one more settles it
    for _ in range(10):
        sizer.observe(1, 0.01)  # the queue ran short: the limit's runs are forgotten
    assert limit not in sizer.runs
    sizer.observe(limit, 0.01 * limit)  # a full batch again: nothing to compare yet, no error
    assert sizer.limit == limit
    for _ in range(3):
        sizer.observe(limit, 0.01 * limit)
    assert sizer.limit > limit  # measured again, it goes on adapting
