"""Every routed call leaves a record in the decision log, through the real client and a real `sdk serve`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from sdk import Client
from sdk.client.audit import default_audit_dir, read_records, verify_log
from sdk.errors import CloudUnavailable
from tests.sdk.client.proxy import FaultProxy

DISTINCT = 0.123456789  # a pixel value whose text must never appear in the log


def image() -> np.ndarray:
    x = np.zeros((1, 1, 8, 8), np.float32)
    x[0, 0, 3, 3] = DISTINCT
    return x


def flushed(client: Client) -> list[dict]:
    client.audit.flush()
    return [r for r in read_records(default_audit_dir()) if r.get("kind", "decision") == "decision"]


def test_each_call_is_recorded_with_where_its_data_went(make_client: Callable[..., Client], proxy: FaultProxy) -> None:
    client = make_client()
    client.predict("digits-cnn", {"image": image()}, privacy="private")
    client.predict("digits-cnn", {"image": image()}, privacy="public", mode="cloud_only")
    client.predict("digits-cnn", {"image": image()}, privacy="public", mode="local_only")
    private, cloud, local = flushed(client)[-3:]

    assert (private["route"], private["privacy"], private["privacy_source"]) == ("local", "private", "call")
    assert private["sent_bytes"] == 0 and private["endpoint"] is None
    assert private["version"] == "1" and len(private["artifact_sha256"]) == 64

    assert (cloud["route"], cloud["privacy"]) == ("cloud", "public")
    assert cloud["sent_bytes"] > 0
    assert cloud["endpoint"] == proxy.url.rstrip("/")

    assert local["route"] == "local" and local["sent_bytes"] == 0
    assert verify_log(default_audit_dir()).ok


def test_a_failed_fallback_records_the_cloud_attempt_and_what_left(
    make_client: Callable[..., Client], proxy: FaultProxy
) -> None:
    client = make_client(edge="missing")
    proxy.scope = "infer"  # the metadata read succeeds; the inference fails
    proxy.fail_always(500)
    with pytest.raises(CloudUnavailable):
        client.predict("digits-cnn", {"image": image()}, privacy="public", mode="cloud_only")
    (record,) = flushed(client)[-1:]
    assert record["route"] is None
    assert record["sent_bytes"] > 0  # the payload was handed to the cloud route, even though it failed there
    assert any(step.startswith("cloud") for step in record["fallback_chain"]), record["fallback_chain"]


def test_the_log_never_holds_a_payload_value(make_client: Callable[..., Client], tmp_path: Path) -> None:
    client = make_client()
    for privacy in ("private", "public"):
        client.predict("digits-cnn", {"image": image()}, privacy=privacy)
    client.audit.flush()
    text = "".join(p.read_text() for p in default_audit_dir().glob("*.jsonl"))
    assert text and "0.1234" not in text
    assert all("image" not in json.dumps(record) for record in read_records(default_audit_dir()))


def test_audit_off_writes_nothing(make_client: Callable[..., Client], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIAAS_AUDIT", "0")
    client = make_client()
    client.predict("digits-cnn", {"image": image()}, privacy="private")
    client.audit.flush()
    assert not list(default_audit_dir().glob("*.jsonl"))
