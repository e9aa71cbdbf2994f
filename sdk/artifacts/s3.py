"""The S3 model store: ``s3://BUCKET/PREFIX/<name>/<version>/…`` and ``<name>/aliases/<alias>.json``, read-only.

Same layout and reference rules as the local store. A resolved version is downloaded into a local cache folder
(``/tmp`` on Lambda) and every file is checked against the sha256 and size its manifest records before the folder is
used; a partial or tampered download never reaches the cache (``sdk.artifacts.s3_download``: staged, verified,
renamed into place; an interrupted one resumes). A cached version is verified again on each use, so a cache edited
behind our back is refused too. An adapted artifact's reused files are read from its base's folder when the deploy
stored them only there, and taken from the base's cached copy (verified) when the cache holds it already.

boto3 is imported on first use (the ``aws`` extra); clients can be injected. botocore's errors become ours at this
boundary (``sdk.artifacts.aws_errors``): a missing object is ``ModelNotFound``, missing access or credentials
``ConfigError``, an unreachable endpoint ``CloudUnavailable``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from sdk.artifacts.aws_errors import aws_errors, if_exists
from sdk.artifacts.manifest import MANIFEST_FILE, NAME_PATTERN, RESERVED_VERSIONS, VERSION_PATTERN, Manifest
from sdk.artifacts.s3_download import download_folder
from sdk.artifacts.staging import holds
from sdk.artifacts.store import ALIASES_DIR, ModelRef, StoredModel, held_files, resolve_version, version_key
from sdk.errors import ConfigError
from sdk.extras import require
from sdk.settings import xdg_cache_home


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, key prefix ending in '/' or empty) of ``s3://bucket[/prefix]``."""
    if not uri.startswith("s3://"):
        raise ConfigError(f"{uri!r} is not an S3 URI (s3://BUCKET/PREFIX)")
    bucket, _, path = uri[5:].partition("/")
    if not bucket:
        raise ConfigError(f"{uri!r} names no bucket")
    path = path.strip("/")
    return bucket, f"{path}/" if path else ""


def s3_client(client: Any = None) -> Any:
    """The injected client, or a new boto3 S3 client (honours AWS_ENDPOINT_URL, e.g. a moto server)."""
    if client is not None:
        return client
    return require("boto3", purpose="reading models from S3").client("s3")


