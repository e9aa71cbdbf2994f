"""Signed manifests: who may publish a model this device will load.

Every model file is covered by its sha256 in ``manifest.json``; the signature covers ``manifest.json`` itself, so
one Ed25519 signature vouches for the whole folder (files, signature, privacy floor). It lives inside the manifest
(``"signature": {"algorithm", "key_id", "value"}``) over the canonical JSON of everything else, so every path that
copies a manifest's bytes (deploy, S3 stores, pull) carries it unchanged.

Checking is opt-in per device: with ``trusted_keys`` set (``AIAAS_TRUSTED_KEYS``: public key files), a model whose
manifest is unsigned, signed by another key, or changed after signing is refused before anything is loaded. Without
it, signatures are reported but not required. Needs ``cryptography`` (``pip install "aiaas-sdk[sign]"``) only when
a key is used.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sdk._record import record
from sdk.artifacts.manifest import MANIFEST_FILE
from sdk.errors import ConfigError, IntegrityError
from sdk.extras import require

ALGORITHM = "ed25519"
FIELD = "signature"


def _crypto() -> Any:
    return require("cryptography.hazmat.primitives.asymmetric.ed25519", purpose="signing and checking manifests")


def canonical(document: Mapping[str, Any]) -> bytes:
    """The bytes a signature covers: the manifest without its signature, keys sorted, no insignificant spaces."""
    body = {k: v for k, v in document.items() if k != FIELD}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _raw_public(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_key: Any) -> str:
    return hashlib.sha256(_raw_public(public_key)).hexdigest()[:16]


def public_key_line(path: Path) -> str:
    """The inline form (``ed25519:BASE64``) of the public key in ``path``."""
    return inline_public(_load_key(path, private=False))


def create_keys(folder: Path, name: str = "aiaas") -> tuple[Path, Path, str]:
    """Write ``NAME.key`` (private, PKCS#8 PEM, mode 0600) and ``NAME.pub`` (public, PEM); return their paths and
    the key id. Refuses to overwrite an existing private key."""
    ed25519 = _crypto()  # first: names the missing extra before any other cryptography import fails
    from cryptography.hazmat.primitives import serialization

    folder.mkdir(parents=True, exist_ok=True)
    private_path, public_path = folder / f"{name}.key", folder / f"{name}.pub"
    if private_path.exists():
        raise ConfigError(f"{private_path} exists; pick another --name or folder (a key is never overwritten)")
    key = ed25519.Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_pem)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public_path.write_bytes(public_pem)
    return private_path, public_path, key_id(key.public_key())


INLINE_PREFIX = "ed25519:"


def inline_public(public_key: Any) -> str:
    """The one-line form of a public key, for environment variables: ``ed25519:`` + base64 of the raw 32 bytes."""
    return INLINE_PREFIX + base64.b64encode(_raw_public(public_key)).decode("ascii")


def _load_key(path: str | Path, *, private: bool) -> Any:
    """A key from a PEM file, or (public keys only) an inline ``ed25519:BASE64`` or PEM text, as a function's
    environment variable can carry it."""
    ed25519 = _crypto()  # first: names the missing extra before any other cryptography import fails
    from cryptography.hazmat.primitives import serialization

    text = str(path).strip()
    if not private and text.startswith(INLINE_PREFIX):
        try:
            return ed25519.Ed25519PublicKey.from_public_bytes(
                base64.b64decode(text[len(INLINE_PREFIX) :], validate=True)
            )
        except ValueError as exc:
            raise ConfigError(f"the trusted key {text[:24]}... is not a valid ed25519:BASE64 public key") from exc
    try:
        data = text.encode() if not private and text.startswith("-----BEGIN") else Path(path).read_bytes()
        key = (
            serialization.load_pem_private_key(data, password=None)
            if private
            else serialization.load_pem_public_key(data)
        )
    except (OSError, ValueError, TypeError) as exc:
        kind = "private" if private else "public"
        raise ConfigError(f"cannot read the {kind} key {path}: {exc}") from exc
    wanted = ed25519.Ed25519PrivateKey if private else ed25519.Ed25519PublicKey
    if not isinstance(key, wanted):
        raise ConfigError(f"{path} is not an Ed25519 key (sdk keys create makes one)")
    return key


def check_private_key(path: Path) -> str:
    """The key id of a usable private signing key at ``path``; ConfigError naming the problem otherwise."""
    return key_id(_load_key(path, private=True).public_key())


def sign_folder(folder: Path, private_key: Path) -> str:
    """Sign the artifact folder's manifest in place (replacing an earlier signature); return the key id."""
    key = _load_key(private_key, private=True)
    path = Path(folder) / MANIFEST_FILE
    document = json.loads(path.read_text(encoding="utf-8"))
    signature = key.sign(canonical(document))
    document[FIELD] = {
        "algorithm": ALGORITHM,
        "key_id": key_id(key.public_key()),
        "value": base64.b64encode(signature).decode("ascii"),
    }
    tmp = path.with_name(f".{MANIFEST_FILE}.tmp")
    tmp.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return str(document[FIELD]["key_id"])


@record
class SignatureStatus:
    signed: bool
    key_id: str = ""
    trusted: bool = False
    valid: bool = False

    def describe(self) -> str:
        if not self.signed:
            return "unsigned"
        if not self.valid:
            return f"signature by {self.key_id} does NOT match the manifest"
        return f"signed by {self.key_id} ({'trusted here' if self.trusted else 'not among the trusted keys'})"


def status(document: Mapping[str, Any], trusted_keys: Sequence[str | Path] = ()) -> SignatureStatus:
    """What the manifest's signature says, checked against ``trusted_keys`` (or only parsed when there are none)."""
    block = document.get(FIELD)
    if not isinstance(block, Mapping):
        return SignatureStatus(signed=False)
    kid = str(block.get("key_id", ""))
    keys = {key_id(k): k for k in (_load_key(p, private=False) for p in trusted_keys)}
    key = keys.get(kid)
    if key is None:
        return SignatureStatus(signed=True, key_id=kid)
    from cryptography.exceptions import InvalidSignature

    try:
        signature = base64.b64decode(str(block.get("value", "")), validate=True)
        key.verify(signature, canonical(document))
    except (InvalidSignature, ValueError):  # a wrong signature, or not even base64: it does not verify
        return SignatureStatus(signed=True, key_id=kid, trusted=True, valid=False)
    valid = block.get("algorithm") == ALGORITHM
    return SignatureStatus(signed=True, key_id=kid, trusted=True, valid=valid)


def require_trusted(
    folder: Path, trusted_keys: Sequence[str | Path], *, ref: str, manifest_bytes: bytes | None = None
) -> None:
    """Refuse (IntegrityError) a folder whose manifest is not signed by one of ``trusted_keys``; no-op without.

    Pass ``manifest_bytes`` (the bytes the caller parsed) so that the bytes checked are the bytes used: reading
    the file a second time would let it change in between.
    """
    if not trusted_keys:
        return
    try:
        raw = manifest_bytes if manifest_bytes is not None else (Path(folder) / MANIFEST_FILE).read_bytes()
        document = json.loads(raw)
    except (OSError, ValueError) as exc:
        raise IntegrityError(
            f"{ref}: cannot read {MANIFEST_FILE} to check its signature: {exc}", file=MANIFEST_FILE
        ) from exc
    found = status(document, trusted_keys)
    hint = "sign it with `sdk sign FOLDER --key KEY` (or `sdk compile --sign-key KEY`), or trust its key"
    if not found.signed:
        raise IntegrityError(
            f"{ref} is not signed, and this device loads only signed models (trusted keys)",
            file=MANIFEST_FILE,
            hint=hint,
        )
    if not found.trusted:
        raise IntegrityError(
            f"{ref} is signed by key {found.key_id}, which this device does not trust", file=MANIFEST_FILE, hint=hint
        )
    if not found.valid:
        raise IntegrityError(
            f"{ref}: the signature by key {found.key_id} does not match {MANIFEST_FILE}: it was changed after signing",
            file=MANIFEST_FILE,
        )
