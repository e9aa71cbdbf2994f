"""The moto server (from the demo's stand-ins) for the S3 tests, and a helper to fill it with artifacts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sdk.demo.stack import MOTO_CREDENTIALS, moto_server

MOTO_ENV = MOTO_CREDENTIALS
__all__ = ["MOTO_ENV", "moto_server", "upload_folder"]


def upload_folder(client: Any, bucket: str, prefix: str, folder: Path) -> list[str]:
    keys = []
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            key = f"{prefix}{path.relative_to(folder).as_posix()}"
            client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
            keys.append(key)
    return keys
