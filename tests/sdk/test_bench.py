"""`sdk bench`: real calls on both routes, sane numbers, a valid PNG."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sdk.artifacts.store import BUILTIN_ROOT
from sdk.cli import app
from sdk.demo.stack import start_serve

pytestmark = pytest.mark.integration


def test_bench_measures_both_routes_and_plots(tmp_path: Path) -> None:
    server = start_serve(str(BUILTIN_ROOT), tmp_path / "serve.log")
    try:
        result = CliRunner().invoke(
            app,
            ["bench", "digits-cnn", "--endpoint", server.url, "--duration", "0.5", "--concurrency", "2",
             "--auto-calls", "50", "--plot", str(tmp_path / "bench.png"), "--json"],
            catch_exceptions=False,
        )  # fmt: skip
    finally:
        server.stop()
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    for route in ("local", "cloud"):
        s = report["routes"][route]
        assert s["requests"] > 10 and s["errors"] == 0 and s["throughput_rps"] > 0
        assert 0 < s["p50_ms"] <= s["p90_ms"] <= s["p99_ms"]
    assert sum(report["auto_choices"].values()) == 50
    png = (tmp_path / "bench.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000

    import matplotlib.image

    assert matplotlib.image.imread(tmp_path / "bench.png").shape[2] in (3, 4)


def test_bench_rejects_an_unknown_route() -> None:
    result = CliRunner().invoke(app, ["bench", "digits-cnn", "--routes", "gpu"])
    assert result.exit_code == 1 and "unknown route(s) gpu" in result.stderr
