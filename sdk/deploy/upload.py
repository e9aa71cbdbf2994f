"""Upload an artifact folder to the model store: ``models/<name>/<version>/<file>``, each object carrying its sha256.

What is already there is never sent again: an object whose recorded sha256 (object metadata ``sha256``, or S3's own
full-object SHA-256 checksum) and size match the manifest is skipped, and a file that another version of the model
already stored with the same sha256 is copied inside S3 instead of uploaded. An adapted artifact (``sdk adapt``) ships
as a delta: a file it reuses from its base, found intact in the base's folder of the same store (``<name>/<version>/``
of the manifest's ``base`` block), is neither uploaded nor copied; readers look for it there
(``sdk.artifacts.s3_download.stored_keys``), so the upload is the head and the manifest.

S3 checksums are on: a single-part upload sends the manifest's SHA-256 and S3 refuses bytes that do not match it; a
multipart upload (large files) has S3 check every part. ``manifest.json`` goes last, so a version becomes visible
(listed, resolvable) only once all its files are in place; a version already stored with a different manifest is
refused, since versions are immutable.

Chunks: a file the artifact's chunk index lists (``sdk.artifacts.chunks``) is stored as content-addressed chunks under
``<store root>.chunks/<sha256>`` instead of whole; the chunks the store already has (one listing of that folder) are
not sent again, so an update that changed a few tensors uploads a few chunks. The index itself, the small files and
the manifest travel as files.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import field
from pathlib import Path
from typing import Any

from sdk._record import record
from sdk.artifacts.aws_errors import aws_errors, botocore_errors, if_exists, translate
from sdk.artifacts.chunks import STORE_FOLDER, FileChunks, index_entry, parse_index, read_index
from sdk.artifacts.integrity import sha256_bytes
from sdk.artifacts.manifest import MANIFEST_FILE, RESERVED_VERSIONS, Manifest
from sdk.artifacts.s3_download import stored_keys
from sdk.deploy.progress import NoProgress, TransferProgress
from sdk.errors import CloudUnavailable, ConfigError, IntegrityError, ManifestError, ModelNotFound
from sdk.extras import optional

MiB = 1 << 20
UPLOAD, SKIP, COPY = "upload", "skip", "copy"
REUSE = "reuse"  # already in the base's folder of the store: nothing is written (``key`` is where it lives)
IN_PLACE = (SKIP, REUSE)


@record(kw_only=True)
class TransferSettings:
    """boto3 managed-transfer settings; files from ``multipart_threshold`` bytes on go up in parts."""

    multipart_threshold: int = 64 * MiB
    multipart_chunksize: int = 16 * MiB
    max_concurrency: int = 8

    def config(self) -> Any:
        from boto3.s3.transfer import TransferConfig

        return TransferConfig(
            multipart_threshold=self.multipart_threshold,
            multipart_chunksize=self.multipart_chunksize,
            max_concurrency=self.max_concurrency,
        )


@record
class PlannedObject:
    file: str
    key: str
    sha256: str
    size: int
    action: str
    source_key: str | None = None
    offset: int | None = None  # a chunk of ``file`` (at this offset), stored under ``<store root>.chunks/``

    @property
    def is_chunk(self) -> bool:
        return self.offset is not None


@record
class UploadPlan:
    uri: str
    objects: tuple[PlannedObject, ...] = field(default_factory=tuple)

    def count(self, action: str) -> int:
        return sum(o.action == action for o in self.objects)

    @property
    def upload_bytes(self) -> int:
        return sum(o.size for o in self.objects if o.action == UPLOAD)

    def describe(self, *, planned: bool = False) -> str:
        upload, copy = ("to upload", "to copy") if planned else ("uploaded", "copied")
        parts = [f"{self.count(UPLOAD)} {upload} ({human_size(self.upload_bytes)})"]
        if self.count(COPY):
            parts.append(f"{self.count(COPY)} {copy} inside S3 from an earlier version")
        if self.count(REUSE):
            reused = sum(o.size for o in self.objects if o.action == REUSE)
            parts.append(f"{self.count(REUSE)} in the base's folder, not sent ({human_size(reused)})")
        parts.append(f"{self.count(SKIP)} already present")
        chunks = [o for o in self.objects if o.is_chunk]
        if chunks:
            sent = sum(o.action == UPLOAD for o in chunks)
            parts.append(f"{len(chunks)} of them content-addressed chunks ({sent} {upload})")
        return f"{len(self.objects)} objects to {self.uri}: " + ", ".join(parts)


class Uploader:
    """Plans and runs the upload of one artifact folder into an S3 store root ``s3://bucket/prefix``."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str,
        *,
        settings: TransferSettings | None = None,
        progress: TransferProgress | None = None,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.settings = settings or TransferSettings()
        self.progress: TransferProgress = progress or NoProgress()

    def version_prefix(self, manifest: Manifest) -> str:
        return f"{self.prefix}{manifest.name}/{manifest.version}/"

    # --- planning (reads only) ------------------------------------------------------------------------------------

    def plan(self, folder: str | Path, manifest: Manifest) -> UploadPlan:
        base = self.version_prefix(manifest)
        manifest_bytes = (Path(folder) / MANIFEST_FILE).read_bytes()
        manifest_action = self._manifest_action(base, manifest)
        copies: dict[str, str] | None = None
        objects = []
        keys = stored_keys(base, manifest)
        index = read_index(Path(folder), manifest)
        chunked = index.files if index is not None else {}
        stored_chunks: dict[str, int] | None = None
        planned_chunks: set[str] = set()
        for name, sha256, size in manifest.all_files():
            if name in chunked:
                if stored_chunks is None:
                    stored_chunks = self.stored_chunks()
                for c in chunked[name].chunks:
                    if c.sha256 in planned_chunks:
                        continue  # one object per distinct chunk, however often it occurs
                    planned_chunks.add(c.sha256)
                    action = SKIP if stored_chunks.get(c.sha256) == c.length else UPLOAD
                    key = f"{self.chunk_folder}{c.sha256}"
                    objects.append(PlannedObject(name, key, c.sha256, c.length, action, offset=c.offset))
                continue
            key = f"{base}{name}"
            if self.matches(self.head(key), sha256, size):
                objects.append(PlannedObject(name, key, sha256, size, SKIP))
                continue
            in_base = next((k for k in keys[name] if k != key and self.matches(self.head(k), sha256, size)), None)
            if in_base is not None:
                objects.append(PlannedObject(name, in_base, sha256, size, REUSE))
                continue
            if copies is None:
                copies = self._stored_copies(manifest)
            source = copies.get(sha256)
            if source is not None and self.matches(self.head(source), sha256, size):
                objects.append(PlannedObject(name, key, sha256, size, COPY, source))
            else:
                objects.append(PlannedObject(name, key, sha256, size, UPLOAD))
        manifest_sha = sha256_bytes(manifest_bytes)
        objects.append(
            PlannedObject(MANIFEST_FILE, f"{base}{MANIFEST_FILE}", manifest_sha, len(manifest_bytes), manifest_action)
        )
        return UploadPlan(f"s3://{self.bucket}/{base}", tuple(objects))

    def damaged(self, manifest: Manifest) -> list[str]:
        """The files of a stored version that are not intact in the store: a whole file whose recorded sha256 or
        size differs (in its own folder or, for a delta, its base's), or a chunked file with a chunk missing."""
        base = self.version_prefix(manifest)
        keys = stored_keys(base, manifest)
        entry = index_entry(manifest)
        chunked: dict[str, FileChunks] = {}
        if entry is not None:
            key = f"{base}{entry.file}"
            with aws_errors(f"reading s3://{self.bucket}/{key}", service="s3"):
                body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            if sha256_bytes(body) == entry.sha256:
                chunked = dict(parse_index(body, manifest, origin=f"s3://{self.bucket}/{key}").files)
        stored = self.stored_chunks() if chunked else {}
        out = []
        for name, sha256, size in manifest.all_files():
            if name in chunked:
                intact = all(stored.get(c.sha256) == c.length for c in chunked[name].chunks)
            else:
                intact = any(self.matches(self.head(key), sha256, size) for key in keys[name])
            if not intact:
                out.append(name)
        return out

    @property
    def chunk_folder(self) -> str:
        return f"{self.prefix}{STORE_FOLDER}"

    def stored_chunks(self) -> dict[str, int]:
        """sha256 -> size of every chunk the store holds (one listing; S3 checked each one's SHA-256 when written)."""
        found: dict[str, int] = {}
        with aws_errors(f"listing s3://{self.bucket}/{self.chunk_folder}", service="s3"):
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.chunk_folder)
            for page in pages:
                for item in page.get("Contents", []):
                    found[item["Key"][len(self.chunk_folder) :]] = int(item["Size"])
        return found

    def _manifest_action(self, base: str, manifest: Manifest) -> str:
        key = f"{base}{MANIFEST_FILE}"
        stored = if_exists(
            lambda: self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read(),
            f"reading s3://{self.bucket}/{key}",
            service="s3",
        )
        if stored is None:
            return UPLOAD
        try:
            same = Manifest.from_json(stored, origin=key).to_dict() == manifest.to_dict()
        except ManifestError:
            same = False
        if not same:
            raise ConfigError(
                f"{manifest.ref} is already in s3://{self.bucket}/{base} with a different manifest; "
                "a stored version is never overwritten",
                hint="give the new build its own version (recompile with a new version) and deploy that",
            )
        return SKIP

    def head(self, key: str) -> dict[str, Any] | None:
        found = if_exists(
            lambda: self.client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED"),
            f"reading s3://{self.bucket}/{key}",
            service="s3",
        )
        return None if found is None else dict(found)

    @staticmethod
    def matches(head: dict[str, Any] | None, sha256: str, size: int) -> bool:
        if head is None or int(head.get("ContentLength", -1)) != size:
            return False
        if (head.get("Metadata") or {}).get("sha256") == sha256:
            return True
        checksum = head.get("ChecksumSHA256")  # a multipart object's is a checksum of part checksums: not comparable
        return bool(checksum) and head.get("ChecksumType") != "COMPOSITE" and checksum == _b64(sha256)

    def _stored_copies(self, manifest: Manifest) -> dict[str, str]:
        """sha256 -> key of the files other stored versions of this model vouch for (by their manifests)."""
        root = f"{self.prefix}{manifest.name}/"
        found: dict[str, str] = {}
        with aws_errors(f"listing s3://{self.bucket}/{root}", service="s3"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=root, Delimiter="/"
            )
            folders = [p["Prefix"] for page in pages for p in page.get("CommonPrefixes", [])]
        for folder in folders:
            if folder == self.version_prefix(manifest) or folder[len(root) :].rstrip("/") in RESERVED_VERSIONS:
                continue  # this version itself, or the alias objects' folder
            try:
                with aws_errors(f"reading s3://{self.bucket}/{folder}{MANIFEST_FILE}", service="s3"):
                    body = self.client.get_object(Bucket=self.bucket, Key=f"{folder}{MANIFEST_FILE}")["Body"].read()
                other = Manifest.from_json(body, origin=f"{folder}{MANIFEST_FILE}")
            except (ConfigError, ManifestError, ModelNotFound):
                continue  # an unfinished or foreign folder: nothing to copy from
            for name, sha256, _ in other.all_files():
                found.setdefault(sha256, f"{folder}{name}")
        return found

    # --- running --------------------------------------------------------------------------------------------------

    def execute(self, folder: str | Path, plan: UploadPlan) -> UploadPlan:
        """Upload or copy what the plan says, manifest last; check every written object's size and sha256."""
        source = Path(folder)
        config = self.settings.config()
        files = [o for o in plan.objects if o.file != MANIFEST_FILE and o.action not in IN_PLACE and not o.is_chunk]
        chunks = [o for o in plan.objects if o.is_chunk and o.action == UPLOAD]
        total = sum(o.size for o in files if o.action == UPLOAD) + sum(o.size for o in chunks)
        self.progress.begin(total, len(files) + len({o.file for o in chunks}))
        try:
            self._upload_chunks(source, chunks)
            for item in files:
                self.progress.file(item.file, item.size)
                if item.action == UPLOAD:
                    self._upload(source / item.file, item, config)
                else:
                    self._copy(item, config)
                if not self.matches(self.head(item.key), item.sha256, item.size):
                    raise IntegrityError(
                        f"{item.file} did not arrive intact at s3://{self.bucket}/{item.key}",
                        file=item.file,
                        hint="run the deploy again; it re-sends only what is missing or wrong",
                    )
        finally:
            self.progress.end()
        manifest = plan.objects[-1]
        if manifest.action == UPLOAD:
            self._put_manifest(source / MANIFEST_FILE, manifest)
        return plan

    def _upload_chunks(self, source: Path, chunks: list[PlannedObject]) -> None:
        """Put each chunk (a few at a time) with its SHA-256, which S3 checks before it stores the object."""
        shown: set[str] = set()
        with ThreadPoolExecutor(max_workers=max(1, self.settings.max_concurrency)) as pool:
            for item in pool.map(lambda c: self._put_chunk(source, c), _in_file_order(chunks)):
                if item.file not in shown:
                    shown.add(item.file)
                    self.progress.file(item.file, item.size)
                self.progress.advance(item.size)

    def _put_chunk(self, source: Path, item: PlannedObject) -> PlannedObject:
        assert item.offset is not None
        with open(source / item.file, "rb") as handle:
            handle.seek(item.offset)
            body = handle.read(item.size)
        if len(body) != item.size or sha256_bytes(body) != item.sha256:
            raise IntegrityError(
                f"{item.file} changed during the deploy: its chunk at offset {item.offset} no longer matches its index",
                file=item.file,
                hint="deploy it again from an unchanged artifact folder",
            )
        self._put(
            f"uploading a chunk of {item.file} to s3://{self.bucket}/{item.key}", item, body, "application/octet-stream"
        )
        return item

    def _put(self, what: str, item: PlannedObject, body: bytes, content_type: str, **extra: Any) -> None:
        """One object in one request, recorded with its sha256, which S3 checks the bytes against."""
        with aws_errors(what, service="s3"):
            self.client.put_object(
                Bucket=self.bucket,
                Key=item.key,
                Body=body,
                ContentType=content_type,
                Metadata={"sha256": item.sha256},
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=_b64(item.sha256),
                **extra,
            )

    def _extra_args(self, item: PlannedObject, content_type: str) -> dict[str, Any]:
        extra: dict[str, Any] = {
            "Metadata": {"sha256": item.sha256},
            "ContentType": content_type,
            "ChecksumAlgorithm": "SHA256",  # a multipart upload is checked part by part
        }
        if item.size < self.settings.multipart_threshold:
            extra["ChecksumSHA256"] = _b64(item.sha256)  # S3 refuses the object unless its bytes hash to this
        return extra

    def _upload(self, path: Path, item: PlannedObject, config: Any) -> None:
        what = f"uploading {item.file} to s3://{self.bucket}/{item.key}"
        with aws_errors(what, service="s3"):
            try:
                self.client.upload_file(
                    str(path),
                    self.bucket,
                    item.key,
                    ExtraArgs=self._extra_args(item, "application/octet-stream"),
                    Config=config,
                    Callback=self.progress.advance,
                )
            except _upload_failed() as exc:  # boto3's managed transfer wraps the failed call's botocore error
                cause = exc.__context__
                if isinstance(cause, botocore_errors()):
                    raise translate(cause, what, service="s3") from exc
                raise CloudUnavailable(f"{what} failed: {exc}", hint="run the deploy again") from exc

    def _copy(self, item: PlannedObject, config: Any) -> None:
        extra = {
            "Metadata": {"sha256": item.sha256},
            "MetadataDirective": "REPLACE",
            "ContentType": "application/octet-stream",
            "ChecksumAlgorithm": "SHA256",
        }
        with aws_errors(f"copying s3://{self.bucket}/{item.source_key} to {item.key}", service="s3"):
            self.client.copy(
                {"Bucket": self.bucket, "Key": item.source_key}, self.bucket, item.key, ExtraArgs=extra, Config=config
            )

    def _put_manifest(self, path: Path, item: PlannedObject) -> None:
        body = path.read_bytes()
        if sha256_bytes(body) != item.sha256:
            raise IntegrityError(f"{path} changed during the deploy", file=MANIFEST_FILE, hint="deploy it again")
        # IfNoneMatch: two deploys of one version, the second finds it written and fails cleanly.
        self._put(f"writing s3://{self.bucket}/{item.key}", item, body, "application/json", IfNoneMatch="*")


def _in_file_order(chunks: list[PlannedObject]) -> Iterator[PlannedObject]:
    return iter(sorted(chunks, key=lambda c: (c.file, c.offset or 0)))


def _upload_failed() -> tuple[type[Exception], ...]:
    """boto3's own upload error (not a botocore one), or () without boto3 (an injected stand-in client)."""
    exceptions = optional("boto3.exceptions")
    return () if exceptions is None else (exceptions.S3UploadFailedError,)


def _b64(sha256_hex: str) -> str:
    return base64.b64encode(bytes.fromhex(sha256_hex)).decode("ascii")


def human_size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024:
            return f"{value:.1f} {unit}"
    return f"{value / 1024:.1f} TiB"
