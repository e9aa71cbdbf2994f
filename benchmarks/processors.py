"""What the artifact's processors cost, as a ratio of the model's own time, measured in the same run.

Rows: MiniLM at 1x128 and 32x128 tokens from text (tokenize + pad, then L2-normalize the embedding), and digits-cnn
from PNG bytes (decode, convert, scale; then softmax and top-k labels). For each row the model runs on feeds encoded
once beforehand, and the processors run on the raw items alone; calls are interleaved (model, processors, ...) so
machine noise hits both alike; medians reported. ``ratio`` = processors / model: what raw input adds to a call.

    python benchmarks/processors.py --minilm PATH/minilm-l6 [--calls 200]

PATH is a compiled MiniLM artifact folder (``sdk compile minilm-l6 --out PATH/minilm-l6``, ~90 MB); without it the
MiniLM rows are skipped. Target (issue 16): <= 5% at MiniLM 1x128.

``--serve`` measures what processors cost `sdk serve` instead (target: <= 10% of throughput at 32 clients), with
``serve_throughput.py``'s servers and load generator: one server per model (batching on), sent the same item two
ways, in turn: raw (the text as an OIP BYTES tensor in JSON, the PNG as binary BYTES: what the client sends) and the
tensors the artifact's own processors make of it (ids and mask of one ``--seq``-token sentence, so both sides batch
alike; the PNG's pixels; JSON, as the client sends tensors under 64 KiB). ``raw / tensors``: the ratio of
requests/s, of the medians and per repeat (neighbours in time), and of the server's CPU time per request, which
other load on a shared machine disturbs less than requests/s. The CPU's flags and the load average are printed.

    python benchmarks/processors.py --serve [MODEL_OR_DIR ...] [--minilm PATH/minilm-l6] [--precision int8]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import signal
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import sdk
from sdk.artifacts import open_store
from sdk.runtime.processors import Processors

SAMPLES = Path(__file__).parents[1] / "models" / "digits_cnn" / "samples"
FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8")  # what decides kernel speed
WORDS = ("the quick brown fox jumps over the lazy dog while the band plays on " * 40).split()


def text_of(processors: Processors, tokens: int) -> str:
    """The shortest prefix of WORDS that tokenizes to ``tokens`` ids, special tokens included (a [1, tokens] row)."""
    for n in range(1, len(WORDS) + 1):
        text = " ".join(WORDS[:n])
        if int(processors.encode([text]).report["tokens"][0]) >= tokens:
            return text
    raise ValueError(f"no prefix of the sample text reaches {tokens} tokens")


def interleaved(first: Callable[[], Any], second: Callable[[], Any], calls: int) -> tuple[float, float]:
    """Median ms of each, called alternately (who goes first alternates too)."""
    a: list[float] = []
    b: list[float] = []
    for _ in range(max(3, calls // 10)):  # warm both
        first()
        second()
    for i in range(calls):
        order = ((first, a), (second, b)) if i % 2 == 0 else ((second, b), (first, a))
        for run, sink in order:
            start = time.perf_counter_ns()
            run()
            sink.append((time.perf_counter_ns() - start) / 1e6)
    return statistics.median(a), statistics.median(b)


def row(name: str, model: sdk.LoadedModel, raw: list[Any], calls: int) -> dict[str, Any]:
    processors = model.processors
    assert isinstance(processors, Processors), f"{name}: the artifact declares no processors"
    processors.prepare()
    encoded = processors.encode(raw)
    feeds = model.validator(encoded.feeds)
    tensors = model.run_validated(feeds)

    def process() -> None:
        processors.decode(tensors, processors.encode(raw))

    model_ms, processors_ms = interleaved(lambda: model.run_validated(feeds), process, calls)
    shape = "x".join(str(d) for d in next(iter(feeds.values())).shape)
    return {"row": name, "feeds": shape, "model_ms": model_ms, "processors_ms": processors_ms}


def cpu_flags() -> str:
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    model = re.search(r"^model name\s*:\s*(.+)$", info, re.MULTILINE)
    flags = re.search(r"^flags\s*:\s*(.+)$", info, re.MULTILINE)
    have = [f for f in FLAGS if flags and f in flags.group(1).split()]
    return f"{model.group(1) if model else 'unknown cpu'}, {os.cpu_count()} cores, {' '.join(have) or 'no avx2'}"


def two_ways(folder: Path, seq: int) -> dict[str, tuple[bytes, dict[str, str]]]:
    """One item as the ``raw`` request and as the ``tensors`` request (see --serve): body and headers of each."""
    from sdk.protocol.codec import encode_request

    with sdk.load(folder) as model:
        processors = model.processors
        assert processors is not None and processors.wire_input is not None, f"{folder}: no text/image processor"
        raw: str | bytes
        if processors.wire_input == "text":
            raw = text_of(processors, seq)
            item = raw.encode()
        else:
            item = raw = (SAMPLES / "digit_7.png").read_bytes()
        feeds = processors.encode([raw]).feeds
    items = np.empty(1, dtype=object)
    items[:] = [item]
    binary = processors.wire_input == "image"  # JSON strings cannot carry a PNG: the client sends it binary
    return {
        "tensors": encode_request(feeds, binary=False),
        "raw": encode_request({processors.wire_input: items}, binary=binary),
    }


def serve(refs: list[str], args: argparse.Namespace) -> None:
    spec = importlib.util.spec_from_file_location("serve_throughput", Path(__file__).with_name("serve_throughput.py"))
    assert spec is not None and spec.loader is not None
    st = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(st)
    if args.precision:
        os.environ["AIAAS_PRECISION"] = args.precision  # the servers inherit it
    print(f"cpu: {cpu_flags()}; load average {os.getloadavg()[0]:.2f} before (a shared machine adds noise)")
    log = Path(tempfile.mkstemp(suffix=".log")[1])
    servers: list[subprocess.Popen[bytes]] = []
    jobs: list[tuple[str, str, int, subprocess.Popen[bytes], Path, dict[str, str]]] = []
    try:
        for ref in refs:
            folder = Path(ref) if Path(ref).is_dir() else open_store().resolve(ref).path
            name = json.loads((folder / "manifest.json").read_text())["name"]
            port = st.free_port()
            servers.append(st.start("ours", folder, port, log))
            for way, (body, headers) in two_ways(folder, args.seq).items():
                body_file = Path(tempfile.mkstemp(suffix=f".{way}")[1])
                body_file.write_bytes(body)
                jobs.append((name, way, port, servers[-1], body_file, headers))
                print(f"{name} {way}: {len(body)} B request body", flush=True)
        runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for _ in range(args.repeats):
            for name, way, port, process, body_file, headers in jobs:
                cpu = st.cpu_seconds(process.pid)
                load = [str(port), f"/v2/models/{name}/infer", str(body_file), str(args.clients), str(args.duration)]
                out = st.child("_load", *load, "100000", "raw", json.dumps(headers))
                out["server_cpu_ms"] = (st.cpu_seconds(process.pid) - cpu) * 1000 / max(1, out["requests"])
                runs.setdefault((name, way), []).append(out)
        print(f"load average {os.getloadavg()[0]:.2f} after; {args.clients} clients, {args.repeats} repeats")
        print(f"\n{'model':<12} {'request':<8} {'req/s':>7} {'p50 ms':>7} {'server CPU ms/req':>18}  raw / tensors")
        for name, way, *_ in jobs:
            mine, base = runs[(name, way)], runs[(name, "tensors")]
            rps = statistics.median(r["rps"] for r in mine)
            cpu_ms = statistics.median(r["server_cpu_ms"] for r in mine)
            each = ", ".join(f"{r['rps'] / b['rps']:.3f}" for r, b in zip(mine, base, strict=True))
            cpu_ratio = cpu_ms / statistics.median(b["server_cpu_ms"] for b in base)
            rps_ratio = rps / statistics.median(b["rps"] for b in base)
            ratio = f"req/s {rps_ratio:.3f} (each: {each}); CPU/req {cpu_ratio:.3f}" if way == "raw" else ""
            p50 = statistics.median(r["p50_ms"] for r in mine)
            errors = sum(r["errors"] for r in mine)
            failed = f" ERRORS: {errors}" if errors else ""
            print(f"{name:<12} {way:<8} {rps:>7.0f} {p50:>7.2f} {cpu_ms:>18.3f}  {ratio}{failed}")
    finally:
        for process in servers:
            process.send_signal(signal.SIGTERM)
        for process in servers:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        for job in jobs:
            job[4].unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minilm", type=Path, help="a compiled minilm-l6 artifact folder")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument(
        "--serve",
        nargs="*",
        metavar="MODEL_OR_DIR",
        help="measure sdk serve's throughput instead (see above): these models (default digits-cnn and --minilm)",
    )
    parser.add_argument("--seq", type=int, default=128, help="--serve: tokens in the text item")
    parser.add_argument("--clients", type=int, default=32, help="--serve: concurrent clients")
    parser.add_argument("--duration", type=float, default=3.0, help="--serve: seconds per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="--serve: interleaved repeats")
    parser.add_argument("--precision", help="--serve: artifact precision the servers load (int8 where there is one)")
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve or ["digits-cnn", *([str(args.minilm)] if args.minilm else [])], args)
        return

    rows = []
    if args.minilm is not None:
        minilm = sdk.load(args.minilm)
        assert minilm.processors is not None
        sentence = text_of(minilm.processors, 128)
        rows.append(row("minilm-l6 1x128 from text", minilm, [sentence], args.calls))
        rows.append(row("minilm-l6 32x128 from text", minilm, [sentence] * 32, max(20, args.calls // 4)))
    digits = sdk.load("digits-cnn")
    pngs = [p.read_bytes() for p in sorted(SAMPLES.glob("digit_*.png"))]
    rows.append(row("digits-cnn 1 from PNG", digits, pngs[:1], args.calls * 10))
    rows.append(row("digits-cnn 32 from PNG", digits, (pngs * 8)[:32], args.calls * 2))

    print(f"{'row':<28} {'feeds':<12} {'model ms':>10} {'processors ms':>14} {'ratio':>7}")
    for r in rows:
        ratio = r["processors_ms"] / r["model_ms"]
        print(f"{r['row']:<28} {r['feeds']:<12} {r['model_ms']:>10.3f} {r['processors_ms']:>14.3f} {ratio:>7.1%}")


if __name__ == "__main__":
    main()
