"""The large-model tier (``-m large``): the 2.45 GB scale-test model compiled, deployed to moto's S3 (multipart)
and pulled through a counting proxy. Minutes of CPU and ~9 GB of disk: kept out of the default run.

``AIAAS_LARGE_WORK`` chooses the work folder (default: a new one under the temp dir, removed at the end unless
``AIAAS_LARGE_KEEP=1``); ``AIAAS_LARGE_ARTIFACT`` reuses an artifact folder compiled before (skips the compile).
Every figure measured is printed and written to ``<work>/figures.json``.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sdk.artifacts import read_manifest
from sdk.artifacts.manifest import Manifest
from tests.large.counting_proxy import Counter, counting_proxy
from tests.sdk.serving.moto_server import MOTO_ENV, moto_server

REPO = Path(__file__).resolve().parents[2]
SDK = str(Path(sys.executable).with_name("sdk"))
BUCKET = "aiaas-scale-models"
STORE_URI = f"s3://{BUCKET}/models/"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark this folder ``large``; unless ``-m`` names it (or ``AIAAS_LARGE=1``), skip it with the reason."""
    here = Path(__file__).parent
    chosen = "large" in (config.option.markexpr or "") or os.environ.get("AIAAS_LARGE") == "1"
    skip = pytest.mark.skip(reason="the large tier runs with `-m large` (2.45 GB model; see tests/large/conftest.py)")
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.large)
            if not chosen:
                item.add_marker(skip)


@dataclass
class Figures:
    path: Path
    values: dict[str, Any] = field(default_factory=dict)

    def record(self, key: str, value: Any) -> None:
        self.values[key] = value
        print(f"[large] {key}: {json.dumps(value)}")
        self.path.write_text(json.dumps(self.values, indent=2) + "\n")


@pytest.fixture(scope="session")
def work() -> Iterator[Path]:
    chosen = os.environ.get("AIAAS_LARGE_WORK")
    folder = Path(chosen) if chosen else Path(tempfile.mkdtemp(prefix="aiaas-large-tier-"))
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if free < 12e9:
        pytest.skip(f"the large tier needs ~12 GB free in {folder}, there are {free / 1e9:.1f} GB")
    yield folder
    if not chosen and os.environ.get("AIAAS_LARGE_KEEP") != "1":
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def figures(work: Path) -> Figures:
    return Figures(work / "figures.json")


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIAAS_")}
    return {**env, "PYTHONPATH": str(REPO), **extra}


@pytest.fixture(scope="session")
def scale_artifact(work: Path, figures: Figures) -> tuple[Path, Manifest]:
    """The scale-test model compiled by `sdk compile scale-test` (fp32 + int8), with its time and peak RSS."""
    reuse = os.environ.get("AIAAS_LARGE_ARTIFACT")
    if reuse:
        return Path(reuse), read_manifest(reuse)
    out = work / "compiled" / "scale-test"
    scratch = work / "tmp"
    scratch.mkdir(exist_ok=True)
    start = time.perf_counter()
    done = subprocess.run(
        [SDK, "compile", "scale-test", "--out", str(out), "--precision", "fp32,int8"],
        cwd=REPO,
        env=child_env(TMPDIR=str(scratch)),
        capture_output=True,
        text=True,
        timeout=3600,
    )
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    figures.record("compile", {"seconds": round(seconds, 1), "peak_rss_bytes": peak, "log": done.stdout[-2500:]})
    left = [p.name for p in scratch.glob("aiaas-large-*")]
    assert not left, f"the compile left its temporary folders: {left}"
    return out, read_manifest(out)


@dataclass
class S3Side:
    url: str  # the counting proxy: point boto3 here
    counter: Counter
    client: Any


@pytest.fixture(scope="session")
def s3(work: Path) -> Iterator[S3Side]:
    import boto3

    # Credentials and region are passed explicitly (here and in each child's environment): nothing is left in
    # os.environ for the tests that run after this tier.
    with moto_server(work / "moto.log") as moto, counting_proxy(moto) as (url, counter):
        client = boto3.client("s3", endpoint_url=url, region_name="us-east-1", **_credentials())
        client.create_bucket(Bucket=BUCKET)
        yield S3Side(url, counter, client)


def _credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": MOTO_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": MOTO_ENV["AWS_SECRET_ACCESS_KEY"],
    }