class S3Store:
    """A read-only model store under an S3 prefix, materialised version by version into a verified local cache."""

    def __init__(self, uri: str, *, client: Any = None, cache_dir: str | Path | None = None) -> None:
        self.bucket, self.prefix = parse_s3_uri(uri)
        self.uri = f"s3://{self.bucket}/{self.prefix}"
        self.label = self.uri
        self.client = s3_client(client)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else xdg_cache_home() / "s3"

    # --- listing -----------------------------------------------------------------------------------------------

    def _keys(self, prefix: str) -> Iterator[str]:
        with aws_errors(f"listing s3://{self.bucket}/{prefix}", service="s3"):
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield item["Key"]

    def names(self) -> list[str]:
        with aws_errors(f"listing {self.uri}", service="s3"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix, Delimiter="/"
            )
            found = [
                p["Prefix"][len(self.prefix) :].rstrip("/") for page in pages for p in page.get("CommonPrefixes", [])
            ]
        return sorted(n for n in found if NAME_PATTERN.match(n))

    def versions(self, name: str) -> list[str]:
        if not NAME_PATTERN.match(name):
            return []
        base = f"{self.prefix}{name}/"
        found = set()
        for key in self._keys(base):
            parts = key[len(base) :].split("/")
            if len(parts) == 2 and parts[1] == MANIFEST_FILE and parts[0] not in RESERVED_VERSIONS:
                found.add(parts[0])
        return sorted((v for v in found if VERSION_PATTERN.match(v)), key=version_key)

    def aliases(self, name: str) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        base = f"{self.prefix}{name}/{ALIASES_DIR}/"
        for key in self._keys(base):
            alias = PurePosixPath(key).name
            if not alias.endswith(".json") or "/" in key[len(base) :]:
                continue
            try:
                record = json.loads(self._get(key))
            except json.JSONDecodeError as exc:
                raise ConfigError(f"alias object s3://{self.bucket}/{key} is not JSON: {exc}") from exc
            if isinstance(record, dict) and isinstance(record.get("version"), str):
                out[alias[: -len(".json")]] = record
        return out

    def _get(self, key: str) -> bytes:
        return read_object(self.client, self.bucket, key)

    # --- resolving and fetching ----------------------------------------------------------------------------------

    def resolve(self, ref: str | ModelRef) -> StoredModel:
        parsed = ref if isinstance(ref, ModelRef) else ModelRef.parse(ref)
        version = self.resolve_version(parsed)
        folder = fetch_artifact(self.version_uri(parsed.name, version), client=self.client, cache_dir=self.cache_dir)
        return StoredModel(parsed.name, version, folder, self.label)

    def version_uri(self, name: str, version: str) -> str:
        """``s3://bucket/prefix/<name>/<version>/``: the artifact folder of one version (a function's MODEL_URI)."""
        return f"s3://{self.bucket}/{self.prefix}{name}/{version}/"

    def manifest_bytes(self, name: str, version: str) -> bytes:
        """The exact bytes of one stored version's manifest.json."""
        return self._get(f"{self.prefix}{name}/{version}/{MANIFEST_FILE}")

    def manifest(self, name: str, version: str) -> Manifest:
        """The manifest of one stored version, read without downloading the model files."""
        origin = f"{self.version_uri(name, version)}{MANIFEST_FILE}"
        return Manifest.from_json(self.manifest_bytes(name, version), origin=origin)

    def resolve_version(self, ref: str | ModelRef) -> str:
        """The version ``ref`` names here (an alias wins over a version of the same name), without downloading."""
        return resolve_version(self, ref if isinstance(ref, ModelRef) else ModelRef.parse(ref))


def read_object(client: Any, bucket: str, key: str) -> bytes:
    """The bytes of one (small) object: a manifest, an alias record."""
    with aws_errors(f"s3://{bucket}/{key}", service="s3"):
        return bytes(client.get_object(Bucket=bucket, Key=key)["Body"].read())


def is_artifact_uri(uri: str, *, client: Any = None) -> bool:
    """True when ``uri`` is one artifact folder (it holds manifest.json), not a store root."""
    bucket, prefix = parse_s3_uri(uri)
    client = s3_client(client)
    key = f"{prefix}{MANIFEST_FILE}"
    return if_exists(lambda: client.head_object(Bucket=bucket, Key=key), uri, service="s3") is not None


def fetch_artifact(uri: str, *, client: Any = None, cache_dir: str | Path | None = None) -> Path:
    """The artifact folder at ``uri``, downloaded into the cache (resumed if interrupted, every file verified) unless
    the cache already holds it intact; returns the local folder."""
    bucket, prefix = parse_s3_uri(uri)
    client = s3_client(client)
    root = Path(cache_dir) if cache_dir is not None else xdg_cache_home() / "s3"
    target = root / bucket / prefix
    manifest_bytes = read_object(client, bucket, f"{prefix}{MANIFEST_FILE}")
    if not holds(target, manifest_bytes):
        manifest = Manifest.from_json(manifest_bytes, origin=f"{uri.rstrip('/')}/{MANIFEST_FILE}")
        own = f"{manifest.name}/{manifest.version}/"
        # The cache mirrors the store's layout: other versions (and a base) of the same store root sit beside target.
        roots = [root / bucket / prefix[: len(prefix) - len(own)]] if prefix.endswith(own) else []
        download_folder(client, bucket, prefix, target, manifest_bytes, held=held_files(roots, manifest))
    return target
