from __future__ import annotations

import itertools
import random

import pytest

from sdk.client import Availability, LatencyModel, Mode, Privacy, Reason, Route, Router, RouterPolicy
from sdk.errors import CloudUnavailable, LocalUnavailable, PrivacyViolation

UP = Availability(True)
DOWN = Availability(False, "circuit open")
MISSING = Availability(False, "model not in the local store")


def router(local_ms: float | None = None, cloud_ms: float | None = None, **policy: object) -> Router:
    latency = LatencyModel()
    for route, ms in ((Route.LOCAL, local_ms), (Route.CLOUD, cloud_ms)):
        for _ in range(10) if ms is not None else ():
            latency.observe("m", route, ms)
    return Router(latency, RouterPolicy(**{"exploration_rate": 0.0, **policy}), rng=random.Random(0))


@pytest.mark.parametrize(
    ("mode", "local", "cloud", "deadline"),
    list(itertools.product(list(Mode), [UP, MISSING], [UP, DOWN], [None, 1.0, 1000.0])),
)
def test_private_plan_never_contains_the_cloud(mode: Mode, local, cloud, deadline) -> None:
    r = router(local_ms=50.0, cloud_ms=1.0)
    try:
        plan = r.plan("m", privacy=Privacy.PRIVATE, mode=mode, local=local, cloud=cloud, deadline_ms=deadline)
    except PrivacyViolation:
        assert mode is Mode.CLOUD_ONLY
    except LocalUnavailable as exc:
        assert not local.ok and "not sent to the cloud" in str(exc)
    else:
        assert plan.routes == [Route.LOCAL] and plan.reason is Reason.PRIVATE


def test_privacy_is_raised_never_lowered() -> None:
    assert Privacy.strictest("public", "private") is Privacy.PRIVATE
    assert Privacy.strictest(Privacy.PRIVATE, None) is Privacy.PRIVATE
    assert Privacy.strictest("public", None) is Privacy.PUBLIC


def test_auto_picks_the_faster_route_and_keeps_the_other_as_fallback() -> None:
    plan = router(local_ms=20.0, cloud_ms=5.0).plan("m", privacy=Privacy.PUBLIC, mode=Mode.AUTO, local=UP, cloud=UP)
    assert plan.routes == [Route.CLOUD, Route.LOCAL] and plan.reason is Reason.FASTER
    plan = router(local_ms=2.0, cloud_ms=5.0).plan("m", privacy=Privacy.PUBLIC, mode=Mode.AUTO, local=UP, cloud=UP)
    assert plan.routes == [Route.LOCAL, Route.CLOUD]


def test_deadline_picks_the_only_route_predicted_to_meet_it() -> None:
    r = router(local_ms=2.0, cloud_ms=30.0)
    plan = r.plan("m", privacy=Privacy.PUBLIC, mode=Mode.PREFER_CLOUD, local=UP, cloud=UP, deadline_ms=10)
    assert plan.routes[0] is Route.LOCAL and plan.reason is Reason.DEADLINE
    r = router(local_ms=80.0, cloud_ms=10.0)
    plan = r.plan("m", privacy=Privacy.PUBLIC, mode=Mode.AUTO, local=UP, cloud=UP, deadline_ms=50)
    assert plan.routes[0] is Route.CLOUD and plan.reason is Reason.DEADLINE


def test_unmeetable_deadline_tries_the_fastest() -> None:
    plan = router(local_ms=80.0, cloud_ms=60.0).plan(
        "m", privacy=Privacy.PUBLIC, mode=Mode.AUTO, local=UP, cloud=UP, deadline_ms=5
    )
    assert plan.routes[0] is Route.CLOUD and plan.reason is Reason.DEADLINE_UNMET


def test_deadline_missed_by_the_known_route_tries_the_unmeasured_one() -> None:
    plan = router(local_ms=80.0).plan("m", privacy=Privacy.PUBLIC, mode=Mode.AUTO, local=UP, cloud=UP, deadline_ms=20)
    assert plan.routes[0] is Route.CLOUD and plan.reason is Reason.DEADLINE


def test_unmeasured_route_is_measured_first_without_deadline() -> None:
    plan = router(local_ms=3.0).plan("m", privacy=Privacy.PUBLIC, mode=Mode.AUTO, local=UP, cloud=UP)
    assert plan.routes[0] is Route.CLOUD and plan.reason is Reason.EXPLORE and plan.explored


def test_no_estimates_uses_the_default_order() -> None:
    plan = router().plan("m", privacy=Privacy.PUBLIC, mode=Mode.AUTO, local=UP, cloud=UP)
    assert plan.routes == [Route.LOCAL, Route.CLOUD] and plan.reason is Reason.NO_ESTIMATE


