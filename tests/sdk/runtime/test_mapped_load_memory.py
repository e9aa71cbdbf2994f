"""The mapped load keeps one copy of the weights: measured in fresh processes with the benchmark's own children
(benchmarks/large_model.py), against the naive path in the same run, on a small synthetic model."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc/self/status (Linux)")


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("large_model", REPO / "benchmarks" / "large_model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["large_model"] = module
    spec.loader.exec_module(module)
    return module


def test_mapped_load_adds_no_anonymous_copy_of_the_weights_while_the_naive_load_does(
    bench: ModuleType, tmp_path: Path
) -> None:
    model = bench.synthetic_model(34)  # two 16 MiB MatMul weights
    single = tmp_path / "single.onnx"
    single.write_bytes(model)
    folder = tmp_path / "large-synthetic" / "1"
    bench.write_artifact(model, folder, 16)
    weights = sum(p.stat().st_size for p in folder.glob("model.onnx.data-*"))
    naive_code, mapped_code = (c.replace("__WIDTH__", str(bench.WIDTH)) for c in (bench.NAIVE, bench.MAPPED))
    baseline = bench.child(bench.BASELINE)["RssAnon"]
    naive = bench.child(naive_code, str(single), hashlib.sha256(model).hexdigest())
    mapped = bench.child(mapped_code, str(folder))
    assert naive["RssAnon"] - baseline > 1.5 * weights  # the measurement sees copies where there are some
    assert mapped["RssAnon"] - baseline < 0.15 * weights
    assert mapped["RssFile"] > weights  # the weights are resident as the mapped file's pages
