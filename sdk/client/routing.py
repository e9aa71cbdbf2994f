"""One routed call, whatever it asks (a prediction, an explanation): the privacy rule, the cloud's floor, the plan,
the attempts with their fallbacks, the Decision and the decision log's record. ``Client`` supplies what runs on each
route; this module decides where it may run and records where it did.

Split out of ``client.py`` so that ``predict`` and ``explain`` share one implementation of the rule: a second copy of
the privacy and fallback logic is a second place for a private byte to leak from.
"""

from __future__ import annotations

import difflib
import logging
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from sdk.artifacts.store import ModelRef, Store
from sdk.client.audit import DecisionLog
from sdk.client.config import ClientConfig
from sdk.client.decision import Attempt, Decision, Mode, ModeName, Privacy, PrivacyName, Reason, Route, choose
from sdk.client.faults import CLOUD_FAULTS, LOCAL_FAULTS
from sdk.client.local import LocalRoute, parse_ref
from sdk.client.privacy import PrivacyVerdict, decide_privacy
from sdk.client.router import UP, Availability, Router
from sdk.errors import (
    AiaasError,
    CloudUnavailable,
    DeadlineExceeded,
    LocalUnavailable,
    ModelNotFound,
    Overloaded,
    PrivacyViolation,
)

if TYPE_CHECKING:
    from sdk.client.cloud import CloudRoute

logger = logging.getLogger("sdk.client")
T = TypeVar("T")
# What a route runs for one call: (route, the call's privacy level, payload bytes) -> (answer, timings in ms).
Runner = Callable[[Route, Privacy, int], tuple[T, dict[str, float]]]
# Asked right before the cloud is first used for a call: an error that keeps the call off the cloud, or None.
CloudGate = Callable[[], AiaasError | None]


