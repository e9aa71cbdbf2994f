"""`sdk.Client`: one call, routed to the edge or the cloud, with the Decision that says where and why.

``predict`` runs a model; ``explain`` says why it answered what it did (``sdk.explain``), under the same privacy
rule. Where each call may run, and the record of where it did, is ``sdk.client.routing``'s; the result types are in
``sdk.client.result`` (``Result`` and ``payload_bytes`` stay importable from here).
"""

from __future__ import annotations

import logging
import random
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sdk.artifacts.config import StoreConfig
from sdk.artifacts.store import Store, open_store
from sdk.client.audit import open_log
from sdk.client.config import AuthKind, ClientConfig, EndpointKind, read_config_file
from sdk.client.decision import Decision, Mode, ModeName, Privacy, PrivacyName, Reason, Route, choose
from sdk.client.explaining import ExplainCall
from sdk.client.latency import LatencyModel
from sdk.client.local import LocalRoute
from sdk.client.privacy import decide_privacy
from sdk.client.raw import answers, record_processing
from sdk.client.result import Result, payload_bytes
from sdk.client.router import Router, RouterPolicy
from sdk.client.routing import RoutedCalls
from sdk.errors import ConfigError
from sdk.runtime import LoadedModel
from sdk.runtime.config import RuntimeConfig
from sdk.runtime.processors import Processed
from sdk.settings import env_text, env_var

if TYPE_CHECKING:
    import httpx

    from sdk.client.cloud import CloudRoute
    from sdk.explain import Explanation

logger = logging.getLogger("sdk.client")

__all__ = ["Client", "Result", "payload_bytes"]


class Client(RoutedCalls):
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
        self._verdicts = {}
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

    # --- the calls -------------------------------------------------------------------------------------------------

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

        def run(route: Route, level: Privacy, size: int) -> tuple[dict[str, np.ndarray] | Processed, dict[str, float]]:
            return self._run(route, model, inputs, level, deadline_ms, timeout_s, size)

        outputs, decision, sent = self._route(
            model,
            call="predict",
            privacy=privacy,
            mode=mode,
            deadline_ms=deadline_ms,
            payload=payload_bytes(inputs),
            run=run,
        )
        assert decision.route is not None
        processed = record_processing(outputs, decision, decision.route, sent)
        if decision.route is Route.LOCAL:
            loaded = self.local.model(model)  # loaded by the run: a dict read
            return Result(answers(outputs), decision, model, loaded.info, loaded.manifest, processed)
        return Result(answers(outputs), decision, model, manifest=self.local.manifest(model), processed=processed)

    def explain(
        self,
        model: str,
        inputs: Any,
        *,
        privacy: Privacy | PrivacyName | None = None,
        target: int | str | None = None,
        compare: str | bytes | None = None,
        method: str = "auto",
        max_evals: int = 256,
        max_calls: int = 8,
        seed: int = 0,
        mode: Mode | ModeName | None = None,
        timeout_s: float | None = None,
    ) -> Explanation:
        """Why ``model`` answers what it does on ``inputs``: attributions per unit (words, pixels or patches, lags),
        computed on the artifact and runtime that serve it (``sdk.explain``), with ``explanation.decision`` set.

        The privacy rule is ``predict``'s, applied to the whole explanation: a private one runs entirely on this
        device (no perturbed input, no ``compare`` leaves it); a public one is routed like a prediction and, in the
        cloud, sent as one request to the endpoint's ``/explain`` extension. An endpoint that does not offer it
        (its ``GET /v2`` claims no ``explain``; a SageMaker endpoint) leaves the explanation to this device.
        ``timeout_s``: seconds for the whole explanation, on either route (None: the client's timeout for a cloud
        request, no deadline on this device). Bad options raise ``InvalidInput`` before anything runs."""
        call = ExplainCall.make(
            self,
            model,
            inputs,
            target=target,
            compare=compare,
            method=method,
            max_evals=max_evals,
            max_calls=max_calls,
            seed=seed,
            timeout_s=timeout_s,
        )
        explanation, decision, _ = self._route(
            model,
            call="explain",
            privacy=privacy,
            mode=mode,
            deadline_ms=None,
            payload=call.payload,
            run=call.run,
            cloud_gate=call.cloud_gate,
        )
        explanation.decision = decision
        return explanation

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
        loaded, decision = self._pinned(model, precision, privacy)
        start = time.perf_counter()
        outputs = loaded(inputs)
        ms = (time.perf_counter() - start) * 1000
        decision.actual_ms, decision.timings = ms, {"run": ms}
        processed = record_processing(outputs, decision, Route.LOCAL, 0)
        return Result(answers(outputs), decision, str(model), loaded.info, loaded.manifest, processed)

    def explain_local(
        self,
        model: str | Path,
        inputs: Any,
        *,
        precision: str | None = None,
        privacy: Privacy | PrivacyName | None = None,
        target: int | str | None = None,
        compare: str | bytes | None = None,
        method: str = "auto",
        max_evals: int = 256,
        max_calls: int = 8,
        seed: int = 0,
        timeout_s: float | None = None,
    ) -> Explanation:
        """``explain`` on this device, outside the router, as ``run_local`` runs: an artifact folder, or a model of
        the store in a chosen ``precision`` (compare the attributions of its fp32 and int8 artifacts)."""
        call = ExplainCall.make(
            self,
            str(model),
            inputs,
            target=target,
            compare=compare,
            method=method,
            max_evals=max_evals,
            max_calls=max_calls,
            seed=seed,
            timeout_s=timeout_s,
        )
        loaded, decision = self._pinned(model, precision, privacy)
        explanation, timings = call.on(loaded)
        decision.actual_ms, decision.timings = timings["explain"], timings
        explanation.decision = decision
        return explanation

    def _pinned(
        self, model: str | Path, precision: str | None, privacy: Privacy | PrivacyName | None
    ) -> tuple[LoadedModel, Decision]:
        """A model loaded outside the router, and the Decision of a call on it (its privacy by the one rule, with
        its own manifest's floor)."""
        asked = choose(Privacy, privacy, setting="privacy") if privacy is not None else None
        loaded = self.local.pinned(model, precision)
        verdict = decide_privacy(
            call=asked,
            environment=self._environment_privacy,
            client_default=self._default_privacy,
            local_floors={loaded.manifest.ref: loaded.manifest.privacy_floor},
            cloud=None,
            model=loaded.manifest.name,
        )
        decision = Decision(
            route=Route.LOCAL,
            reason=Reason.MODE,
            explanation="an artifact folder or a precision was named: runs on this device",
            privacy=verdict.level,
            privacy_source=verdict.source,
            mode=Mode.LOCAL_ONLY,
        )
        return loaded, decision

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
        series = self.local.series(model, inputs)  # scaled here, sent as the model's FP32 window
        encoded = series.encode(inputs) if series is not None else None
        sending = encoded.feeds if encoded is not None else inputs
        outputs, timings = self.cloud.infer(model, sending, timeout_s=budget, caller_deadline=bound_by_deadline)
        if series is not None and isinstance(outputs, dict):
            outputs = series.decode(outputs, encoded)  # the forecast back in the data's units
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
