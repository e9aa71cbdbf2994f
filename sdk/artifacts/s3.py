"""The S3 model store: ``s3://BUCKET/PREFIX/<name>/<version>/…`` and ``<name>/aliases/<alias>.json``, read-only.

Same layout and reference rules as the local store. A resolved version is downloaded into a local cache folder
(``/tmp`` on Lambda) and every file is checked against the sha256 and size its manifest records before the folder is
used; a partial or tampered download never reaches the cache (it is staged, verified, then renamed into place). A
cached version is verified again on each use, so a cache edited behind our back is refused too.

boto3 is imported on first use (the ``aws`` extra); clients can be injected. botocore's errors become ours at this
boundary: a missing object is ``ModelNotFound``, missing access or credentials ``ConfigError``, an unreachable
endpoint ``CloudUnavailable``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from sdk.artifacts.integrity import sha256_file, verify_artifact
from sdk.artifacts.manifest import MANIFEST_FILE, NAME_PATTERN, RESERVED_VERSIONS, VERSION_PATTERN, Manifest
from sdk.artifacts.store import ALIASES_DIR, ModelRef, StoredModel, resolve_version, version_key
from sdk.config import default_cache_dir
from sdk.errors import (
    AiaasError,
    CloudUnavailable,
    ConfigError,
    IntegrityError,
    ManifestError,
    MissingDependency,
    ModelNotFound,
)


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
    try:
        import boto3
    except ImportError as exc:
        raise MissingDependency("boto3", "aws", purpose="reading models from S3") from exc
    return boto3.client("s3")


def _translate(exc: Exception, what: str) -> AiaasError:
    """A botocore exception as one of ours."""
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    name = type(exc).__name__
    if code in ("NoSuchKey", "404", "NotFound"):
        return ModelNotFound(f"{what} does not exist")
    if code == "NoSuchBucket":
        return ConfigError(f"{what}: the bucket does not exist")
    if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"):
        return ConfigError(f"{what}: access denied ({code})", hint="check the credentials and the role's S3 policy")
    if name in ("NoCredentialsError", "PartialCredentialsError"):
        return ConfigError(f"{what}: no AWS credentials found", hint="configure credentials (env, profile or role)")
    if name in ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError"):
        return CloudUnavailable(f"{what}: S3 is unreachable ({name})")
    return CloudUnavailable(f"{what}: S3 request failed ({name}: {code or exc})")


def translate_error(exc: Exception, what: str) -> AiaasError:
    """A botocore exception raised by an S3 call about ``what``, as one of ours (for other modules' S3 calls)."""
    return _translate(exc, what)


def botocore_errors() -> tuple[type[Exception], ...]:
    """botocore's exception roots, or () when botocore is absent (an injected stand-in client)."""
    return _botocore_errors()


def _botocore_errors() -> tuple[type[Exception], ...]:
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # an injected stand-in client without botocore
        return ()
    return (BotoCoreError, ClientError)


class S3Store:
    """A read-only model store under an S3 prefix, materialised version by version into a verified local cache."""

    def __init__(self, uri: str, *, client: Any = None, cache_dir: str | Path | None = None) -> None:
        self.bucket, self.prefix = parse_s3_uri(uri)
        self.uri = f"s3://{self.bucket}/{self.prefix}"
        self.label = self.uri
        self.client = s3_client(client)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "s3"
        self._errors = _botocore_errors()

    # --- listing -----------------------------------------------------------------------------------------------

    def _keys(self, prefix: str) -> Iterator[str]:
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield item["Key"]
        except self._errors as exc:
            raise _translate(exc, f"listing s3://{self.bucket}/{prefix}") from exc

    def names(self) -> list[str]:
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix, Delimiter="/"
            )
            found = [
                p["Prefix"][len(self.prefix) :].rstrip("/") for page in pages for p in page.get("CommonPrefixes", [])
            ]
        except self._errors as exc:
            raise _translate(exc, f"listing {self.uri}") from exc
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
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except self._errors as exc:
            raise _translate(exc, f"s3://{self.bucket}/{key}") from exc

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


def is_artifact_uri(uri: str, *, client: Any = None) -> bool:
    """True when ``uri`` is one artifact folder (it holds manifest.json), not a store root."""
    bucket, prefix = parse_s3_uri(uri)
    client = s3_client(client)
    try:
        client.head_object(Bucket=bucket, Key=f"{prefix}{MANIFEST_FILE}")
        return True
    except _botocore_errors() as exc:
        error = _translate(exc, uri)
        if isinstance(error, ModelNotFound):
            return False
        raise error from exc


