"""`sdk.Client`: one call, routed to the edge or the cloud, with the Decision that says where and why."""

from __future__ import annotations

import difflib
import logging
import random
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sdk.artifacts.config import StoreConfig
from sdk.artifacts.manifest import Manifest
from sdk.artifacts.store import ModelRef, Store, open_store
from sdk.client.audit import open_log
from sdk.client.config import AuthKind, ClientConfig, EndpointKind, read_config_file
from sdk.client.decision import Attempt, Decision, Mode, ModeName, Privacy, PrivacyName, Reason, Route, choose
from sdk.client.faults import CLOUD_FAULTS, LOCAL_FAULTS
from sdk.client.latency import LatencyModel
from sdk.client.local import LocalRoute
from sdk.client.privacy import PrivacyVerdict, decide_privacy
from sdk.client.raw import answers, is_raw, raw_bytes, record_processing
from sdk.client.router import Availability, Router, RouterPolicy
from sdk.errors import (
    AiaasError,
    CloudUnavailable,
    ConfigError,
    DeadlineExceeded,
    LocalUnavailable,
    ModelNotFound,
    Overloaded,
    PrivacyViolation,
)
from sdk.runtime import RuntimeInfo
from sdk.runtime.config import RuntimeConfig
from sdk.runtime.processors import Processed
from sdk.settings import env_text, env_var

if TYPE_CHECKING:
    import httpx

    from sdk.client.cloud import CloudRoute

logger = logging.getLogger("sdk.client")


@dataclass
class Result:
    """A prediction: outputs by name, and the Decision that says where it ran and why.

    For raw inputs (text, images) ``outputs`` are the processed answers (``label`` and ``score`` for a classifier,
    the normalized embedding...), the same names from either route, and ``processed`` carries them with the report
    (``truncated``, ``notes``; ``labels`` per item); ``decision.processed_on`` says where they were processed.
    Tensor calls are unchanged (``processed`` is None).

    ``runtime`` says how this device ran it (runtime, providers, the verified artifact); None when the cloud
    answered. ``manifest`` is this device's manifest of the model: the one that ran, or for a cloud answer the local
    copy's when there is one (read, not loaded; the protocol carries no labels), else None."""

    outputs: dict[str, np.ndarray]
    decision: Decision
    model: str
    runtime: RuntimeInfo | None = None
    manifest: Manifest | None = None
    processed: Processed | None = None

    def __getitem__(self, name: str) -> np.ndarray:
        return self.outputs[name]

    @property
    def route(self) -> Route:
        assert self.decision.route is not None
        return self.decision.route

    @property
    def labels(self) -> tuple[str, ...] | None:
        """The class labels of the outputs' last axis, from ``manifest``; None when unknown."""
        return self.manifest.labels if self.manifest is not None else None


def payload_bytes(inputs: Any) -> int:
    if is_raw(inputs):
        return raw_bytes(inputs)
    if isinstance(inputs, np.ndarray):
        return int(inputs.nbytes)
    if isinstance(inputs, Mapping):
        return sum(int(v.nbytes) if isinstance(v, np.ndarray) else int(np.asarray(v).nbytes) for v in inputs.values())
    return int(np.asarray(inputs).nbytes)


