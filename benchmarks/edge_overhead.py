"""What the SDK adds per call on the edge: `sdk.load(...)(x)` against a raw `onnxruntime.InferenceSession.run`.

Same model bytes, same session options, same process; calls interleaved (SDK, raw, SDK, raw, ...) so machine noise
hits both alike; medians reported. The SDK's extra work per call is input validation against the manifest and naming
the outputs.

    python benchmarks/edge_overhead.py [--model digits-cnn] [--calls 20000] [--batch 1 32]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import onnxruntime as ort

import sdk
from sdk.artifacts import open_store, read_manifest, read_verified
from sdk.runtime.onnx_backend import session_options


def measure(model: sdk.LoadedModel, session: ort.InferenceSession, x: np.ndarray, calls: int) -> tuple[float, float]:
    name = model.manifest.inputs[0].name
    feeds = {name: x}
    sdk_times, raw_times = [], []
    clock = time.perf_counter_ns
    for _ in range(200):  # warm both paths
        model(feeds)
        session.run(None, feeds)
    for i in range(calls):
        # Alternate which goes first, so neither always runs on a warmer cache.
        order = ((model, sdk_times), (None, raw_times)) if i % 2 == 0 else ((None, raw_times), (model, sdk_times))
        for who, sink in order:
            start = clock()
            if who is None:
                session.run(None, feeds)
            else:
                who(feeds)
            sink.append(clock() - start)
    return statistics.median(sdk_times) / 1000, statistics.median(raw_times) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="digits-cnn")
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 32])
    args = parser.parse_args()

    config = sdk.RuntimeConfig.from_env()
    model = sdk.load(args.model, config=config)
    stored = open_store().resolve(args.model)
    manifest = read_manifest(stored.path)
    art = manifest.artifact()
    session = ort.InferenceSession(
        read_verified(stored.path, art.file, art.sha256, art.bytes),
        sess_options=session_options(ort, config),
        providers=list(model.info.providers),
    )
    print(
        f"model {manifest.ref} · onnxruntime {ort.__version__} · {', '.join(model.info.providers)} · "
        f"{args.calls} interleaved calls per batch size"
    )
    print(f"{'batch':>5} | {'raw ORT median µs':>17} | {'SDK median µs':>13} | {'overhead µs':>11} | {'ratio':>6}")
    rng = np.random.default_rng(0)
    for batch in args.batch:
        shape = [batch if d == -1 else d for d in manifest.inputs[0].shape]
        x = rng.random(shape, dtype=np.float32)
        sdk_us, raw_us = measure(model, session, x, args.calls)
        print(f"{batch:>5} | {raw_us:>17.1f} | {sdk_us:>13.1f} | {sdk_us - raw_us:>11.1f} | {sdk_us / raw_us:>6.3f}")


if __name__ == "__main__":
    main()