class RoutedCalls:
    """The routing half of ``Client`` (its attributes are set by ``Client.__init__``)."""

    config: ClientConfig
    store: Store
    local: LocalRoute
    cloud: CloudRoute | None
    router: Router
    audit: DecisionLog
    _environment_privacy: Privacy | None
    _default_privacy: Privacy
    # (model, asked, cloud not asked) -> (floors, cloud, environment, default: the sources the rule read, its verdict)
    _verdicts: dict[tuple[str, Privacy | None, bool], tuple[Any, Any, Any, Any, PrivacyVerdict]]

    def _route(
        self,
        model: str,
        *,
        call: str,
        privacy: Privacy | PrivacyName | None,
        mode: Mode | ModeName | None,
        deadline_ms: float | None,
        payload: int,
        run: Runner[T],
        cloud_gate: CloudGate | None = None,
    ) -> tuple[T, Decision, int]:
        """Run ``run`` on the routes the rule allows, in the router's order, until one answers: (its answer, the
        Decision, payload bytes handed to the cloud). ``call`` names the kind in the decision log (predict,
        explain); ``cloud_gate`` refuses the cloud for this kind of call (an endpoint that does not offer it).

        A ``privacy`` or ``mode`` that is not one of the allowed values raises ``InvalidInput`` (the call is wrong,
        as a 400 would say) before anything runs; the client's own defaults were checked as ``ConfigError``."""
        start = time.perf_counter()
        parse_ref(model)
        asked = choose(Privacy, privacy, setting="privacy") if privacy is not None else None
        how = choose(Mode, mode if mode is not None else self.config.mode, setting="mode")
        verdict = self._privacy(model, asked)
        local = self.local.availability(model)
        if not local.ok and not verdict.private and (self.cloud is None or how is Mode.LOCAL_ONLY):
            # No other route: the device's own reason is the answer (ModelNotFound naming the models here, a
            # trusted-keys refusal with its fix), not a "cloud unavailable" about a cloud nobody configured.
            failure = self.local.failure(model)
            if failure is not None and (self.cloud is None or isinstance(failure, ModelNotFound)):
                raise failure
        cloud = self._cloud_availability(verdict.level)
        # Data may go to the cloud: the floor it publishes joins the rule first (its metadata; no payload is sent).
        # Asked only then, so a call already private by any other source never touches the network; and, when this
        # device can answer, only right before the first cloud attempt, so a call the device answers asks nothing.
        gate_pending = cloud.ok and how is not Mode.LOCAL_ONLY and local.ok
        if cloud.ok and how is not Mode.LOCAL_ONLY and not local.ok:
            verdict, cloud = self._with_cloud_floor(model, asked, verdict)
            refusal = cloud_gate() if cloud.ok and cloud_gate is not None else None
            if refusal is not None:  # the cloud cannot do this, and the device does not have the model
                raise refusal
        level = verdict.level
        size = payload if level is Privacy.PUBLIC else 0
        try:
            plan = self.router.plan(
                model, privacy=level, mode=how, local=local, cloud=cloud, deadline_ms=deadline_ms, payload_bytes=size
            )
        except LocalUnavailable as exc:
            failure = self.local.failure(model)
            message = exc.message if not verdict.private else f"{exc.message}; private because {verdict.why}"
            if failure is None or exc.__cause__ is not None:
                raise LocalUnavailable(message, hint=exc.hint) from exc.__cause__
            # Keep the device's reason as the cause, and its fix (sign the model) as the hint; for a model that is
            # simply absent the router's own hint (pull it) says more than a list of the models here.
            absent = isinstance(failure, ModelNotFound)
            raise LocalUnavailable(message, hint=exc.hint if absent else failure.hint or exc.hint) from failure
        except PrivacyViolation as exc:
            raise PrivacyViolation(f"{exc.message} (private because {verdict.why})", hint=exc.hint) from None
        explanation = plan.explanation
        if plan.reason is Reason.PRIVATE:
            explanation = f"private ({verdict.why}): runs on this device only"
        decision = Decision(
            route=None,
            reason=plan.reason,
            explanation=explanation,
            privacy=level,
            privacy_source=verdict.source,
            mode=how,
            deadline_ms=deadline_ms,
            predicted_ms={k: (p.expected_ms if p else None) for k, p in plan.predicted.items()},
            planned=list(plan.routes),
            explored=plan.explored,
        )
        decision.timings["route"] = (time.perf_counter() - start) * 1000
        last_error: AiaasError | None = None
        sent = 0  # payload bytes handed to the cloud route (the decision log's "left the device")
        for route in plan.routes:
            if route is Route.CLOUD and level is Privacy.PRIVATE:  # defence in depth: the plan never holds this
                raise PrivacyViolation("refusing to send a private request to the cloud")
            attempt_start = time.perf_counter()
            if route is Route.CLOUD and gate_pending:
                gate_pending = False
                verdict, refusal = self._cloud_floor_gate(model, asked)
                decision.privacy, decision.privacy_source = verdict.level, verdict.source
                if refusal is None and cloud_gate is not None:
                    refusal = cloud_gate()
                if refusal is not None:  # the data stays home; the rest of the plan (the edge) may still answer
                    ms = (time.perf_counter() - attempt_start) * 1000
                    decision.attempts.append(Attempt(route, False, refusal.code, refusal.message, ms))
                    logger.info("route cloud refused for %s: %s", model, refusal.message)
                    last_error = refusal
                    continue
            if route is Route.CLOUD:
                sent = size
            try:
                answer, timings = run(route, level, size)
            except AiaasError as exc:
                # The input itself is wrong (or a bug), or the call's own time ran out on this device (an
                # explanation's deadline): no other route would answer better.
                out_of_time = route is Route.LOCAL and isinstance(exc, DeadlineExceeded)
                if out_of_time or not isinstance(exc, LOCAL_FAULTS + CLOUD_FAULTS):
                    self._audit(model, decision, sent, call=call)
                    raise
                decision.attempts.append(
                    Attempt(route, False, exc.code, exc.message, (time.perf_counter() - attempt_start) * 1000)
                )
                logger.info("route %s failed for %s: %s", route.value, model, exc.code)
                last_error = exc
                continue
            elapsed = (time.perf_counter() - attempt_start) * 1000
            decision.attempts.append(Attempt(route, True, ms=elapsed))
            decision.route = route
            decision.actual_ms = elapsed
            decision.timings.update(timings)
            decision.timings["total"] = (time.perf_counter() - start) * 1000
            if len(decision.attempts) > 1:
                decision.reason = Reason.FALLBACK
                failed = decision.attempts[0]
                decision.explanation = f"{failed.route.value} failed ({failed.error}); answered by {route.value}"
            if logger.isEnabledFor(logging.DEBUG):  # the line is built only when someone reads it
                logger.debug("%s decision for %s: %s", call, model, decision.line())
            if route is Route.LOCAL:
                loaded = self.local.model(model)  # loaded by the run: a dict read
                self._audit(model, decision, sent, call=call, version=loaded.info.version, sha256=loaded.info.sha256)
            else:
                self._audit(model, decision, sent, call=call)
            return answer, decision, sent
        assert last_error is not None
        self._audit(model, decision, sent, call=call)
        if len(decision.attempts) == 1 and level is Privacy.PUBLIC:
            raise last_error  # one route was tried: its own error says best what went wrong (and how to fix it)
        if decision.privacy is Privacy.PRIVATE:  # private from the start, or made so by the cloud's own floor
            on_device = next((a.message for a in reversed(decision.attempts) if a.route is Route.LOCAL), None)
            why = "" if level is Privacy.PRIVATE else f" ({verdict.why})"
            raise LocalUnavailable(
                f"private request failed on this device ({on_device or last_error.message}); it was not sent to the "
                f"cloud{why}"
            ) from last_error
        raise CloudUnavailable(
            "every route failed: " + "; ".join(f"{a.route.value}: {a.message}" for a in decision.attempts)
        ) from last_error

    def _audit(
        self,
        model: str,
        decision: Decision,
        sent: int,
        *,
        call: str = "predict",
        version: str | None = None,
        sha256: str | None = None,
    ) -> None:
        """One record in the decision log: where this call's data went (never the data itself)."""
        self.audit.record_decision(
            decision,
            model_ref=model,
            version=version,
            artifact_sha256=sha256,
            privacy_source=decision.privacy_source,
            sent_bytes=sent,
            endpoint=self.config.cloud_url if sent else None,
            call=call,
        )

    def _privacy(self, model: str, asked: Privacy | None, cloud: Any = None) -> PrivacyVerdict:
        """The call's privacy by the one rule (``sdk.client.privacy``), from what this client and device know.

        Decided on every call from its sources as they are now: the floors and the cloud's document are read again
        (each cached by its own TTL), and only the rule's answer for the very same sources (the same objects) is
        reused, since the rule is a pure function of them. An error in place of a source is never reused."""
        floors = self.local.floors(model)
        environment, default = self._environment_privacy, self._default_privacy
        key = (model, asked, cloud is None)
        memo = self._verdicts
        seen = memo.get(key)
        same = seen is not None and seen[0] is floors and seen[1] is cloud
        if same and seen is not None and seen[2] is environment and seen[3] is default:
            return seen[4]
        verdict = decide_privacy(
            call=asked,
            environment=environment,
            client_default=default,
            local_floors=floors,
            cloud=cloud,
            model=parse_ref(model).name,
        )
        if not isinstance(floors, BaseException) and not isinstance(cloud, BaseException):
            if len(memo) >= 256:
                memo.clear()
            memo[key] = (floors, cloud, environment, default, verdict)
        return verdict

    def _cloud_answer(self, model: str) -> dict[str, Any] | AiaasError | None:
        """The cloud's metadata document for ``model``, or the error that kept it from being read; None for a
        SageMaker endpoint, which has no metadata route (it publishes no floor, like a third-party OIP server)."""
        assert self.cloud is not None
        if self.config.endpoint_kind == "sagemaker":
            return None
        try:
            return self.cloud.metadata(model)
        except AiaasError as exc:
            return exc

    def _with_cloud_floor(
        self, model: str, asked: Privacy | None, verdict: PrivacyVerdict
    ) -> tuple[PrivacyVerdict, Availability]:
        """For a model this device cannot serve: the verdict once the cloud's floor joins it, and whether the cloud
        route may be used. Metadata that cannot be read leaves the floor unknown and nothing is sent: the error says
        the cloud could not be asked (unreachable, overloaded, a garbage answer), or is the endpoint's own answer
        about the model (ModelNotFound with the names that are close, an IntegrityError for a version that fails
        verification there, Unauthorized)."""
        answer = self._cloud_answer(model)
        if isinstance(answer, ModelNotFound):
            raise self._nowhere(model, answer)
        joined = self._privacy(model, asked, answer)
        if not joined.private:
            return joined, UP
        if isinstance(answer, (CloudUnavailable, Overloaded, DeadlineExceeded)):
            raise CloudUnavailable(
                f"{joined.why}: nothing was sent to the cloud", hint=answer.hint or "retry once the endpoint answers"
            ) from answer
        if isinstance(answer, AiaasError):
            raise answer  # the endpoint answered about this model (a version that fails verification: 422, 401...)
        return joined, Availability(False, joined.why)

    def _cloud_floor_gate(self, model: str, asked: Privacy | None) -> tuple[PrivacyVerdict, AiaasError | None]:
        """Right before the first cloud attempt of a call this device could answer: the verdict with the cloud's
        floor, and the error that refuses the attempt when it made the call private (the metadata's own error when
        it could not be read, so a public call falls back as from any cloud fault)."""
        answer = self._cloud_answer(model)
        verdict = self._privacy(model, asked, answer)
        if not verdict.private:
            return verdict, None
        if isinstance(answer, AiaasError):
            return verdict, answer.with_traceback(None)
        return verdict, PrivacyViolation(f"{verdict.why}: the data was not sent to the cloud")

    def _nowhere(self, model: str, cloud_error: ModelNotFound) -> AiaasError:
        """The error for a model that neither this device nor the cloud knows (a typo, most often): the device's
        own refusal if it has the model but may not use it, else ModelNotFound with the closest known name."""
        failure = self.local.failure(model)
        if failure is not None and not isinstance(failure, ModelNotFound):
            return failure  # e.g. an unsigned copy refused under trusted keys: that is what to fix
        name = ModelRef.parse(model).name
        here = self.store.names()
        # Our servers name what they serve in the 404 ("...; this server serves: a, b"); other servers may not.
        served = re.search(r"serves: ([\w.@, -]+)$", cloud_error.message)
        there = [n.strip() for n in served.group(1).split(",")] if served else []
        close = difflib.get_close_matches(name, sorted({*here, *there} - {name}), n=1)
        message = f"unknown model {model!r}: it is not on this device, and {self.config.cloud_url} does not serve it"
        if close:
            message += f"; did you mean {close[0]!r}?"
        known = f"on this device: {', '.join(here) or 'none'}"
        if served:
            known += f"; in the cloud: {', '.join(there)}"
        return ModelNotFound(message, hint=known)

    def _cloud_availability(self, level: Privacy) -> Availability:
        if level is Privacy.PRIVATE:
            return Availability(False, "private request")
        if self.config.local_only:
            return Availability(False, "this client is local-only: nothing leaves the device")
        if self.cloud is None:
            return Availability(False, "no cloud endpoint configured")
        if not self.cloud.breaker.available():
            return Availability(False, f"circuit open, retrying in {self.cloud.breaker.retry_in():.1f} s")
        return UP
