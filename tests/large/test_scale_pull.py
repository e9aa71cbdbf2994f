"""The 2.45 GB scale-test artifact deployed to moto's S3 (multipart) and pulled by `sdk models pull` in a process
killed 20 times at random moments: no kill leaves a loadable partial model, each resume fetches only what is
missing (counted at the S3 endpoint), and the last pull verifies and loads. A disk that fills during the pull is a
clear error that leaves nothing loadable."""

from __future__ import annotations

import contextlib
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from sdk.artifacts.manifest import Manifest
from sdk.artifacts.store import LocalStore
from sdk.deploy.upload import MiB, TransferSettings, Uploader
from sdk.errors import AiaasError
from tests.large.conftest import BUCKET, REPO, SDK, STORE_URI, Figures, S3Side, child_env

KILLS = 20
REF = "scale-test@1"


class Counting:
    """A TransferProgress that counts what the uploader reports."""

    def __init__(self) -> None:
        self.total = self.sent = self.files = 0

    def begin(self, total_bytes: int, files: int) -> None:
        self.total, self.files = total_bytes, files

    def file(self, name: str, size: int) -> None:
        pass

    def advance(self, nbytes: int) -> None:
        self.sent += nbytes

    def end(self) -> None:
        pass


@pytest.fixture(scope="module")
def deployed(scale_artifact: tuple[Path, Manifest], s3: S3Side, figures: Figures) -> Manifest:
    folder, manifest = scale_artifact
    progress = Counting()
    uploader = Uploader(s3.client, BUCKET, "models/", settings=TransferSettings(), progress=progress)
    start = time.perf_counter()
    plan = uploader.execute(folder, uploader.plan(folder, manifest))
    seconds = time.perf_counter() - start
    s3.counter.take()
    size = sum(b for _, _, b in manifest.all_files())
    requests = s3.counter.take_requests()
    figures.record(
        "upload", {"seconds": round(seconds, 1), "bytes": size, "reported": progress.sent, "requests": requests}
    )
    # Every model file went up: whole, or as chunks stored once (the int8 file shares chunks with the fp32 one, e.g.
    # its fp32 embedding table, so fewer bytes than the files' sum travel); the store holds all of it.
    assert progress.sent >= size // 2 and uploader.damaged(manifest) == []
    assert plan.objects[-1].file == "manifest.json"
    return manifest


def staged_bytes(root: Path) -> int:
    """Bytes a pull has landed on disk for the scale-test model (staging folder and any version folder): the blocks
    written, not the file sizes, since a chunked file's ``.part`` is sized whole before its chunks land (sparse)."""
    folder = root / "scale-test"
    if not folder.exists():
        return 0
    return sum(min(s.st_size, s.st_blocks * 512) for s in (p.stat() for p in folder.rglob("*") if p.is_file()))


def assert_nothing_loadable(root: Path) -> None:
    import sdk

    assert LocalStore(root).versions("scale-test") == []
    assert not (root / "scale-test" / "1").exists()
    with pytest.raises(AiaasError):
        sdk.load(REF, store=LocalStore(root))


def pull_env(root: Path, s3: S3Side) -> dict[str, str]:
    env = child_env(AIAAS_STORE=str(root), AWS_ENDPOINT_URL=s3.url, AWS_ACCESS_KEY_ID="testing")
    return env | {"AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}


def pull_in_terminal(root: Path, s3: S3Side) -> tuple[int, str]:
    """`sdk models pull` with a pseudo-terminal for its output, as a user sees it (rich draws its live bar)."""
    import pty

    env = pull_env(root, s3) | {"COLUMNS": "160", "TERM": "xterm"}
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [SDK, "models", "pull", REF, "--store", STORE_URI], cwd=REPO, env=env, stdout=follower, stderr=follower
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 1 << 16)
        except OSError:  # EIO: the process closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    return process.wait(timeout=1800), b"".join(chunks).decode("utf-8", "replace")


def pull_process(root: Path, s3: S3Side, preexec_fn: Callable[[], None] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [SDK, "models", "pull", REF, "--store", STORE_URI, "--json"],
        cwd=REPO,
        env=pull_env(root, s3),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec_fn,
    )


