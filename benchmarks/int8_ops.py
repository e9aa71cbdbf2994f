"""Where MiniLM's static int8 time goes in OpenVINO at 1x128, against the CPU's measured int8 matmul peak (#20 item 5).

    .venv/bin/python benchmarks/int8_ops.py --keep DIR [--calls 200]

DIR is an artifact folder that ``benchmarks/int8_ceiling.py --keep DIR`` compiled (its static int8 file; the
MIXED-preset comparison file too when it is there). One process compiles each model reshaped to 1x128 with
OpenVINO's per-node counters (PERF_COUNT), and a single int8 FullyConnected 128x1024x1024 (Q/DQ, as NNCF writes
them): the peak the CPU's VNNI kernels reach here. They take turns call by call, so a busy machine slows both alike.
Printed: per node kind, the 10th percentile of its ms per call (a call the other load let run) and its share; the
FullyConnected layers' MACs per second as a share of that peak; and the floor that follows (the FCs at the peak,
everything else as measured), the limit of any Q/DQ placement or engine setting that leaves the arithmetic as it is.
Counters under load include time a thread waited for the CPU: compare shares and ratios, not absolute figures.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PEAK = (128, 1024, 1024)  # M, K, N of the peak probe


def matmul_macs(model: bytes, tokens: int) -> int:
    """MACs of the MatMuls with a constant (possibly dequantized) weight: what OpenVINO runs as FullyConnected."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load_from_string(model).graph
    weights = {t.name: numpy_helper.to_array(t).shape for t in graph.initializer}
    produced = {out: node for node in graph.node for out in node.output}
    total = 0
    for node in graph.node:
        if node.op_type != "MatMul":
            continue
        source = node.input[1]
        if source in produced and produced[source].op_type == "DequantizeLinear":
            source = produced[source].input[0]
        if source in weights and len(weights[source]) == 2:
            total += tokens * int(np.prod(weights[source]))
    return total


def peak_probe() -> bytes:
    """An int8 FullyConnected as NNCF writes one: activations and per-channel weights through Q/DQ."""
    from onnx import TensorProto, helper, numpy_helper

    m, k, n = PEAK
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(np.array(0.05, np.float32), "s"),
        numpy_helper.from_array(np.array(0, np.int8), "z"),
        numpy_helper.from_array(rng.integers(-127, 127, (k, n)).astype(np.int8), "w"),
        numpy_helper.from_array(np.full(n, 0.01, np.float32), "ws"),
        numpy_helper.from_array(np.zeros(n, np.int8), "wz"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"]),
        helper.make_node("DequantizeLinear", ["w", "ws", "wz"], ["wd"], axis=1),
        helper.make_node("MatMul", ["xd", "wd"], ["y"]),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [m, k])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, n])
    graph = helper.make_graph(nodes, "peak", [x], [y], inits)
    return bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())


def low(values: list[float]) -> float:
    """The 10th percentile: on a shared machine, what a call takes when the other load lets it run."""
    return float(np.percentile(values, 10))


def compiled(core: Any, model: bytes, shape: dict[str, list[int]] | None) -> Any:
    from sdk.runtime.config import RuntimeConfig
    from sdk.runtime.openvino_backend import compile_config

    read = core.read_model(model, b"")
    if shape:
        read.reshape(shape)
    settings = {**compile_config(RuntimeConfig(threads=2)), "PERF_COUNT": True}
    return core.compile_model(read, "CPU", settings).create_infer_request()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", type=Path, required=True, help="the artifact folder int8_ceiling.py compiled")
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import openvino as ov
    from int8_ceiling import MIXED_FILE, feeds_for  # a sibling script (benchmarks/ is on sys.path)

    from sdk.compile.optimize import STATIC_INT8_FILE

    core = ov.Core()
    feeds = feeds_for("1x128")[0]
    files = [f for f in (STATIC_INT8_FILE, MIXED_FILE) if (args.keep / f).is_file()]
    models = {f: (args.keep / f).read_bytes() for f in files}
    requests = {f: compiled(core, data, {k: list(v.shape) for k, v in feeds.items()}) for f, data in models.items()}
    probe = compiled(core, peak_probe(), None)
    probe_input = {"x": np.random.default_rng(1).random(PEAK[:2], dtype=np.float32)}
    per_kind: dict[str, dict[str, list[float]]] = {f: collections.defaultdict(list) for f in files}
    counts: dict[str, collections.Counter[str]] = {f: collections.Counter() for f in files}
    peak_ms: list[float] = []
    for call in range(args.calls + 10):
        for name, request in requests.items():
            request.infer(feeds)
            sums: dict[str, float] = collections.defaultdict(float)
            kinds: collections.Counter[str] = collections.Counter()
            for node in request.profiling_info:
                if node.real_time.total_seconds() > 0:
                    kind = f"{node.node_type} ({node.exec_type})"
                    sums[kind] += node.real_time.total_seconds() * 1e3
                    kinds[kind] += 1
            if call >= 10:
                for kind, spent in sums.items():
                    per_kind[name][kind].append(spent)
                counts[name] = kinds
        probe.infer(probe_input)
        if call >= 10:
            fcs = [n for n in probe.profiling_info if n.node_type.startswith("FullyConnected")]
            peak_ms.append(sum(n.real_time.total_seconds() for n in fcs) * 1e3)
    peak = PEAK[0] * PEAK[1] * PEAK[2] / low(peak_ms) / 1e6  # GMAC/s
    print(f"load average (1 min) {os.getloadavg()[0]:.1f}; int8 FC {'x'.join(map(str, PEAK))}: {peak:.0f} GMAC/s")
    for name in files:
        macs = matmul_macs(models[name], tokens=128)
        medians = {kind: low(ms) for kind, ms in per_kind[name].items()}
        total = sum(medians.values())
        fc = sum(ms for kind, ms in medians.items() if kind.startswith("FullyConnected"))
        rate = macs / fc / 1e6
        floor = macs / peak / 1e6 + (total - fc)
        print(f"\n{name}: {total:.2f} ms per call (sum of the kinds' 10th percentiles), FCs {macs / 1e9:.2f} GMAC")
        print("| node kind | nodes | ms | share |\n|---|---|---|---|")
        for kind, ms in sorted(medians.items(), key=lambda item: -item[1])[:10]:
            print(f"| {kind} | {counts[name][kind]} | {ms:.2f} | {ms / total:.0%} |")
        print(f"FullyConnected: {rate:.0f} GMAC/s = {rate / peak:.0%} of the probe's peak; at the peak they would take")
        print(f"{macs / peak / 1e6:.2f} ms, so this graph's floor is {floor:.2f} ms ({total / floor:.2f}x below now)")


if __name__ == "__main__":
    main()
