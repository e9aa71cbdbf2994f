"""The page's own logic, run in the browser: its Prometheus text parser and quantiles, and how a typed JSON tensor
becomes an Open Inference Protocol input."""

from __future__ import annotations

from typing import Any

import pytest

from sdk.demo.stack import Server
from tests.browser.conftest import Tab

pytestmark = pytest.mark.browser

EXPOSITION = r"""# HELP aiaas_requests_total Answered requests
# TYPE aiaas_requests_total counter
aiaas_requests_total{model="a",route="infer",status="200",version="1"} 3.0
aiaas_requests_total{model="we \"quote\", {brace} \\ and\nline",route="infer",status="400"} 2.0 1700000000000
# TYPE aiaas_request_duration_seconds histogram
aiaas_request_duration_seconds_bucket{le="0.1",model="a"} 0.0
aiaas_request_duration_seconds_bucket{le="0.2",model="a"} 10.0
aiaas_request_duration_seconds_bucket{le="+Inf",model="a"} 10.0
odd_value NaN
not a sample line
"""


@pytest.fixture
def page(tab: Tab, server: Server) -> Any:
    loaded = tab.open(server.url + "/")
    loaded.wait_for_selector("article.model")
    return loaded


def test_prometheus_text_is_parsed_with_escaped_label_values_timestamps_and_special_values(page: Any) -> None:
    parsed = page.evaluate(
        """async (text) => {
            const m = await import("/ui/metrics.js");
            const { samples, types } = m.parseMetrics(text);
            return { types, samples: samples.map(s => [s.name, s.labels, String(s.value)]) };
        }""",
        EXPOSITION,
    )
    assert parsed["types"] == {"aiaas_requests_total": "counter", "aiaas_request_duration_seconds": "histogram"}
    samples = parsed["samples"]
    assert len(samples) == 6  # the line that is no sample is skipped, not fatal
    assert samples[1][1]["model"] == 'we "quote", {brace} \\ and\nline' and samples[1][2] == "2"
    assert samples[4][1]["le"] == "+Inf" and samples[5] == ["odd_value", {}, "NaN"]


def test_quantiles_interpolate_within_the_bucket_and_stop_at_the_highest_finite_bound(page: Any) -> None:
    found = page.evaluate(
        """async () => {
            const { quantile } = await import("/ui/metrics.js");
            const now = new Map([[0.1, 0], [0.2, 10], [Infinity, 10]]);
            const before = new Map([[0.1, 0], [0.2, 2], [Infinity, 2]]);
            const tail = new Map([[0.1, 5], [Infinity, 10]]);
            return [quantile(0.5, now, null), quantile(0.5, now, before), quantile(0.95, tail, null),
                    quantile(0.5, now, now)];
        }"""
    )
    assert found == [pytest.approx(0.15), pytest.approx(0.15), 0.1, None]  # no request in the interval: no value


def test_typed_json_becomes_a_tensor_of_the_declared_shape_or_a_clear_error(page: Any) -> None:
    results = page.evaluate(
        """async () => {
            const { tensorInput } = await import("/ui/models.js");
            const spec = { name: "image", datatype: "FP32", shape: [-1, 1, 2, 2] };
            const run = (s, text) => { try { return tensorInput(s, text); } catch (e) { return e.message; } };
            return [
                run(spec, "[[[1, 2], [3, 4]]]"),
                run(spec, "[1, 2, 3, 4, 5, 6, 7, 8]"),
                run(spec, "[[[1, 2], [3]]]"),
                run(spec, "[1, 2, 3]"),
                run({ name: "x", datatype: "INT64", shape: [-1, -1] }, "[5, 6, 7]"),
            ];
        }"""
    )
    assert results[0] == {"name": "image", "datatype": "FP32", "shape": [1, 1, 2, 2], "data": [1, 2, 3, 4]}
    assert results[1]["shape"] == [2, 1, 2, 2]  # a flat list fills the batch when the rest is fixed
    assert "ragged" in results[2]
    assert results[3] == "Input 'image': 3 values do not fill shape [-1, 1, 2, 2]; nest them"
    assert results[4]["shape"] == [1, 3]
