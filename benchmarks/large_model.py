"""Large model load: the naive path (read, sha256, ``InferenceSession(bytes)``) against the mapped path (``sdk.load``
of an artifact whose weights are ONNX external data shards: mapped, hashed in place, handed to ONNX Runtime as they
are), same run, each load in a fresh process.

    .venv/bin/python benchmarks/large_model.py [--mb 300] [--shard-mb 64] [--repeats 3]
    .venv/bin/python benchmarks/large_model.py --scale-test FOLDER [--compile] [--repeats 2]

The model is synthetic (quality is not the point): a chain of MatMul -> Tanh layers whose fp32 weights add up to
``--mb`` megabytes, built with ``onnx.helper`` from a fixed seed. Both paths load the same weights: one file
``model.onnx`` for the naive path, and an artifact folder (graph + shards, manifest) for the mapped path;
``mapped+prepack`` is the mapped path with ``AIAAS_MAPPED_PREPACK=1``. Reported per path (median of ``--repeats``
fresh processes): load time (verify + session + first answer), peak resident memory (VmHWM) with its split at the
end (anonymous vs file-backed pages), and the per-call time at batch 1 and 32 afterwards. The runtime's baseline is
a fresh process that imports ONNX Runtime and ``sdk`` and loads the digits CNN. Target: mapped peak <= 1.15 x
weight bytes + baseline. Files go to a temp dir in the page cache (a first untimed round warms it for every path).

``--scale-test FOLDER``: the same comparison on the 2.45 GB scale-test artifact (models/scale_test) at FOLDER,
compiled first by `sdk compile scale-test` with ``--compile`` (its wall time and peak RSS reported against the
weight bytes and the recipe's own build step). Past 2 GB no single protobuf holds the model, so the naive path is
ONNX Runtime given the graph's path, reading the external data itself (into its own memory), after the files are
read once and hashed; the mapped path is ``sdk.load``. Bytes per resume of a killed pull come from the large tier
(``pytest -m large``, its ``figures.json``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
WIDTH = 2048

_MEMORY = """
def per_call(run):
    import time
    import numpy as np
    out = {}
    for batch in (1, 32):
        feeds = {"x": np.ones((batch, __WIDTH__), np.float32)}
        run(feeds)
        start = time.perf_counter()
        for _ in range(10):
            run(feeds)
        out[f'run{batch}_ms'] = (time.perf_counter() - start) * 100
    return out


def memory():
    fields = {}
    for line in open('/proc/self/status'):
        key, _, value = line.partition(':')
        if key in ('VmHWM', 'VmRSS', 'RssAnon', 'RssFile'):
            fields[key] = int(value.split()[0]) * 1024
    return fields
"""

NAIVE = (
    _MEMORY
    + """
import hashlib, json, sys, time
import numpy as np
start = time.perf_counter()
import onnxruntime as ort
from sdk.runtime.config import RuntimeConfig
from sdk.runtime.onnx_backend import session_options
data = open(sys.argv[1], 'rb').read()
assert hashlib.sha256(data).hexdigest() == sys.argv[2]
session = ort.InferenceSession(data, session_options(ort, RuntimeConfig()), providers=['CPUExecutionProvider'])
session.run(None, {'x': np.ones((1, __WIDTH__), np.float32)})
RUN = lambda feeds: session.run(None, feeds)
elapsed = time.perf_counter() - start
print(json.dumps({'load_s': elapsed, **memory(), **per_call(RUN)}))
"""
)

MAPPED = (
    _MEMORY
    + """
import json, sys, time
import numpy as np
start = time.perf_counter()
import sdk
from sdk.runtime.config import RuntimeConfig
model = sdk.load(sys.argv[1], config=RuntimeConfig(warmup_runs=0))
model({'x': np.ones((1, __WIDTH__), np.float32)})
RUN = model
elapsed = time.perf_counter() - start
print(json.dumps({'load_s': elapsed, **memory(), **per_call(RUN)}))
"""
)

BASELINE = (
    _MEMORY
    + """
import json
import numpy as np
import onnxruntime
import sdk
model = sdk.load('digits-cnn')
model(np.zeros((1, 1, 8, 8), np.float32))
print(json.dumps(memory()))
"""
)


NAIVE_EXTERNAL = (
    _MEMORY
    + """
import hashlib, json, sys, time
from pathlib import Path
import numpy as np
start = time.perf_counter()
import onnxruntime as ort
from sdk.artifacts import read_manifest
from sdk.runtime.config import RuntimeConfig
from sdk.runtime.onnx_backend import session_options
folder = Path(sys.argv[1])
artifact = read_manifest(folder).artifact(precision='fp32')
for f in (artifact.file, *[d.file for d in artifact.external]):
    digest = hashlib.sha256()
    with open(folder / f, 'rb') as stream:
        while block := stream.read(1 << 24):
            digest.update(block)
