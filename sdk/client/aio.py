"""`sdk.AsyncClient`: the same routing for asyncio code.

Each call runs the synchronous client in a worker thread (`asyncio.to_thread`): the edge route is CPU work that must
leave the event loop anyway, and one implementation of routing, retries and the privacy rule is safer than two.
``max_concurrency`` bounds the threads in use.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sdk.client.client import Client, Result


class AsyncClient:
    def __init__(self, endpoint: str | None = None, *, max_concurrency: int = 32, **kwargs: Any) -> None:
        self._client = Client(endpoint, **kwargs)
        self._slots = asyncio.Semaphore(max_concurrency)

    @property
    def sync(self) -> Client:
        return self._client

    async def predict(self, model: str, inputs: Any, **options: Any) -> Result:
        async with self._slots:
            return await asyncio.to_thread(self._client.predict, model, inputs, **options)

    async def aclose(self) -> None:
        await asyncio.to_thread(self._client.close)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
