from __future__ import annotations

from sdk.client.breaker import BreakerPolicy, CircuitBreaker, State


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make() -> tuple[CircuitBreaker, Clock]:
    clock = Clock()
    return CircuitBreaker(BreakerPolicy(failure_threshold=3, cooldown_s=5, max_cooldown_s=20), clock=clock), clock


def test_opens_after_consecutive_failures_only() -> None:
    breaker, _ = make()
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is State.CLOSED and breaker.allow()
    breaker.record_failure()
    assert breaker.state is State.OPEN and not breaker.allow()
    assert breaker.retry_in() == 5


def test_half_opens_after_cooldown_and_lets_one_probe_through() -> None:
    breaker, clock = make()
    for _ in range(3):
        breaker.record_failure()
    clock.now = 5.0
    assert breaker.state is State.HALF_OPEN
    assert breaker.allow() and not breaker.allow()  # one probe at a time
    breaker.record_success()
    assert breaker.state is State.CLOSED and breaker.allow()


def test_failed_probe_reopens_with_a_longer_cooldown() -> None:
    breaker, clock = make()
    for _ in range(3):
        breaker.record_failure()
    for cooldown in (10, 20, 20):  # doubles, capped at max_cooldown_s
        clock.now += breaker.retry_in()
        assert breaker.allow()
        breaker.record_failure()
        assert breaker.state is State.OPEN and breaker.retry_in() == cooldown
