"""A circuit breaker per cloud endpoint: stop sending calls to an endpoint that keeps failing, probe it later.

closed --(failure_threshold consecutive failures)--> open --(cooldown elapsed)--> half-open --(probe ok)--> closed
                                                       ^------------------(probe fails: cooldown doubles)--'
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import Enum

from sdk._record import record


class State(str, Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@record(kw_only=True)
class BreakerPolicy:
    failure_threshold: int = 3
    cooldown_s: float = 5.0
    max_cooldown_s: float = 60.0


class CircuitBreaker:
    def __init__(self, policy: BreakerPolicy | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy or BreakerPolicy()
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._state = State.CLOSED
        self._opened_at = 0.0
        self._cooldown = self.policy.cooldown_s
        self._probe_in_flight = False

    @property
    def state(self) -> State:
        with self._lock:
            return self._current()

    def _current(self) -> State:
        if self._state is State.OPEN and self._clock() - self._opened_at >= self._cooldown:
            self._state = State.HALF_OPEN
            self._probe_in_flight = False
        return self._state

    def allow(self) -> bool:
        """May a call go to this endpoint now? In half-open, only one probe at a time."""
        if self._state is State.CLOSED:  # the common answer, read without the lock (one attribute read is atomic)
            return True
        with self._lock:
            state = self._current()
            if state is State.CLOSED:
                return True
            if state is State.HALF_OPEN and not self._probe_in_flight:
                self._probe_in_flight = True
                return True
            return False

    def available(self) -> bool:
        """Would ``allow`` say yes (without claiming the half-open probe)?"""
        if self._state is State.CLOSED:
            return True
        with self._lock:
            state = self._current()
            return state is State.CLOSED or (state is State.HALF_OPEN and not self._probe_in_flight)

    def record_success(self) -> None:
        # Closed with no failure counted: nothing to reset (a closed breaker already has the policy's cooldown and no
        # probe), so the common success takes no lock. A failure racing with it is simply counted after it.
        if self._state is State.CLOSED and self._failures == 0:
            return
        with self._lock:
            self._failures = 0
            self._state = State.CLOSED
            self._cooldown = self.policy.cooldown_s
            self._probe_in_flight = False

    def release(self) -> None:
        """The call ended saying nothing about the endpoint's health (e.g. the caller's own deadline ran out)."""
        with self._lock:
            self._probe_in_flight = False

    def record_failure(self) -> None:
        with self._lock:
            state = self._current()
            self._failures += 1
            if state is State.HALF_OPEN:
                # The probe failed: back off further before the next one.
                self._cooldown = min(self._cooldown * 2, self.policy.max_cooldown_s)
                self._open()
            elif state is State.CLOSED and self._failures >= self.policy.failure_threshold:
                self._open()

    def _open(self) -> None:
        self._state = State.OPEN
        self._opened_at = self._clock()
        self._probe_in_flight = False

    def retry_in(self) -> float:
        with self._lock:
            if self._current() is not State.OPEN:
                return 0.0
            return max(0.0, self._cooldown - (self._clock() - self._opened_at))
