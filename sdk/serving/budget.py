"""Many models in one memory budget: what a model costs, and which idle models make room for the next one.

``sdk serve --memory-budget SIZE`` (``AIAAS_MEMORY_BUDGET``; a Lambda defaults it from its configured memory) loads
models on first use. Before a load, ``MemoryBudget.reserve`` makes room: it evicts the least recently used models
that no request holds (``lease``/``release`` count the requests using a model), and when even that is not enough it
waits for requests to finish, up to the caller's deadline (then ``Overloaded``, 503 + Retry-After), never going over.

How a model is counted (measured on this machine with ONNX Runtime 1.32, a 32 MiB fp32 initializer, see
docs/operate.md): loading from verified bytes peaks at 3.0x the artifact's bytes (the bytes read, ONNX Runtime's parsed
copy, its tensors) and settles at 2.0x. So a load reserves ``LOAD_FACTOR`` times the bytes of the dearest artifact the
model may load (``model_cost``; mapped external data at ``MAPPED_FACTOR``), and once loaded the model is charged the
resident memory its load really added (``/proc/self/statm`` before and after; loads run one at a time under a budget),
never less than what such a load settles at (``SETTLED_FACTOR``, 2.0x: memory the process freed meanwhile cannot make a
model look cheap). The charge is remembered per model: one that settled above its estimated peak reserves that when
loaded again. Closing an ONNX Runtime session returns its memory (measured: all of it, with or without ``malloc_trim``);
``trim`` still asks glibc to hand back freed heap pages after an eviction (0.1 ms with little to return; 0.13 s after
freeing 800 MB of small blocks), outside the lock that requests lease models under.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from sdk._record import record
from sdk.artifacts.manifest import Manifest
from sdk.errors import ConfigError, Overloaded

LOAD_FACTOR = 3.0  # peak resident memory of a load, per byte of its artifact (measured: 3.0x)
# What a loaded model keeps, per byte of its artifact (measured: 2.0x): the least a model is charged once loaded. The
# measured growth alone can read low when the process frees other memory during the load (a finished request, the
# garbage collector, a trim): seen in a full test run, where five models then fitted a budget for three.
SETTLED_FACTOR = 2.0
# A large model's external data is memory-mapped and used in place (sdk.runtime.mapped): issue #19 item 2 bounds
# its load at 1.15x the weight bytes.
MAPPED_FACTOR = 1.15
# AWS Lambda: what the function's memory holds besides the models (Python, sdk, ONNX Runtime, Powertools: 62 MiB
# measured after import; ONNX Runtime's environment and thread pools, the runtime interface client, the event).
LAMBDA_HEADROOM = 160 * 1024 * 1024
LAMBDA_MEMORY_ENV = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"  # set by AWS Lambda: the function's memory, in MB
# An ONNX model of one Identity node (float x [1] -> y), opset 13: what starts the runtime before any real model.
WARM_MODEL = (
    b'\x08\x08:7\n\x10\n\x01x\x12\x01y"\x08Identity\x12\x01wZ\x0f\n\x01x\x12\n\n\x08\x08\x01\x12\x04\n\x02\x08\x01b'
    b"\x0f\n\x01y\x12\n\n\x08\x08\x01\x12\x04\n\x02\x08\x01B\x04\n\x00\x10\r"
)

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kib": 1024,
    "ki": 1024,
    "kb": 1000,
    "m": 1024**2,
    "mib": 1024**2,
    "mi": 1024**2,
    "mb": 1000**2,
    "g": 1024**3,
    "gib": 1024**3,
    "gi": 1024**3,
    "gb": 1000**3,
    "t": 1024**4,
    "tib": 1024**4,
    "ti": 1024**4,
    "tb": 1000**4,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(text: str, *, what: str = "memory budget") -> int:
    """Bytes from ``512MiB``, ``2GB``, ``1.5G`` or ``1073741824``: KiB/MiB/GiB (and K/M/G) are powers of 1024,
    KB/MB/GB powers of 1000. Anything else is a ``ConfigError`` naming the text and the forms it takes."""
    found = _SIZE.match(text)
    unit = found.group(2).lower() if found else ""
    if found is None or unit not in _UNITS:
        raise ConfigError(
            f"{what} {text!r} is not a size",
            hint="write a number of bytes with an optional unit: 512MiB, 2GiB, 2GB, 1.5G, 1073741824",
        )
    size = int(float(found.group(1)) * _UNITS[unit])
    if size <= 0:
        raise ConfigError(f"{what} {text!r} must be more than 0 bytes")
    return size


def format_size(size: float) -> str:
    """``size`` bytes for a person: ``256.0 MiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024 or unit == "GiB":
            return f"{size:.0f} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"  # pragma: no cover - the loop returns


