"""SIGTERM (a supervisor, a CI timeout, ``kill``) ends an `sdk` command as Ctrl-C does: its cleanups run, and it exits
with status 143. Real processes through the real entry point (``sdk.cli.main``)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

# The real CLI app and entry point, with one extra command that holds a compile's staging folder (the very context
# manager `sdk compile` writes its artifact folder through) until it is told to stop.
SCRIPT = """
import sys, time
from sdk.cli import app, main
from sdk.compile.package import staged_folder

@app.command("hold-staging")
def hold(out: str) -> None:
    with staged_folder(out) as staging:
        (staging / "model.onnx").write_bytes(b"partial")
        print("ready", flush=True)
        time.sleep(120)

main()
"""


def start(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    script = tmp_path / "cli.py"
    script.write_text(SCRIPT)
    return subprocess.Popen(
        [sys.executable, str(script), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_sigterm_removes_the_staging_folder_and_exits_143(tmp_path: Path) -> None:
    out = tmp_path / "artifacts" / "digits-cnn"
    process = start(tmp_path, "hold-staging", str(out))
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    assert [p.name for p in out.parent.iterdir() if ".staging-" in p.name]  # the staging folder is there
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert list(out.parent.iterdir()) == []  # no staging folder left behind, and no half-written target
    assert "Traceback" not in stderr


def test_a_command_that_finishes_keeps_its_own_exit_status(tmp_path: Path) -> None:
    process = start(tmp_path, "models", "show", "no-such-model")
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1 and "ModelNotFound" in stderr  # not 143: no signal came