options = session_options(ort, RuntimeConfig())
session = ort.InferenceSession(str(folder / artifact.file), options, providers=['CPUExecutionProvider'])
FEEDS = {'input_ids': np.array([[101, 200, 201, 102]]), 'attention_mask': np.ones((1, 4), np.int64)}
session.run(None, FEEDS)
elapsed = time.perf_counter() - start
print(json.dumps({'load_s': elapsed, **memory()}))
"""
)

MAPPED_EXTERNAL = (
    _MEMORY
    + """
import json, sys, time
import numpy as np
start = time.perf_counter()
import sdk
from sdk.runtime.config import RuntimeConfig
model = sdk.load(sys.argv[1], precision='fp32', config=RuntimeConfig(warmup_runs=0))
model({'input_ids': np.array([[101, 200, 201, 102]]), 'attention_mask': np.ones((1, 4), np.int64)})
elapsed = time.perf_counter() - start
print(json.dumps({'load_s': elapsed, **memory()}))
"""
)


def scale_test(folder: Path, *, compile_first: bool, repeats: int) -> None:
    """Compile (optionally) and load the scale-test artifact, naive vs mapped, interleaved with the baseline."""
    import resource
    import time

    if compile_first:
        start = time.perf_counter()
        out = subprocess.run(
            [
                str(Path(sys.executable).with_name("sdk")),
                "compile",
                "scale-test",
                "--out",
                str(folder),
                "--precision",
                "fp32,int8",
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        steps = [line for line in out.stdout.splitlines() if line.startswith(("✓", "note"))]
        print(f"compile (fp32 + int8): {seconds:.1f} s wall, peak RSS {peak / 1e9:.2f} GB; its steps (the first, the")
        print("recipe building the source model, is the baseline every compile pays):\n  " + "\n  ".join(steps))
    from sdk.artifacts import read_manifest

    artifact = read_manifest(folder).artifact(precision="fp32")
    weights = sum(d.bytes for d in artifact.external)
    print(f"scale-test weights: {weights / 1e9:.2f} GB in {len(artifact.external)} shards")
    if compile_first:
        print(f"compile peak RSS / weight bytes: {peak / weights:.2f}")
    rows: dict[str, list[dict[str, float]]] = {"baseline": [], "naive (ORT reads)": [], "mapped": []}
    for _ in range(repeats):  # interleaved, so machine noise hits every path alike
        rows["baseline"].append(child(BASELINE))
        rows["naive (ORT reads)"].append(child(NAIVE_EXTERNAL, str(folder)))
        rows["mapped"].append(child(MAPPED_EXTERNAL, str(folder)))
    baseline = statistics.median(r["VmHWM"] for r in rows["baseline"])
    print(f"runtime baseline peak {baseline / 1e6:.1f} MB; load = verify + session + first answer, median of {repeats}")
    print(f"{'path':18} {'load s':>8} {'peak MB':>9} {'x weights (minus baseline)':>27} {'anon MB':>8} {'file MB':>8}")
    for name in ("naive (ORT reads)", "mapped"):
        r = rows[name]
        peak_rss = statistics.median(x["VmHWM"] for x in r)
        print(
            f"{name:18} {statistics.median(x['load_s'] for x in r):8.2f} {peak_rss / 1e6:9.1f} "
            f"{(peak_rss - baseline) / weights:27.2f} {statistics.median(x['RssAnon'] for x in r) / 1e6:8.1f} "
            f"{statistics.median(x['RssFile'] for x in r) / 1e6:8.1f}"
        )
    naive = statistics.median(x["load_s"] for x in rows["naive (ORT reads)"])
    mapped = statistics.median(x["load_s"] for x in rows["mapped"])
    peak_rss = statistics.median(x["VmHWM"] for x in rows["mapped"])
    print(f"mapped/naive load time {mapped / naive:.2f}x; target peak <= 1.15 x weights + baseline: ", end="")
    print("met" if peak_rss <= 1.15 * weights + baseline else "MISSED")


def synthetic_model(megabytes: int, seed: int = 0) -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    layers = max(1, round(megabytes * 1e6 / (WIDTH * WIDTH * 4)))
    nodes, weights = [], []
    for i in range(layers):
        w = (rng.standard_normal((WIDTH, WIDTH), dtype=np.float32) / np.sqrt(WIDTH)).astype(np.float32)
        weights.append(numpy_helper.from_array(w, f"w{i}"))
        nodes.append(helper.make_node("MatMul", [f"h{i}", f"w{i}"], [f"m{i}"]))
        nodes.append(helper.make_node("Tanh", [f"m{i}"], [f"h{i + 1}"]))
    nodes[0].input[0] = "x"
    nodes[-1].output[0] = "y"
    graph = helper.make_graph(
        nodes,
        "large",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", WIDTH])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", WIDTH])],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


def write_artifact(model: bytes, folder: Path, shard_mb: int) -> None:
    from sdk.artifacts.manifest import ArtifactFile, DataFile, Manifest, Source, TensorSpec, write_manifest
    from sdk.compile.external import ExternalDataConfig, externalize

    config = ExternalDataConfig(threshold=0, shard_bytes=shard_mb << 20, min_tensor_bytes=1024)
    graph, shards = externalize(model, file="model.onnx", config=config)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.onnx").write_bytes(graph)
    listed = []
    for name, data in shards:
        (folder / name).write_bytes(data)
        listed.append(DataFile(file=name, sha256=hashlib.sha256(data).hexdigest(), bytes=len(data)))
    spec = {"dtype": "float32", "shape": (-1, WIDTH), "dim_names": ("batch", None)}
    manifest = Manifest(
        name="large-synthetic",
        version="1",
        description="scale-test model: synthetic MatMul chain, seeded; its quality is not the point",
        source=Source(framework="onnx", recipe="benchmarks/large_model.py"),
        inputs=(TensorSpec(name="x", **spec),),  # type: ignore[arg-type]
        outputs=(TensorSpec(name="y", **spec),),  # type: ignore[arg-type]
        artifacts=(
            ArtifactFile(
                kind="onnx",
                file="model.onnx",
                sha256=hashlib.sha256(graph).hexdigest(),
                bytes=len(graph),
                precision="fp32",
                target={"runtime": "onnxruntime", "opset": 17},
                external=tuple(listed),
            ),
        ),
    )
    write_manifest(folder, manifest)


def child(code: str, *args: str, env: dict[str, str] | None = None) -> dict[str, float]:
    command = [sys.executable, "-c", code, *args]
    out = subprocess.run(command, capture_output=True, text=True, cwd=REPO, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=300, help="megabytes of fp32 weights")
    parser.add_argument("--shard-mb", type=int, default=64, help="largest shard, MiB")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scale-test", type=Path, default=None, help="the scale-test artifact folder")
    parser.add_argument("--compile", action="store_true", help="with --scale-test: compile it first, measured")
    args = parser.parse_args()
    if args.scale_test is not None:
        scale_test(args.scale_test, compile_first=args.compile, repeats=args.repeats)
        return
    with tempfile.TemporaryDirectory(prefix="aiaas-large-") as tmp:
        root = Path(tmp)
        model = synthetic_model(args.mb)
        single = root / "single.onnx"
        single.write_bytes(model)
        digest = hashlib.sha256(model).hexdigest()
        folder = root / "large-synthetic" / "1"
        write_artifact(model, folder, args.shard_mb)
        weights = sum(p.stat().st_size for p in folder.glob("model.onnx.data-*"))
        shards = len(list(folder.glob("model.onnx.data-*")))
        del model
        naive_code, mapped_code = (code.replace("__WIDTH__", str(WIDTH)) for code in (NAIVE, MAPPED))
        child(naive_code, str(single), digest), child(mapped_code, str(folder))  # warm the page cache, untimed
        rows: dict[str, list[dict[str, float]]] = {"baseline": [], "naive": [], "mapped": [], "mapped+prepack": []}
        prepack = {**os.environ, "AIAAS_MAPPED_PREPACK": "1"}
        for _ in range(args.repeats):  # interleaved, so machine noise hits both paths alike
            rows["baseline"].append(child(BASELINE))
            rows["naive"].append(child(naive_code, str(single), digest))
            rows["mapped"].append(child(mapped_code, str(folder)))
            rows["mapped+prepack"].append(child(mapped_code, str(folder), env=prepack))
    baseline = statistics.median(r["VmHWM"] for r in rows["baseline"])
    print(f"weights: {weights / 1e6:.1f} MB in {shards} shards; runtime baseline peak {baseline / 1e6:.1f} MB")
    head = f"{'path':14} {'load s':>8} {'peak MB':>9} {'peak-baseline':>14} {'x weights':>10} {'anon MB':>8}"
    print(head + f" {'file MB':>8} {'run b1 ms':>10} {'run b32 ms':>11}")
    for name in ("naive", "mapped", "mapped+prepack"):
        r = rows[name]
        peak = statistics.median(x["VmHWM"] for x in r)
        load_s = statistics.median(x["load_s"] for x in r)
        anon = statistics.median(x["RssAnon"] for x in r)
        file = statistics.median(x["RssFile"] for x in r)
        print(
            f"{name:14} {load_s:8.2f} {peak / 1e6:9.1f} {(peak - baseline) / 1e6:14.1f} "
            f"{(peak - baseline) / weights:10.2f} {anon / 1e6:8.1f} {file / 1e6:8.1f} "
            f"{statistics.median(x['run1_ms'] for x in r):10.2f} {statistics.median(x['run32_ms'] for x in r):11.2f}"
        )
    naive = statistics.median(x["load_s"] for x in rows["naive"])
    mapped = statistics.median(x["load_s"] for x in rows["mapped"])
    peak = statistics.median(x["VmHWM"] for x in rows["mapped"])
    print(f"mapped/naive load time {mapped / naive:.2f}x; target peak <= 1.15 x weights + baseline: ", end="")
    print("met" if peak <= 1.15 * weights + baseline else "MISSED")


if __name__ == "__main__":
    main()
