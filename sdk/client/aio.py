"""`sdk.AsyncClient`: the same routing for asyncio code.

Each call runs the synchronous client in a worker thread (`asyncio.to_thread`): the edge route is CPU work that must
leave the event loop anyway, and one implementation of routing, retries and the privacy rule is safer than two.
``max_concurrency`` bounds the threads in use.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sdk.artifacts.store import Store
from sdk.client.client import Client, Result
from sdk.client.config import AuthKind, ClientConfig, EndpointKind
from sdk.client.decision import Mode, ModeName, Privacy, PrivacyName
from sdk.client.router import Router
from sdk.runtime.config import RuntimeConfig

if TYPE_CHECKING:
    import httpx

    from sdk.explain import Explanation


class AsyncClient:
    """Takes the arguments of ``Client`` (typed the same, so a type checker catches ``privacy="privat"`` here
    too), plus ``max_concurrency``. ``transport`` is a synchronous ``httpx.BaseTransport``: the calls run in worker
    threads."""

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        max_concurrency: int = 32,
        privacy: Privacy | PrivacyName | None = None,
        mode: Mode | ModeName | None = None,
        local_only: bool | None = None,
        store: Store | str | Path | None = None,
        config: ClientConfig | None = None,
        runtime: RuntimeConfig | None = None,
        router: Router | None = None,
        rng: random.Random | None = None,
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
        self._client = Client(
            endpoint,
            privacy=privacy,
            mode=mode,
            local_only=local_only,
            store=store,
            config=config,
            runtime=runtime,
            router=router,
            rng=rng,
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
            transport=transport,
        )
        self._slots = asyncio.Semaphore(max_concurrency)

    @property
    def sync(self) -> Client:
        return self._client

    async def predict(
        self,
        model: str,
        inputs: Any,
        *,
        privacy: Privacy | PrivacyName | None = None,
        mode: Mode | ModeName | None = None,
        deadline_ms: float | None = None,
        timeout_s: float | None = None,
    ) -> Result:
        """``Client.predict`` in a worker thread; the same arguments, the same errors."""
        async with self._slots:
            return await asyncio.to_thread(
                self._client.predict,
                model,
                inputs,
                privacy=privacy,
                mode=mode,
                deadline_ms=deadline_ms,
                timeout_s=timeout_s,
            )

    async def explain(
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
        """``Client.explain`` in a worker thread; the same arguments, the same privacy rule, the same errors."""
        async with self._slots:
            return await asyncio.to_thread(
                self._client.explain,
                model,
                inputs,
                privacy=privacy,
                target=target,
                compare=compare,
                method=method,
                max_evals=max_evals,
                max_calls=max_calls,
                seed=seed,
                mode=mode,
                timeout_s=timeout_s,
            )

    async def run_local(
        self,
        model: str | Path,
        inputs: Any,
        *,
        precision: str | None = None,
        privacy: Privacy | PrivacyName | None = None,
    ) -> Result:
        """``Client.run_local`` in a worker thread."""
        async with self._slots:
            return await asyncio.to_thread(self._client.run_local, model, inputs, precision=precision, privacy=privacy)

    async def aclose(self) -> None:
        await asyncio.to_thread(self._client.close)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
