"""The SageMaker GPU container's program, ``python -m functions.sagemaker_gpu.serve serve``, run as SageMaker runs the
image: the model in ``SM_MODEL_DIR``, the port SageMaker assigns in ``SAGEMAKER_BIND_TO_PORT``. It binds 0.0.0.0 as
the container contract asks; a test reaches it on loopback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sdk.demo.stack import free_port

READY = re.compile(r"^serving at http", re.MULTILINE)  # a line of its own: a traceback quotes the line printing it


@contextmanager
def gpu_container(model_dir: Path, log: Path, **settings: str) -> Iterator[str]:
    """The container serving ``model_dir`` (its output in ``log``, ``settings`` added to its environment) until the
    block ends; yields its base URL once it said it serves. A container that exits first fails, showing its log."""
    port = free_port()
    env = {**os.environ, "SM_MODEL_DIR": str(model_dir), "SAGEMAKER_BIND_TO_PORT": str(port)}
    env["AIAAS_CACHE_DIR"] = str(log.parent / "cache")
    env.pop("MODEL_URI", None)
    env.update(settings)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "functions.sagemaker_gpu.serve", "serve"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.monotonic() + 120
        while not READY.search(log.read_text(errors="replace")):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)