def fetch_artifact(uri: str, *, client: Any = None, cache_dir: str | Path | None = None) -> Path:
    """Download the artifact folder at ``uri`` into the cache, verified file by file; return the local folder."""
    bucket, prefix = parse_s3_uri(uri)
    client = s3_client(client)
    errors = _botocore_errors()
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "s3"
    target = root / bucket / prefix
    try:
        manifest_bytes = client.get_object(Bucket=bucket, Key=f"{prefix}{MANIFEST_FILE}")["Body"].read()
    except errors as exc:
        raise _translate(exc, f"s3://{bucket}/{prefix}{MANIFEST_FILE}") from exc
    manifest = Manifest.from_json(manifest_bytes, origin=f"s3://{bucket}/{prefix}{MANIFEST_FILE}")
    if _cached(target, manifest_bytes, manifest):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".fetch.", dir=target.parent))
    try:
        (staging / MANIFEST_FILE).write_bytes(manifest_bytes)
        for name, _, _ in manifest.all_files():
            destination = staging / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            try:
                client.download_file(bucket, f"{prefix}{name}", str(destination))
            except errors as exc:
                raise _translate(exc, f"s3://{bucket}/{prefix}{name}") from exc
        verify_artifact(staging, manifest)  # a mismatch raises IntegrityError: nothing reaches the cache
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _cached(target: Path, manifest_bytes: bytes, manifest: Manifest) -> bool:
    """A cached copy counts only if it holds the same manifest and every file still matches it."""
    try:
        if (target / MANIFEST_FILE).read_bytes() != manifest_bytes:
            return False
        verify_artifact(target, manifest)
    except (OSError, IntegrityError, ManifestError):
        return False
    return True


# --- resumable, verified download of one object ----------------------------------------------------------------------

PART_SUFFIX = ".part"
_DOWNLOAD_CHUNK = 1 << 20


def download_verified(
    client: Any,
    bucket: str,
    key: str,
    destination: Path,
    *,
    sha256: str,
    size: int,
    on_bytes: Callable[[int], None] | None = None,
) -> bool:
    """Download ``s3://bucket/key`` to ``destination``, checked against ``sha256`` and ``size``; True if bytes moved.

    The bytes land in ``destination + '.part'`` first and only a verified file is renamed into place, so a reader never
    sees a partial or tampered file. An interrupted download resumes where it stopped (a ranged GET); if the resumed
    file does not verify it is downloaded once more from the start, and a fresh download that still does not match
    raises ``IntegrityError`` (the stored object is not what the manifest vouches for) and leaves nothing behind.
    """
    if destination.is_file() and destination.stat().st_size == size and sha256_file(destination) == sha256:
        return False
    part = destination.with_name(destination.name + PART_SUFFIX)
    destination.parent.mkdir(parents=True, exist_ok=True)
    resumed = part.is_file() and 0 < part.stat().st_size <= size
    if not resumed:
        part.unlink(missing_ok=True)
    for attempt in ("resume", "fresh") if resumed else ("fresh",):
        if attempt == "fresh" and part.exists():
            if on_bytes is not None and resumed:
                on_bytes(-part.stat().st_size)  # the progress shown for the discarded bytes is taken back
            part.unlink()
        _fetch_into(client, bucket, key, part, size=size, on_bytes=on_bytes)
        actual_size = part.stat().st_size
        if actual_size == size and sha256_file(part) == sha256:
            part.replace(destination)
            return True
    part.unlink(missing_ok=True)
    name = destination.name
    if actual_size != size:
        raise IntegrityError(
            f"{name} from s3://{bucket}/{key} is {actual_size} bytes, its manifest records {size}",
            file=name,
            hint="the stored object was changed or truncated; deploy the version again",
        )
    raise IntegrityError(
        f"{name} from s3://{bucket}/{key} failed its sha256 check: the stored object does not match its manifest",
        file=name,
        hint="the object was modified after it was deployed; deploy the version again (nothing was cached)",
    )


def _fetch_into(
    client: Any, bucket: str, key: str, part: Path, *, size: int, on_bytes: Callable[[int], None] | None
) -> None:
    """Append the object's bytes from ``len(part)`` on (a ranged GET when resuming)."""
    have = part.stat().st_size if part.exists() else 0
    if have >= size and size > 0:
        return
    arguments: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if have:
        arguments["Range"] = f"bytes={have}-"
        if on_bytes is not None:
            on_bytes(have)
    try:
        body = client.get_object(**arguments)["Body"]
        with part.open("ab") as handle:
            while chunk := body.read(_DOWNLOAD_CHUNK):
                handle.write(chunk)
                have += len(chunk)
                if on_bytes is not None:
                    on_bytes(len(chunk))
                if have > size:  # larger than the manifest says: stop here, the size check refuses it
                    break
    except _botocore_errors() as exc:
        raise _translate(exc, f"s3://{bucket}/{key}") from exc
