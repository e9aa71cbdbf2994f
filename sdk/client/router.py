"""The router: for one call, the ordered routes to try and the reason, from privacy, mode, deadline and estimates.

The privacy rule is structural: a private call's plan holds the local route only, so no fallback, retry or exploration
that walks the plan can reach the cloud.
"""

from __future__ import annotations

import random
import threading
from dataclasses import field

from sdk._record import record
from sdk.client.decision import Mode, Privacy, Reason, Route
from sdk.client.latency import LatencyModel, Prediction
from sdk.errors import CloudUnavailable, LocalUnavailable, PrivacyViolation


@record(kw_only=True)
class RouterPolicy:
    exploration_rate: float = 0.03
    # Hysteresis: leave the route used last time only when the other is predicted this much faster.
    switch_margin: float = 0.15
    default_order: tuple[Route, Route] = (Route.LOCAL, Route.CLOUD)


@record
class Availability:
    """Whether a route can be tried now, and if not, why (for the error and the decision)."""

    ok: bool
    why: str = ""


_LOCAL, _CLOUD = Route.LOCAL.value, Route.CLOUD.value  # the keys of Plan.predicted
UP = Availability(True)  # frozen: one instance serves every call that finds a route up


@record(frozen=False)
class Plan:
    routes: list[Route]
    reason: Reason
    explanation: str
    predicted: dict[str, Prediction | None] = field(default_factory=dict)
    explored: bool = False


