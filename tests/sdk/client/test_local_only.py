"""A local-only client (``Client(local_only=True)`` or ``AIAAS_LOCAL_ONLY=1``) has no cloud route at all: no transport
is built, an endpoint from any source is ignored, and no call can reach the network. (The socket-level proof over
randomized calls is ``test_no_network.py``.)"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from sdk import AsyncClient, Client
from sdk.client import Reason, Route
from sdk.errors import CloudUnavailable, ConfigError

DIGIT = {"image": np.full((1, 1, 8, 8), 0.5, np.float32)}


@pytest.mark.parametrize("how", ["argument", "environment", "config-file"])
def test_a_local_only_client_has_no_cloud_route_whatever_endpoint_it_was_given(how, monkeypatch, tmp_path) -> None:
    settings = {}
    if how == "argument":
        settings["local_only"] = True
    elif how == "environment":
        monkeypatch.setenv("AIAAS_LOCAL_ONLY", "1")
    else:
        config = tmp_path / "config.json"
        config.write_text(json.dumps({"local_only": True, "endpoint": "http://127.0.0.1:9"}))
        monkeypatch.setenv("AIAAS_CONFIG", str(config))
    monkeypatch.setenv("AIAAS_ENDPOINT", "http://127.0.0.1:9")
    with Client(persist_latency=False, **settings) as client:
        assert client.cloud is None and client.config.cloud_url is None
        for mode in ("auto", "prefer_cloud"):
            result = client.predict("digits-cnn", DIGIT, privacy="public", mode=mode)
            assert result.route is Route.LOCAL and result.decision.reason is Reason.CLOUD_UNAVAILABLE
            assert "local-only" in result.decision.explanation
        with pytest.raises(CloudUnavailable, match="local-only"):
            client.predict("digits-cnn", DIGIT, privacy="public", mode="cloud_only")


def test_the_async_client_takes_local_only_too() -> None:
    import asyncio

    async def call():
        async with AsyncClient("http://127.0.0.1:9", local_only=True, persist_latency=False) as client:
            assert client.sync.cloud is None
            return await client.predict("digits-cnn", DIGIT, mode="prefer_cloud")

    assert asyncio.run(call()).route is Route.LOCAL


@pytest.mark.parametrize("where", ["argument", "environment"])
def test_a_local_only_client_refuses_a_store_read_over_the_network(where, monkeypatch) -> None:
    if where == "environment":
        monkeypatch.setenv("AIAAS_STORE", "s3://models-bucket/models")
        settings = {}
    else:
        settings = {"store": "s3://models-bucket/models"}
    with pytest.raises(ConfigError, match="local-only client cannot use the store s3://") as caught:
        Client(local_only=True, persist_latency=False, **settings)
    assert "sdk models pull" in (caught.value.hint or "")


def test_a_local_only_client_does_not_even_import_httpx() -> None:
    code = (
        "import sys, sdk; c = sdk.Client('http://127.0.0.1:9', local_only=True, persist_latency=False); "
        "print('httpx' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False", done.stderr
