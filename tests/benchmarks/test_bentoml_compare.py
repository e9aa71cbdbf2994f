"""`benchmarks/bentoml_compare.py` counts a server's whole process tree (BentoML serves from an arbiter's worker
processes, so the parent alone would read as almost free) and ships a service file that is valid Python."""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.conftest import REPO


def _module() -> Any:
    spec = importlib.util.spec_from_file_location("bentoml_compare", REPO / "benchmarks" / "bentoml_compare.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _own_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_server_cpu_counts_the_worker_processes_under_the_server() -> None:
    compare = _module()
    # A parent that only waits, over a child that burns 0.4 s of CPU and then waits too (as an arbiter and a worker).
    burn = "import sys, time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass\nsys.stdin.read()"
    parent = "import subprocess, sys; subprocess.run([sys.executable, '-c', sys.argv[1]])"
    with subprocess.Popen([sys.executable, "-c", parent, burn], stdin=subprocess.PIPE) as process:
        try:
            tree = 0.0
            for _ in range(400):  # until the child has burnt its CPU; bounded by count
                tree = compare.tree_cpu_seconds(process.pid)
                if tree >= 0.38:
                    break
                time.sleep(0.05)
            assert tree >= 0.38
            assert _own_cpu_seconds(process.pid) < 0.2  # the parent alone would say almost nothing
        finally:
            process.kill()


def test_bentoml_service_file_defines_both_services_with_adaptive_batching() -> None:
    service = _module().SERVICE
    tree = ast.parse(service)
    classes = {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    assert classes == {"Digits", "MiniLM"}
    assert service.count("batchable=True") == 2 and "enable_padding" in service


def test_in_process_batches_in_windows_never_span_two_windows_and_are_sorted() -> None:
    compare = _module()
    stream = [f"t{i}" + "x" * ((i * 7) % 5) for i in range(20)]  # lengths vary, arrival order fixed
    batches = compare.batches_in_windows(stream, len, 8, 4)
    windows = [set(stream[i : i + 8]) for i in range(0, 20, 8)]
    assert [len(b) for b in batches] == [4, 4, 4, 4, 4]  # windows of 8, 8 and 4: the last window one short batch
    for batch in batches:
        assert sum(set(batch) <= w for w in windows) == 1  # inside exactly one window
    for start in (0, 2):  # each window's batches, joined, are that window sorted by length
        joined = batches[start] + batches[start + 1]
        assert [len(t) for t in joined] == sorted(len(t) for t in joined)
    assert sorted(t for b in batches for t in b) == sorted(stream)  # every text once