class Router:
    def __init__(
        self,
        latency: LatencyModel | None = None,
        policy: RouterPolicy | None = None,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.latency = latency or LatencyModel()
        self.policy = policy or RouterPolicy()
        self._rng = rng or random.Random()
        self._last: dict[str, Route] = {}
        self._lock = threading.Lock()

    def plan(
        self,
        model: str,
        *,
        privacy: Privacy,
        mode: Mode,
        local: Availability,
        cloud: Availability,
        deadline_ms: float | None = None,
        payload_bytes: int = 0,
    ) -> Plan:
        if privacy is Privacy.PRIVATE:
            return self._private(mode, local)
        local_p, cloud_p = self.latency.predict_both(model, local=local.ok, cloud=cloud.ok, payload_bytes=payload_bytes)
        predicted = {_LOCAL: local_p, _CLOUD: cloud_p}
        if mode is Mode.LOCAL_ONLY:
            if not local.ok:
                raise LocalUnavailable(f"mode local_only, but the local route is unavailable: {local.why}")
            return Plan([Route.LOCAL], Reason.MODE, "mode local_only", predicted)
        if mode is Mode.CLOUD_ONLY:
            if not cloud.ok:
                raise CloudUnavailable(f"mode cloud_only, but the cloud route is unavailable: {cloud.why}")
            return Plan([Route.CLOUD], Reason.MODE, "mode cloud_only", predicted)
        if not local.ok and not cloud.ok:
            raise CloudUnavailable(f"no route can serve this call: local: {local.why}; cloud: {cloud.why}")
        if not local.ok:
            return Plan([Route.CLOUD], Reason.LOCAL_UNAVAILABLE, f"local route unavailable ({local.why})", predicted)
        if not cloud.ok:
            return Plan([Route.LOCAL], Reason.CLOUD_UNAVAILABLE, f"cloud route unavailable ({cloud.why})", predicted)
        plan = self._by_latency(model, mode, deadline_ms, predicted)
        if not plan.explored:  # a probe of the other route is not a decision to move there
            with self._lock:
                self._last[model] = plan.routes[0]
        return plan

    @staticmethod
    def _private(mode: Mode, local: Availability) -> Plan:
        if mode is Mode.CLOUD_ONLY:
            raise PrivacyViolation(
                "mode cloud_only was asked for a private request; private data never leaves the device",
                hint="use mode auto/local_only, or send only public data with cloud_only",
            )
        if not local.ok:
            raise LocalUnavailable(
                f"private request and the local route is unavailable ({local.why}); it is not sent to the cloud",
                hint="pull the model to this device (sdk models pull NAME) or mark the call public if it may leave",
            )
        return Plan([Route.LOCAL], Reason.PRIVATE, "private request: runs on this device only")

    def _by_latency(
        self, model: str, mode: Mode, deadline_ms: float | None, predicted: dict[str, Prediction | None]
    ) -> Plan:
        local, cloud = predicted[_LOCAL], predicted[_CLOUD]
        preferred = {Mode.PREFER_LOCAL: Route.LOCAL, Mode.PREFER_CLOUD: Route.CLOUD}.get(mode)

        if deadline_ms is not None:
            meets = {
                r: p is not None and p.high_ms <= deadline_ms for r, p in ((Route.LOCAL, local), (Route.CLOUD, cloud))
            }
            known = {r for r, p in ((Route.LOCAL, local), (Route.CLOUD, cloud)) if p is not None}
            if meets[Route.LOCAL] != meets[Route.CLOUD] and (len(known) == 2 or any(meets.values())):
                first = Route.LOCAL if meets[Route.LOCAL] else Route.CLOUD
                return Plan(
                    [first, first.other()],
                    Reason.DEADLINE,
                    f"only {first.value} is predicted to meet the {deadline_ms:g} ms deadline",
                    predicted,
                )
            if len(known) == 1 and not any(meets.values()):
                first = Route.CLOUD if Route.LOCAL in known else Route.LOCAL
                return Plan(
                    [first, first.other()],
                    Reason.DEADLINE,
                    f"{first.other().value} is predicted to miss the {deadline_ms:g} ms deadline; "
                    f"{first.value} is not measured yet",
                    predicted,
                )
            if len(known) == 2 and not any(meets.values()):
                first = Route.LOCAL if local.expected_ms <= cloud.expected_ms else Route.CLOUD  # type: ignore[union-attr]
                return Plan(
                    [first, first.other()],
                    Reason.DEADLINE_UNMET,
                    f"no route is predicted to meet {deadline_ms:g} ms; {first.value} is the fastest",
                    predicted,
                )

        if preferred is not None:
            return Plan([preferred, preferred.other()], Reason.MODE, f"mode {mode.value}", predicted)

        if local is None or cloud is None:
            unknown = [r for r, p in ((Route.LOCAL, local), (Route.CLOUD, cloud)) if p is None]
            if len(unknown) == 1 and deadline_ms is None:
                first = unknown[0]
                return Plan(
                    [first, first.other()],
                    Reason.EXPLORE,
                    f"{first.value} has no latency estimate yet: measuring it",
                    predicted,
                    explored=True,
                )
            return Plan(
                list(self.policy.default_order), Reason.NO_ESTIMATE, "no estimates yet: default order", predicted
            )

        best = Route.LOCAL if local.expected_ms <= cloud.expected_ms else Route.CLOUD
        with self._lock:
            last = self._last.get(model)
        if last is not None and last is not best:
            ours, theirs = (local, cloud) if last is Route.LOCAL else (cloud, local)
            if theirs.expected_ms > ours.expected_ms * (1 - self.policy.switch_margin):
                best = last  # not faster by enough to switch: no flapping
        both_meet = deadline_ms is None or (local.high_ms <= deadline_ms and cloud.high_ms <= deadline_ms)
        if both_meet and self._rng.random() < self.policy.exploration_rate:
            other = best.other()
            return Plan(
                [other, best], Reason.EXPLORE, f"sampled to refresh the {other.value} estimate", predicted, True
            )
        faster, slower = (local, cloud) if best is Route.LOCAL else (cloud, local)
        return Plan(
            [best, best.other()],
            Reason.FASTER,
            f"{best.value} predicted faster ({faster.expected_ms:.1f} ms vs {slower.expected_ms:.1f} ms)",
            predicted,
        )