@record
class Cost:
    """What loading a model is expected to take: ``size``, the artifact bytes it will hold (a file and its
    external shards), and ``peak``, the resident memory its load reaches (``LOAD_FACTOR`` per byte read and
    parsed, ``MAPPED_FACTOR`` per byte of mapped external data)."""

    size: int
    peak: int

    @property
    def settled(self) -> int:
        """The least the loaded model is charged: ``SETTLED_FACTOR`` per byte read and parsed (never above the
        peak; mapped external data stays at its own bytes)."""
        return min(self.peak, max(self.size, int(self.peak * SETTLED_FACTOR / LOAD_FACTOR)))


def model_cost(manifest: Manifest) -> Cost:
    """The cost of the model's dearest loadable artifact: the engine choice picks one, and counting the dearest
    keeps the estimate on the safe side."""
    costs = [
        Cost(
            a.bytes + sum(s.bytes for s in a.external),
            int(a.bytes * LOAD_FACTOR + sum(s.bytes for s in a.external) * MAPPED_FACTOR),
        )
        for a in manifest.artifacts
        if a.kind == "onnx"
    ]
    costs = costs or [Cost(a.bytes, int(a.bytes * LOAD_FACTOR)) for a in manifest.artifacts]
    return max(costs, key=lambda cost: cost.peak, default=Cost(0, 0))


def lambda_budget(memory_mb: str | None) -> str | None:
    """The budget of a Lambda function with ``memory_mb`` (``AWS_LAMBDA_FUNCTION_MEMORY_SIZE``) of memory: that,
    less ``LAMBDA_HEADROOM`` for the runtime's baseline, in bytes; None when unknown or too small for any model."""
    try:
        budget = int(memory_mb or "") * 1024 * 1024 - LAMBDA_HEADROOM
    except ValueError:
        return None
    return str(budget) if budget > 0 else None


