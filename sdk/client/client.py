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

from sdk.artifacts.manifest import Manifest
from sdk.artifacts.store import ModelRef, Store, open_store
from sdk.client.config import AuthKind, ClientConfig, EndpointKind
from sdk.client.decision import Attempt, Decision, Mode, ModeName, Privacy, PrivacyName, Reason, Route, choose
from sdk.client.faults import CLOUD_FAULTS, LOCAL_FAULTS
from sdk.client.latency import LatencyModel
from sdk.client.local import LocalRoute
from sdk.client.router import Availability, Router, RouterPolicy
from sdk.config import RuntimeConfig
from sdk.errors import AiaasError, CloudUnavailable, LocalUnavailable, ModelNotFound, PrivacyViolation
from sdk.runtime import RuntimeInfo

if TYPE_CHECKING:
    import httpx

    from sdk.client.cloud import CloudRoute

logger = logging.getLogger("sdk.client")


@dataclass
class Result:
    """A prediction: outputs by name, and the Decision that says where it ran and why.

    ``runtime`` says how this device ran it (runtime, providers, the verified artifact); None when the cloud
    answered. ``manifest`` is this device's manifest of the model: the one that ran, or for a cloud answer the local
    copy's when there is one (read, not loaded; the protocol carries no labels), else None."""

    outputs: dict[str, np.ndarray]
    decision: Decision
    model: str
    runtime: RuntimeInfo | None = None
    manifest: Manifest | None = None

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
    if isinstance(inputs, np.ndarray):
        return int(inputs.nbytes)
    if isinstance(inputs, Mapping):
        return sum(int(v.nbytes) if isinstance(v, np.ndarray) else int(np.asarray(v).nbytes) for v in inputs.values())
    return int(np.asarray(inputs).nbytes)


class Client:
    """Routes each call to the local edge runtime or the cloud endpoint.

    Private calls (by argument, by the client's default, or by the model's privacy floor) run on this device or fail;
    no fallback, retry or exploration sends them, or any part of them, to the cloud.
    """

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        privacy: Privacy | PrivacyName | None = None,
        mode: Mode | ModeName | None = None,
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
        self.store = store if store is not None and not isinstance(store, (str, Path)) else open_store(store)
        self.local = LocalRoute(self.store, runtime)
        self.cloud: CloudRoute | None = None
        if self.config.cloud_url:
            from sdk.client.cloud import CloudRoute  # httpx loads only for clients that have a cloud

            self.cloud = CloudRoute(self.config, transport=transport)
        latency = LatencyModel()
        if self.config.persist_latency and self.config.latency_state:
            latency.load(self.config.latency_state, endpoint=self.config.cloud_url)
        self.router = router or Router(latency, RouterPolicy(exploration_rate=self.config.exploration_rate), rng=rng)

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
        floor = self.local.privacy_floor(model)
        level = Privacy.strictest(asked or self.config.privacy, floor)
        local = self.local.availability(model)
        if not local.ok and self.cloud is None and level is Privacy.PUBLIC:
            # No other route: the device's own reason is the answer (ModelNotFound naming the models here, a
            # trusted-keys refusal with its fix), not a "cloud unavailable" about a cloud nobody configured.
            failure = self.local.failure(model)
            if failure is not None:
                raise failure
        cloud = self._cloud_availability(level)
        if floor is None and level is Privacy.PUBLIC and cloud.ok:
            # The model is not on this device: learn its floor from the cloud's metadata (no payload is sent)
            # before any data could go there. Unknown, the cloud is not used.
            floor, why, error = self._cloud_floor(model)
            if isinstance(error, ModelNotFound) and not local.ok:
                raise self._nowhere(model, error)
            level = Privacy.strictest(level, floor)
            if why:
                cloud = Availability(False, why)
            elif level is Privacy.PRIVATE:
                cloud = Availability(False, "the model's privacy floor is private")
        size = payload_bytes(inputs) if level is Privacy.PUBLIC else 0
        try:
            plan = self.router.plan(
                model, privacy=level, mode=how, local=local, cloud=cloud, deadline_ms=deadline_ms, payload_bytes=size
            )
        except LocalUnavailable as exc:
            failure = self.local.failure(model)
            if failure is None or exc.__cause__ is not None:
                raise
            # Keep the device's reason as the cause, and its fix (sign the model) as the hint; for a model that is
            # simply absent the router's own hint (pull it) says more than a list of the models here.
            absent = isinstance(failure, ModelNotFound)
            raise LocalUnavailable(exc.message, hint=exc.hint if absent else failure.hint or exc.hint) from failure
        decision = Decision(
            route=None,
            reason=plan.reason,
            explanation=plan.explanation,
            privacy=level,
            mode=how,
            deadline_ms=deadline_ms,
            predicted_ms={k: (p.expected_ms if p else None) for k, p in plan.predicted.items()},
            planned=list(plan.routes),
            explored=plan.explored,
        )
        decision.timings["route"] = (time.perf_counter() - start) * 1000
        last_error: AiaasError | None = None
        for route in plan.routes:
            if route is Route.CLOUD and level is Privacy.PRIVATE:  # defence in depth: the plan never holds this
                raise PrivacyViolation("refusing to send a private request to the cloud")
            attempt_start = time.perf_counter()
            try:
                outputs, timings = self._run(route, model, inputs, level, deadline_ms, timeout_s, size)
            except AiaasError as exc:
                if not isinstance(exc, LOCAL_FAULTS + CLOUD_FAULTS):
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
            if route is Route.LOCAL:
                loaded = self.local.model(model)  # loaded by the run: a dict read
                return Result(outputs, decision, model, runtime=loaded.info, manifest=loaded.manifest)
            return Result(outputs, decision, model, manifest=self.local.manifest(model))
        assert last_error is not None
        if len(decision.attempts) == 1 and level is Privacy.PUBLIC:
            raise last_error  # one route was tried: its own error says best what went wrong (and how to fix it)
        if level is Privacy.PRIVATE:
            raise LocalUnavailable(
                f"private request failed on this device ({last_error.message}); it was not sent to the cloud"
            ) from last_error
        raise CloudUnavailable(
            "every route failed: " + "; ".join(f"{a.route.value}: {a.message}" for a in decision.attempts)
        ) from last_error

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
        start = time.perf_counter()
        outputs = loaded(inputs)
        ms = (time.perf_counter() - start) * 1000
        decision = Decision(
            route=Route.LOCAL,
            reason=Reason.MODE,
            explanation="an artifact folder or a precision was named: runs on this device",
            privacy=Privacy.strictest(asked or self.config.privacy, loaded.manifest.privacy_floor),
            mode=Mode.LOCAL_ONLY,
            actual_ms=ms,
            timings={"run": ms},
        )
        return Result(outputs, decision, str(model), runtime=loaded.info, manifest=loaded.manifest)

    def _cloud_floor(self, model: str) -> tuple[str | None, str | None, AiaasError | None]:
        """(privacy floor the cloud publishes for ``model``, or why it could not be learned, and the error)."""
        assert self.cloud is not None
        if self.config.endpoint_kind == "sagemaker":
            return None, None, None  # no metadata route: the floor can only come from a local manifest
        try:
            metadata = self.cloud.metadata(model)  # a dict whose "parameters" is a dict (CloudRoute checks)
        except AiaasError as exc:
            return None, f"the model's privacy floor is unknown ({exc.code}: {exc.message})", exc
        floor = (metadata.get("parameters") or {}).get("privacy_floor")
        return (floor if floor in ("public", "private") else None), None, None

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
    ) -> tuple[dict[str, np.ndarray], dict[str, float]]:
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

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
