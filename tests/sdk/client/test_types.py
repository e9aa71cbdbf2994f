"""The public client API is typed so that a type checker catches a misspelt keyword or value, and at run time a bad
privacy or mode value is an sdk.errors class naming it, the allowed values and the closest one."""

from __future__ import annotations

import importlib.util
import inspect
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import get_args

import numpy as np
import pytest

from sdk import AsyncClient, Client, ClientConfig
from sdk.client import Mode, Privacy, Route
from sdk.client.config import AUTH_KINDS, ENDPOINT_KINDS, AuthKind, EndpointKind
from sdk.client.decision import ModeName, PrivacyName
from sdk.errors import ConfigError, InvalidInput

REPO = Path(__file__).resolve().parents[3]
DIGIT = np.full((1, 1, 8, 8), 0.5, np.float32)

BAD = """\
    import asyncio
    from sdk import AsyncClient, Client

    client = Client(deadline=5)
    Client(privacy="privat")
    client.predict("digits-cnn", {}, privacy="privat")
    client.predict("digits-cnn", {}, mode="fastest")
    client.predict("digits-cnn", {}, deadline=5)
    asyncio.run(AsyncClient().predict("digits-cnn", {}, deadline=5))
    AsyncClient(mode="prefer-cloud")
    Client(timeout_s="5")
"""
GOOD = """\
    import asyncio
    from sdk import AsyncClient, Client
    from sdk.client import Mode, Privacy

    client = Client("http://127.0.0.1:8080", privacy="private", mode="auto", timeout_s=5, max_attempts=2)
    client.predict("digits-cnn", {}, privacy=Privacy.PUBLIC, mode=Mode.PREFER_CLOUD, deadline_ms=5)
    client.predict("digits-cnn", {}, privacy="public", mode="cloud_only", timeout_s=1.5)
    asyncio.run(AsyncClient(endpoint_kind="lambda-url", auth="sigv4").predict("digits-cnn", {}, deadline_ms=5))
"""


@pytest.mark.slow
def test_mypy_rejects_misspelt_keywords_and_values_and_accepts_the_documented_ones(tmp_path: Path) -> None:
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed in this environment (pip install 'aiaas-sdk[dev]')")
    (tmp_path / "bad.py").write_text(textwrap.dedent(BAD))
    (tmp_path / "good.py").write_text(textwrap.dedent(GOOD))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--no-error-summary",
            "--follow-imports=silent",
            "--no-incremental",
            "--config-file",
            str(REPO / "pyproject.toml"),
            str(tmp_path / "bad.py"),
            str(tmp_path / "good.py"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    errors = [line for line in run.stdout.splitlines() if ": error:" in line]
    assert run.returncode == 1, run.stdout + run.stderr
    assert not [e for e in errors if "good.py" in e], errors
    flagged = {int(e.split(":")[1]) for e in errors if "bad.py" in e}
    assert flagged == set(range(4, 12)), run.stdout  # every line of BAD after the imports, and nothing else


def test_the_literal_types_hold_exactly_the_runtime_values() -> None:
    assert get_args(PrivacyName) == tuple(m.value for m in Privacy)
    assert get_args(ModeName) == tuple(m.value for m in Mode)
    assert get_args(EndpointKind) == ENDPOINT_KINDS and get_args(AuthKind) == AUTH_KINDS


def test_client_and_async_client_take_every_client_config_field_by_name() -> None:
    client = inspect.signature(Client.__init__).parameters
    fields = set(ClientConfig.__dataclass_fields__)
    assert fields <= set(client) and not any(p.kind is p.VAR_KEYWORD for p in client.values())
    asynchronous = inspect.signature(AsyncClient.__init__).parameters
    assert set(asynchronous) == set(client) | {"max_concurrency"}
    for method in (Client.predict, AsyncClient.predict):
        assert list(inspect.signature(method).parameters) == [
            "self",
            "model",
            "inputs",
            "privacy",
            "mode",
            "deadline_ms",
            "timeout_s",
        ]


@pytest.mark.parametrize(
    ("kwargs", "bad", "suggestion"),
    [({"privacy": "privat"}, "'privat'", "'private'"), ({"mode": "prefer-cloud"}, "'prefer-cloud'", "'prefer_cloud'")],
)
def test_a_bad_client_default_is_a_config_error_with_a_suggestion(kwargs, bad, suggestion) -> None:
    with pytest.raises(ConfigError, match="did you mean " + suggestion) as caught:
        Client(persist_latency=False, **kwargs)
    assert bad in caught.value.message and "Allowed:" in caught.value.message


@pytest.mark.parametrize(
    ("var", "value", "suggestion"), [("AIAAS_PRIVACY", "Private", "'private'"), ("AIAAS_MODE", "cloud", "'cloud_only'")]
)
def test_a_bad_environment_value_is_a_config_error_naming_the_variable(monkeypatch, var, value, suggestion) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError, match="did you mean " + suggestion) as caught:
        Client(persist_latency=False)
    assert var in caught.value.message and repr(value) in caught.value.message


def test_a_value_with_no_close_match_lists_the_allowed_ones() -> None:
    with pytest.raises(ConfigError, match=r"Allowed: public, private") as caught:
        ClientConfig(privacy="zzz")
    assert "did you mean" not in caught.value.message


@pytest.mark.parametrize(
    ("option", "value", "suggestion"), [("privacy", "privat", "'private'"), ("mode", "local", "'local_only'")]
)
def test_a_bad_per_call_value_is_invalid_input_and_nothing_runs(option, value, suggestion) -> None:
    with Client(persist_latency=False) as client:
        with pytest.raises(InvalidInput, match=f"{option}='{value}'.*did you mean {suggestion}") as caught:
            client.predict("digits-cnn", {"image": DIGIT}, **{option: value})
        assert caught.value.status == 400
        assert client.local._models == {}  # refused before any route was tried: nothing even loaded


def test_enum_members_and_plain_strings_both_still_work() -> None:
    with Client(persist_latency=False, privacy=Privacy.PRIVATE, mode=Mode.AUTO) as client:
        assert client.config.privacy == "private" and type(client.config.privacy) is str
        as_members = client.predict("digits-cnn", {"image": DIGIT}, privacy=Privacy.PRIVATE, mode=Mode.LOCAL_ONLY)
        as_strings = client.predict("digits-cnn", {"image": DIGIT}, privacy="private", mode="local_only")
        for result in (as_members, as_strings):
            assert result.route is Route.LOCAL and result.decision.mode is Mode.LOCAL_ONLY


def test_privacy_strictest_raises_our_error_not_a_bare_value_error() -> None:
    with pytest.raises(InvalidInput, match="did you mean 'public'"):
        Privacy.strictest("pubic", None)