def resident_bytes() -> int:
    """This process's resident set (``/proc/self/statm``), 0 where there is no /proc."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


_libc: Any = None  # ctypes.CDLL of the C library once looked up (ctypes is imported then), False when unusable


def trim() -> None:
    """Ask glibc to return freed heap pages to the system (``malloc_trim(0)``); nothing on another libc."""
    global _libc
    if _libc is None:
        import ctypes.util  # here: ~4 ms of every function's init otherwise

        name = ctypes.util.find_library("c")
        try:
            _libc = ctypes.CDLL(name) if name else False
            if _libc and not hasattr(_libc, "malloc_trim"):
                _libc = False
        except OSError:
            _libc = False
    if _libc:
        _libc.malloc_trim(0)


@record(frozen=False)
class _Held:
    charge: int  # bytes counted for this loaded model
    leases: int = 0  # requests using it now: never evicted while above 0


class MemoryBudget:
    """The accounting and the eviction policy of a budget (thread-safe). Keys are model versions (their folders).

    ``used`` is the charges of the loaded models plus the reservation of the load under way; it never exceeds
    ``capacity``. ``evict(key)`` is the caller's: it closes a model that ``reserve`` took out of the accounting
    (nobody can lease it any more), before the load that needed the room."""

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ConfigError(f"memory budget must be more than 0 bytes, got {capacity}")
        self.capacity = capacity
        self._held: OrderedDict[Hashable, _Held] = OrderedDict()  # least recently used first
        self._reserved = 0
        self._measured: dict[Hashable, int] = {}  # a model's charge when it was last loaded
        self._cond = threading.Condition()
        self.evictions = 0

    # --- what a model costs ------------------------------------------------------------------------------------

    def need(self, key: Hashable, cost: Cost) -> int:
        """Bytes to reserve for loading ``key``: its load peak estimate, or what it was measured at if more."""
        return max(cost.peak, self._measured.get(key, 0))

    def check_fits(self, name: str, cost: Cost) -> None:
        """``ConfigError`` when a model of this cost cannot load within the budget even alone."""
        need = cost.peak
        if need > self.capacity:
            raise ConfigError(
                f"memory budget {format_size(self.capacity)} is smaller than the largest model, {name}, which needs "
                f"{format_size(need)} to load (its {format_size(cost.size)} of artifact files)",
                hint=f"raise --memory-budget to at least {format_size(need)}, or leave {name} out (--model)",
            )

    # --- requests using models ---------------------------------------------------------------------------------

    def lease(self, key: Hashable) -> bool:
        """Hold ``key`` for a request if it is loaded (True); it cannot be evicted until ``release``."""
        with self._cond:
            held = self._held.get(key)
            if held is None:
                return False
            held.leases += 1
            self._held.move_to_end(key)
            return True

    def release(self, key: Hashable) -> None:
        with self._cond:
            held = self._held.get(key)
            if held is not None and held.leases > 0:
                held.leases -= 1
                self._held.move_to_end(key)  # least recently used: by the end of its last use
            self._cond.notify_all()

    # --- loading and evicting ----------------------------------------------------------------------------------

    def reserve(self, key: Hashable, need: int, deadline: float, evict: Callable[[Hashable], None]) -> None:
        """Make room for a load of ``need`` bytes: evict idle models, least recently used first, as few as it
        takes; when the idle ones cannot make room, wait for requests to release theirs until ``deadline``
        (``time.monotonic()``), then ``Overloaded``. One load reserves at a time (the caller serializes loads).

        The victims leave the accounting under the lock, so no request can lease them any more; ``evict`` closes
        them after it (with ``trim``), so that a request leasing another model never waits for a session to close:
        the caller loads only once this returns, after the memory is back."""
        victims: list[Hashable] = []
        try:
            with self._cond:
                while True:
                    free = self.capacity - self._used()
                    idle = [k for k, held in self._held.items() if held.leases == 0]
                    if need > free and sum(self._held[k].charge for k in idle) >= need - free:
                        for victim in idle:
                            if self.capacity - self._used() >= need:
                                break
                            del self._held[victim]
                            victims.append(victim)
                            self.evictions += 1
                    if self.capacity - self._used() >= need:
                        self._reserved = need
                        return
                    left = deadline - time.monotonic()
                    if left <= 0:
                        busy = sum(1 for held in self._held.values() if held.leases)
                        raise Overloaded(
                            f"no memory to load this model within the budget of {format_size(self.capacity)}: it "
                            f"needs {format_size(need)}, and {busy} loaded model(s) are in use by other requests",
                            retry_after=1,
                        )
                    self._cond.wait(left)
        finally:
            for victim in victims:
                evict(victim)
            if victims:
                trim()

    def loaded(self, key: Hashable, resident_growth: int, floor: int, *, leases: int = 1) -> int:
        """A reserved load finished: count ``key`` at the resident memory its load added, at least ``floor`` (its
        ``Cost.settled``), held by ``leases`` requests. Returns the charge."""
        with self._cond:
            charge = max(resident_growth, floor)
            self._held[key] = _Held(charge, leases)
            self._measured[key] = charge
            self._reserved = 0
            self._cond.notify_all()
            return charge

    def cancel(self) -> None:
        """A reserved load failed: give its reservation back."""
        with self._cond:
            self._reserved = 0
            self._cond.notify_all()

    def forget(self, key: Hashable) -> None:
        """``key`` was closed outside the budget (the server stopping)."""
        with self._cond:
            self._held.pop(key, None)
            self._cond.notify_all()

    # --- what an operator sees ---------------------------------------------------------------------------------

    def _used(self) -> int:
        return self._reserved + sum(held.charge for held in self._held.values())

    def used(self) -> int:
        with self._cond:
            return self._used()

    def charge(self, key: Hashable) -> int | None:
        with self._cond:
            held = self._held.get(key)
            return held.charge if held is not None else None

    def order(self) -> list[Hashable]:
        """Loaded keys, least recently used first."""
        with self._cond:
            return list(self._held)