class Client:
    """Routes each call to the local edge runtime or the cloud endpoint.

    Private calls run on this device or fail; no fallback, retry or exploration sends them, or any part of them, to
    the cloud. A call's level is the strictest of every source that speaks (``sdk.client.privacy``): the call,
    ``AIAAS_PRIVACY``, the client's default, every floor this device knows for the model's name, the cloud's floor.

    ``local_only=True`` (or ``AIAAS_LOCAL_ONLY=1``): every call runs on this device; the client builds no network
    transport at all (an endpoint, from any source, is ignored) and no call can undo it.
    """

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        privacy: Privacy | PrivacyName | None = None,
        mode: Mode | ModeName | None = None,
        local_only: bool | None = None,
        store: Store | str | Path | None = None,
        config: ClientConfig | None = None,
        runtime: RuntimeConfig | None = None,
        router: Router | None = None,
        rng: random.Random | None = None,
        # The other ClientConfig fields (None: the environment, the config file, then the default decide).
        endpoint_kind: EndpointKind | None = None,
        sagemaker_endpoint: str | None = None,
        region: str | None = None,
        auth: AuthKind | None = None,
        token: str | None = None,
        timeout_s: float | None = None,
        connect_timeout_s: float | None = None,
        max_attempts: int | None = None,
        breaker_failures: int | None = None,
        breaker_cooldown_s: float | None = None,
        exploration_rate: float | None = None,
        binary_threshold_bytes: int | None = None,
        latency_state: str | Path | None = None,
        persist_latency: bool | None = None,
        metadata_ttl_s: float | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """``transport``: the httpx transport the cloud route sends through (default: the network). Tests pass
        ``sdk.testing.ServiceTransport`` to run the real serving core in this process, or an ``httpx.MockTransport``."""
        self.config = config or ClientConfig.from_env(
            endpoint=endpoint,
            privacy=privacy,
            mode=mode,
            local_only=local_only,
            endpoint_kind=endpoint_kind,
            sagemaker_endpoint=sagemaker_endpoint,
            region=region,
            auth=auth,
            token=token,
            timeout_s=timeout_s,
            connect_timeout_s=connect_timeout_s,
            max_attempts=max_attempts,
            breaker_failures=breaker_failures,
            breaker_cooldown_s=breaker_cooldown_s,
            exploration_rate=exploration_rate,
            binary_threshold_bytes=binary_threshold_bytes,
            latency_state=latency_state,
            persist_latency=persist_latency,
            metadata_ttl_s=metadata_ttl_s,
        )
        # The privacy sources a call joins (sdk.client.privacy): AIAAS_PRIVACY speaks even when an argument set the
        # client's default, and the config file's default even when the argument or the environment replaced it.
        self._environment_privacy = _privacy_setting(
            env_text(ClientConfig, "privacy"), env_var(ClientConfig, "privacy")
        )
        self._default_privacy = Privacy.strictest(
            self.config.privacy,
            _privacy_setting(read_config_file().get("privacy"), "the config file") if config is None else None,
        )
        if self.config.local_only:
            _refuse_network_store(store)
        self.store = store if store is not None and not isinstance(store, (str, Path)) else open_store(store)
        self.local = LocalRoute(self.store, runtime)
        self.cloud: CloudRoute | None = None
        if self.config.cloud_url:  # None for a local-only client: no transport, no connection pool, no httpx
            from sdk.client.cloud import CloudRoute  # httpx loads only for clients that have a cloud

            self.cloud = CloudRoute(self.config, transport=transport)
        latency = LatencyModel()
        if self.config.persist_latency and self.config.latency_state:
            latency.load(self.config.latency_state, endpoint=self.config.cloud_url)
        self.router = router or Router(latency, RouterPolicy(exploration_rate=self.config.exploration_rate), rng=rng)
        # Where each call's data went (sdk.client.audit; AIAAS_AUDIT=0 turns it off): shared per folder, no-op when off.
        self.audit = open_log()

    # --- the call --------------------------------------------------------------------------------------------------

    def predict(
        self,
        model: str,
        inputs: Any,
        *,
        privacy: Privacy | PrivacyName | None = None,
        mode: Mode | ModeName | None = None,
        deadline_ms: float | None = None,
        timeout_s: float | None = None,
    ) -> Result:
        """Run ``model`` on ``inputs`` (a dict name -> array, or one array) where the router decides.

        A ``privacy`` or ``mode`` that is not one of the allowed values raises ``InvalidInput`` (the call is wrong,
        as a 400 would say) before anything runs; the client's own defaults were checked as ``ConfigError``."""
        start = time.perf_counter()
        ModelRef.parse(model)
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
        floor_pending = cloud.ok and how is not Mode.LOCAL_ONLY and local.ok
        if cloud.ok and how is not Mode.LOCAL_ONLY and not local.ok:
            verdict, cloud = self._with_cloud_floor(model, asked, verdict)
        level = verdict.level
        size = payload_bytes(inputs) if level is Privacy.PUBLIC else 0
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
            if route is Route.CLOUD and floor_pending:
                floor_pending = False
                verdict, refusal = self._cloud_floor_gate(model, asked)
                decision.privacy, decision.privacy_source = verdict.level, verdict.source
                if refusal is not None:  # the data stays home; the rest of the plan (the edge) may still answer
                    ms = (time.perf_counter() - attempt_start) * 1000
                    decision.attempts.append(Attempt(route, False, refusal.code, refusal.message, ms))
                    logger.info("route cloud refused for %s: %s", model, verdict.why)
                    last_error = refusal
                    continue
            if route is Route.CLOUD:
                sent = size
            try:
                outputs, timings = self._run(route, model, inputs, level, deadline_ms, timeout_s, size)
            except AiaasError as exc:
                if not isinstance(exc, LOCAL_FAULTS + CLOUD_FAULTS):
                    self._audit(model, decision, sent)
                    raise  # the input itself is wrong (or a bug): no other route would answer better
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
                logger.debug("decision for %s: %s", model, decision.line())
            processed = record_processing(outputs, decision, route, sent)
            if route is Route.LOCAL:
                loaded = self.local.model(model)  # loaded by the run: a dict read
                self._audit(model, decision, sent, version=loaded.info.version, sha256=loaded.info.sha256)
                return Result(answers(outputs), decision, model, loaded.info, loaded.manifest, processed)
            self._audit(model, decision, sent)
            return Result(answers(outputs), decision, model, manifest=self.local.manifest(model), processed=processed)
        assert last_error is not None
        self._audit(model, decision, sent)
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
        self, model: str, decision: Decision, sent: int, *, version: str | None = None, sha256: str | None = None
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
        )

    def run_local(
        self,
        model: str | Path,
        inputs: Any,
        *,
        precision: str | None = None,
        privacy: Privacy | PrivacyName | None = None,
    ) -> Result:
        """Run ``model`` on this device, outside the router: the path of an artifact folder, or a model of the
        store in a chosen ``precision`` (fp32, fp16, int8). Nothing is sent anywhere and no latency is learned; the
        Decision says ``local``, reason ``mode``, mode ``local_only``. The artifact's files are checked against their
        sha256 when it is first loaded; it stays loaded until ``close``."""
        asked = choose(Privacy, privacy, setting="privacy") if privacy is not None else None
        loaded = self.local.pinned(model, precision)
        floors = {loaded.manifest.ref: loaded.manifest.privacy_floor}
        verdict = decide_privacy(
            call=asked,
            environment=self._environment_privacy,
            client_default=self._default_privacy,
            local_floors=floors,
            cloud=None,
            model=loaded.manifest.name,
        )
        start = time.perf_counter()
        outputs = loaded(inputs)
        ms = (time.perf_counter() - start) * 1000
        decision = Decision(
            route=Route.LOCAL,
            reason=Reason.MODE,
            explanation="an artifact folder or a precision was named: runs on this device",
            privacy=verdict.level,
            privacy_source=verdict.source,
            mode=Mode.LOCAL_ONLY,
            actual_ms=ms,
            timings={"run": ms},
        )
        processed = record_processing(outputs, decision, Route.LOCAL, 0)
        return Result(answers(outputs), decision, str(model), loaded.info, loaded.manifest, processed)

    def _privacy(self, model: str, asked: Privacy | None, cloud: Any = None) -> PrivacyVerdict:
        """The call's privacy by the one rule (``sdk.client.privacy``), from what this client and device know."""
        return decide_privacy(
            call=asked,
            environment=self._environment_privacy,
            client_default=self._default_privacy,
            local_floors=self.local.floors(model),
            cloud=cloud,
            model=ModelRef.parse(model).name,
        )

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
            return joined, Availability(True)
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
        return Availability(True)

    def _run(
        self,
        route: Route,
        model: str,
        inputs: Any,
        level: Privacy,
        deadline_ms: float | None,
        timeout_s: float | None,
        size: int,
    ) -> tuple[dict[str, np.ndarray] | Processed, dict[str, float]]:
        if route is Route.LOCAL:
            start = time.perf_counter()
            outputs, timings = self.local.run(model, inputs)
            self.router.latency.observe(model, Route.LOCAL, (time.perf_counter() - start) * 1000 - timings["load"])
            return outputs, timings
        assert self.cloud is not None and level is Privacy.PUBLIC
        cold = self.router.latency.is_cold(model)
        budget = timeout_s or self.config.timeout_s
        bound_by_deadline = deadline_ms is not None and deadline_ms / 1000 < budget
        if deadline_ms is not None:
            budget = min(budget, deadline_ms / 1000)  # retries stay inside the caller's deadline
        outputs, timings = self.cloud.infer(model, inputs, timeout_s=budget, caller_deadline=bound_by_deadline)
        self.router.latency.observe(
            model,
            Route.CLOUD,
            timings["total_cloud"],
            payload_bytes=size,
            network_ms=timings.get("network"),
            cold=cold,
        )
        return outputs, timings

    # --- lifecycle -------------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Close connections and unload models; keep latency estimates for the next run."""
        if self.config.persist_latency and self.config.latency_state:
            try:
                self.router.latency.save(self.config.latency_state, endpoint=self.config.cloud_url)
            except OSError as exc:
                logger.warning("could not save latency estimates to %s: %s", self.config.latency_state, exc)
        if self.cloud is not None:
            self.cloud.close()
        self.local.close()
        self.audit.flush()  # the log is shared by every client of its folder: flushed here, closed at exit

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _privacy_setting(value: object, source: str) -> Privacy | None:
    """A privacy default read from ``source`` (None when unset); a typo is a ConfigError naming it, as for the
    client's other settings."""
    if value is None:
        return None
    return choose(Privacy, value, setting="privacy", source=source, error=ConfigError)


def _refuse_network_store(store: object) -> None:
    """A local-only client reads models from this device only: an S3 store would reach the network."""
    text = str(store) if isinstance(store, (str, Path)) else env_text(StoreConfig, "root") if store is None else None
    label = text if text is not None else str(getattr(store, "label", ""))
    if "s3://" in label:
        raise ConfigError(
            f"a local-only client cannot use the store {label}: it is read over the network",
            hint="pull the models to this device first (sdk models pull NAME), then use the local store",
        )