@pytest.mark.timeout(5400)
def test_twenty_random_kills_never_leave_a_loadable_partial_and_each_resume_fetches_only_what_is_missing(
    deployed: Manifest, s3: S3Side, work: Path, figures: Figures
) -> None:
    root = work / "edge-store"
    shutil.rmtree(root, ignore_errors=True)
    total = sum(b for _, _, b in deployed.all_files())
    rng = random.Random(19)
    runs = []
    for kill in range(KILLS):
        before = staged_bytes(root)
        s3.counter.take()
        process = pull_process(root, s3)
        started = time.monotonic()
        if kill % 4 == 3:  # a random moment in time, startup included
            time.sleep(rng.uniform(0.2, 3.0))
        else:  # a random moment in the transfer: after a random share of what is missing has landed
            goal = before + int(rng.uniform(0.005, 0.04) * total)
            while staged_bytes(root) < goal and process.poll() is None and time.monotonic() - started < 600:
                time.sleep(0.01)
        assert process.poll() is None, f"kill {kill}: the pull ended before it could be killed: {process.communicate()}"
        process.send_signal(signal.SIGKILL)
        process.communicate()  # reaps it and closes the pipes
        after = staged_bytes(root)
        fetched = s3.counter.take()
        runs.append({"missing": total - before, "fetched": fetched, "landed": after - before})
        assert_nothing_loadable(root)
        assert fetched <= 1.02 * (total - before) + MiB
    before = staged_bytes(root)
    s3.counter.take_requests()
    returncode, shown = pull_in_terminal(root, s3)
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown)  # the terminal's colour and cursor codes
    fetched = s3.counter.take()
    requests = s3.counter.take_requests()
    assert returncode == 0, shown[-2000:]
    missing = total - before
    final = {"missing": missing, "fetched": fetched, "ratio": round(fetched / max(missing, 1), 4), "requests": requests}
    wasted = [r["fetched"] - r["landed"] for r in runs]
    figures.record(
        "kill_during_pull",
        {
            "total_bytes": total,
            "kills": runs,
            "final": final,
            "all_runs_fetched_over_total": round((sum(r["fetched"] for r in runs) + fetched) / total, 4),
            "max_wasted_bytes_per_kill": max(wasted),
            "terminal_lines": [line for line in shown.replace("\r", "\n").splitlines() if "/s" in line][-3:],
        },
    )
    assert "pulled scale-test@1" in shown and LocalStore(root).versions("scale-test") == ["1"]
    assert fetched <= 1.02 * missing + MiB, final
    # the bar as the user saw it: bytes so far, transfer rate and time remaining
    assert re.search(r"\d+(\.\d+)?/\d+(\.\d+)? [kMG]B", shown) and re.search(r"\d+(\.\d+)? [kMG]B/s", shown), shown[
        -600:
    ]
    assert re.search(r"\d:\d\d:\d\d", shown), shown[-600:]
    import sdk

    with sdk.load(REF, store=LocalStore(root), precision="int8") as model:
        got = model({"input_ids": np.array([[101, 2000, 2001, 102]]), "attention_mask": np.ones((1, 4), np.int64)})
    assert np.isclose(np.linalg.norm(got["embedding"]), 1.0, atol=1e-3)


@contextlib.contextmanager
def small_disk(path: Path, size_mb: int) -> Iterator[Callable[[], None] | None]:
    """A tmpfs of ``size_mb`` at ``path`` when this process may mount one (a real ENOSPC); otherwise the pull runs
    under RLIMIT_FSIZE (EFBIG on the first write past the limit, SIGXFSZ ignored)."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(path)], capture_output=True
        ).returncode
        == 0
    )
    try:
        if mounted:
            yield None
        else:

            def limit() -> None:
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (size_mb * MiB, size_mb * MiB))

            yield limit
    finally:
        if mounted:
            subprocess.run(["umount", str(path)], check=False)


@pytest.mark.timeout(3600)
def test_a_disk_that_fills_during_pull_is_a_clear_error_and_leaves_nothing_loadable(
    deployed: Manifest, s3: S3Side, work: Path, figures: Figures
) -> None:
    mount = work / "small-disk"
    with small_disk(mount, 400) as limit:
        root = mount / "store"
        process = pull_process(root, s3, limit)
        _out, err = process.communicate(timeout=900)
        assert process.returncode != 0
        message = err.strip().splitlines()[-3:] if err.strip() else []
        figures.record("disk_full", {"returncode": process.returncode, "stderr_tail": message, "tmpfs": limit is None})
        assert "Traceback" not in err, err[-2000:]
        assert any(w in err.lower() for w in ("no space", "file too large", "disk")), err[-2000:]
        assert_nothing_loadable(root)
