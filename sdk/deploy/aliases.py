"""Alias objects in the model store: ``models/<name>/aliases/<alias>.json``, moved by deploy and rollback.

The record is a superset of the local store's alias file, so ``NAME@alias`` resolves to the same version on the edge
(``sdk models pull``) as in the cloud::

    {"version": "2", "updated_at": "...",                      what NAME@alias resolves to (the primary version)
     "canary": {"version": "3", "weight": 0.1} | null,         a share of the traffic on another version
     "target": {"kind": "lambda", "function": "...", "alias": "live", "function_version": "7", ...},
     "history": [{"version": "1", "updated_at": "...", "canary": null, "target": {...}}, ...]}   oldest first

Writes are conditional on the object's ETag (``If-Match``, or ``If-None-Match: *`` for a new alias): two deploys
racing on one alias cannot both win; the loser fails and undoes its steps.
"""

from __future__ import annotations

import json
from typing import Any

from sdk._record import record
from sdk.artifacts.aws_errors import aws_errors, if_exists
from sdk.artifacts.manifest import utc_now
from sdk.errors import ConfigError

HISTORY_LIMIT = 50


@record
class AliasSnapshot:
    """An alias object as read: its record (None when absent), its ETag and its exact bytes (for an undo)."""

    record: dict[str, Any] | None
    etag: str | None = None
    raw: bytes | None = None

    @property
    def version(self) -> str | None:
        return None if self.record is None else str(self.record.get("version"))

    @property
    def canary(self) -> dict[str, Any] | None:
        canary = None if self.record is None else self.record.get("canary")
        return canary if isinstance(canary, dict) else None

    @property
    def target(self) -> dict[str, Any]:
        target = None if self.record is None else self.record.get("target")
        return target if isinstance(target, dict) else {}

    @property
    def history(self) -> list[dict[str, Any]]:
        history = None if self.record is None else self.record.get("history")
        return [h for h in history if isinstance(h, dict)] if isinstance(history, list) else []


class AliasObjects:
    """Reads and writes the alias objects under an S3 store root."""

    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    def key(self, name: str, alias: str) -> str:
        return f"{self.prefix}{name}/aliases/{alias}.json"

    def uri(self, name: str, alias: str) -> str:
        return f"s3://{self.bucket}/{self.key(name, alias)}"

    def read(self, name: str, alias: str) -> AliasSnapshot:
        key = self.key(name, alias)

        def get() -> tuple[dict[str, Any], bytes]:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
            return response, response["Body"].read()

        found = if_exists(get, f"reading {self.uri(name, alias)}", service="s3")
        if found is None:
            return AliasSnapshot(None)
        response, raw = found
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"alias object {self.uri(name, alias)} is not JSON: {exc}") from exc
        if not isinstance(record, dict) or not isinstance(record.get("version"), str):
            raise ConfigError(f"alias object {self.uri(name, alias)} names no version")
        return AliasSnapshot(record, response.get("ETag"), raw)

    def write(self, name: str, alias: str, record: dict[str, Any], *, over: AliasSnapshot) -> AliasSnapshot:
        """Replace the alias object, only if it is still the one read as ``over``."""
        body = (json.dumps(record, indent=2) + "\n").encode("utf-8")
        condition = {"IfMatch": over.etag} if over.etag else {"IfNoneMatch": "*"}
        with aws_errors(f"writing {self.uri(name, alias)}", service="s3"):
            response = self.client.put_object(
                Bucket=self.bucket,
                Key=self.key(name, alias),
                Body=body,
                ContentType="application/json",
                ChecksumAlgorithm="SHA256",
                **condition,
            )
        return AliasSnapshot(record, response.get("ETag"), body)

    def restore(self, name: str, alias: str, previous: AliasSnapshot, *, current: AliasSnapshot) -> str:
        """Put the alias object back as it was before ``current`` was written (an undo)."""
        where = self.uri(name, alias)
        if previous.raw is None:
            with aws_errors(f"deleting {where}", service="s3"):
                self.client.delete_object(Bucket=self.bucket, Key=self.key(name, alias))
            return f"deleted {where} (there was none before)"
        with aws_errors(f"restoring {where}", service="s3"):
            self.client.put_object(
                Bucket=self.bucket,
                Key=self.key(name, alias),
                Body=previous.raw,
                ContentType="application/json",
                ChecksumAlgorithm="SHA256",
                **({"IfMatch": current.etag} if current.etag else {}),
            )
        return f"{where} points at {previous.version} again"


def next_record(
    previous: AliasSnapshot, *, version: str, target: dict[str, Any], canary: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The record after a move to ``version`` (and ``canary``), with the previous state appended to the history."""
    history = previous.history
    if previous.record is not None:
        history.append({k: v for k, v in previous.record.items() if k != "history"})
    return {
        "version": version,
        "updated_at": utc_now(),
        "canary": canary,
        "target": target,
        "history": history[-HISTORY_LIMIT:],
    }


def same_state(snapshot: AliasSnapshot, *, version: str, target: dict[str, Any], canary: dict[str, Any] | None) -> bool:
    """True when the alias already records exactly this state (nothing to write)."""
    return snapshot.version == version and snapshot.canary == canary and snapshot.target == target