@pytest.mark.parametrize(("mode", "first"), [(Mode.PREFER_LOCAL, Route.LOCAL), (Mode.PREFER_CLOUD, Route.CLOUD)])
def test_prefer_modes_set_the_order(mode: Mode, first: Route) -> None:
    plan = router(local_ms=5.0, cloud_ms=5.0).plan("m", privacy=Privacy.PUBLIC, mode=mode, local=UP, cloud=UP)
    assert plan.routes == [first, first.other()] and plan.reason is Reason.MODE


def test_only_modes_use_one_route_or_fail_typed() -> None:
    r = router(local_ms=5.0, cloud_ms=1.0)
    assert r.plan("m", privacy=Privacy.PUBLIC, mode=Mode.LOCAL_ONLY, local=UP, cloud=UP).routes == [Route.LOCAL]
    assert r.plan("m", privacy=Privacy.PUBLIC, mode=Mode.CLOUD_ONLY, local=UP, cloud=UP).routes == [Route.CLOUD]
    with pytest.raises(CloudUnavailable, match="circuit open"):
        r.plan("m", privacy=Privacy.PUBLIC, mode=Mode.CLOUD_ONLY, local=UP, cloud=DOWN)
    with pytest.raises(LocalUnavailable, match="not in the local store"):
        r.plan("m", privacy=Privacy.PUBLIC, mode=Mode.LOCAL_ONLY, local=MISSING, cloud=UP)


def test_unavailable_routes_are_left_out_with_the_reason() -> None:
    r = router(local_ms=50.0, cloud_ms=1.0)
    plan = r.plan("m", privacy=Privacy.PUBLIC, mode=Mode.AUTO, local=UP, cloud=DOWN)
    assert (
        plan.routes == [Route.LOCAL] and plan.reason is Reason.CLOUD_UNAVAILABLE and "circuit open" in plan.explanation
    )
    plan = r.plan("m", privacy=Privacy.PUBLIC, mode=Mode.PREFER_LOCAL, local=MISSING, cloud=UP)
    assert plan.routes == [Route.CLOUD] and plan.reason is Reason.LOCAL_UNAVAILABLE
    with pytest.raises(CloudUnavailable, match="no route"):
        r.plan("m", privacy=Privacy.PUBLIC, mode=Mode.AUTO, local=MISSING, cloud=DOWN)


def test_hysteresis_avoids_flapping_on_small_differences() -> None:
    r = router(local_ms=10.0, cloud_ms=12.0)
    assert r.plan("m", privacy=Privacy.PUBLIC, mode=Mode.AUTO, local=UP, cloud=UP).routes[0] is Route.LOCAL
    for _ in range(20):
        r.latency.observe("m", Route.CLOUD, 9.5)  # 5% faster: not enough to switch
    assert r.plan("m", privacy=Privacy.PUBLIC, mode=Mode.AUTO, local=UP, cloud=UP).routes[0] is Route.LOCAL
    for _ in range(20):
        r.latency.observe("m", Route.CLOUD, 5.0)  # 2x faster: switch
    assert r.plan("m", privacy=Privacy.PUBLIC, mode=Mode.AUTO, local=UP, cloud=UP).routes[0] is Route.CLOUD


def test_exploration_samples_the_slower_route_at_about_its_rate() -> None:
    r = router(local_ms=2.0, cloud_ms=10.0, exploration_rate=0.1)
    plans = [r.plan("m", privacy=Privacy.PUBLIC, mode=Mode.AUTO, local=UP, cloud=UP) for _ in range(2000)]
    explored = [p for p in plans if p.explored]
    assert all(p.routes[0] is Route.CLOUD and p.reason is Reason.EXPLORE for p in explored)
    assert 0.07 < len(explored) / len(plans) < 0.13


def test_exploration_never_breaks_a_deadline() -> None:
    r = router(local_ms=2.0, cloud_ms=40.0, exploration_rate=1.0)
    plan = r.plan("m", privacy=Privacy.PUBLIC, mode=Mode.AUTO, local=UP, cloud=UP, deadline_ms=10)
    assert plan.routes[0] is Route.LOCAL and not plan.explored


def test_an_exploration_probe_does_not_move_the_incumbent_route() -> None:
    r = router(local_ms=10.0, cloud_ms=11.0, exploration_rate=1.0)
    r.policy = RouterPolicy(exploration_rate=0.0)
    assert r.plan("m", privacy=Privacy.PUBLIC, mode=Mode.AUTO, local=UP, cloud=UP).routes[0] is Route.LOCAL
    r.policy = RouterPolicy(exploration_rate=1.0)
    probe = r.plan("m", privacy=Privacy.PUBLIC, mode=Mode.AUTO, local=UP, cloud=UP)
    assert probe.explored and probe.routes[0] is Route.CLOUD
    r.latency.observe("m", Route.CLOUD, 9.5)  # close enough that hysteresis keeps the incumbent
    r.policy = RouterPolicy(exploration_rate=0.0)
    assert r.plan("m", privacy=Privacy.PUBLIC, mode=Mode.AUTO, local=UP, cloud=UP).routes[0] is Route.LOCAL
