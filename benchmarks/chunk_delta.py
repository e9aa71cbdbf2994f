"""Bytes an update moves to the store and to the device: content-defined chunks vs the file-level path (#19 item 4).

Three updates of MiniLM-L6 (the fp32 artifact `sdk compile minilm-l6 --precision fp32,int8` writes; compile it once
and pass its folder):

  (a) head     MiniLM + a classifier head (384 -> 10), replaced by a new head (384 -> 12, new weights)
  (b) layers   the last 2 of 6 encoder layers fine-tuned: every initializer the last two layers use is perturbed
               (w + N(0, 1e-3 std(w))) and the model re-saved: every byte of those tensors changes, as in a fine-tune
  (c) requant  the fp32 model replaced by its int8 build (everything changes, as expected)

For each update and each path (file: no chunk index, as before; chunks: with ``chunks.json``), in the same run: a fresh
moto server, the old version deployed (``Uploader``) and pulled (``sdk.deploy.pull``) into a fresh local store, then
the new version deployed and pulled while bytes are counted twice: at the S3 API, by a TCP relay between boto3 and
moto (every byte of every request and answer, headers and listings included), and as body bytes (PUT bodies sent,
GetObject bodies received). Shares are of the new version's bytes.

    python benchmarks/chunk_delta.py [--model /tmp/chunks-work/minilm] [--work /tmp/chunks-work/bench] [--repeats 3]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import onnx
from onnx import helper, numpy_helper

from sdk.artifacts import LocalStore, TensorSpec, describe_file, read_manifest, write_manifest
from sdk.artifacts.chunks import add_chunk_index
from sdk.artifacts.cpu import this_cpu
from sdk.artifacts.s3 import S3Store
from sdk.demo.stack import MOTO_CREDENTIALS, moto_server
from sdk.deploy import pull
from sdk.deploy.upload import Uploader

BUCKET = "bench-models"
NAME = "minilm-l6"


# --- the three updates ------------------------------------------------------------------------------------------


def _folder(model: Path, out: Path, version: str, artifact: str, proto: onnx.ModelProto | None, head: int = 0) -> Path:
    """An artifact folder holding one model file (+ the tokenizer) from the compiled MiniLM folder."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    manifest = read_manifest(model)
    chosen = next(a for a in manifest.artifacts if a.file == artifact)
    if proto is None:
        shutil.copyfile(model / artifact, out / "model.onnx")
    else:
        onnx.save(proto, str(out / "model.onnx"))
    for f in manifest.files:
        shutil.copyfile(model / f.file, out / f.file)
    sha256, size = describe_file(out / "model.onnx")
    outputs = manifest.outputs
    if head:
        outputs = (TensorSpec(name="logits", dtype="float32", shape=(-1, head)),)
    entry = dataclasses.replace(chosen, file="model.onnx", sha256=sha256, bytes=size, precision="fp32")
    if artifact != "model.onnx":
        entry = dataclasses.replace(entry, precision=chosen.precision)
    updated = dataclasses.replace(
        manifest, version=version, artifacts=(entry,), outputs=outputs, processors=None if head else manifest.processors
    )
    write_manifest(out, updated)
    return out


def _with_head(proto: onnx.ModelProto, classes: int, seed: int) -> onnx.ModelProto:
    model = onnx.ModelProto()
    model.CopyFrom(proto)
    graph = model.graph
    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array(rng.normal(0, 0.05, (384, classes)).astype(np.float32), "head.weight")
    b = numpy_helper.from_array(np.zeros(classes, np.float32), "head.bias")
    graph.initializer.extend([w, b])
    feature = graph.output[0].name
    graph.node.extend(
        [
            helper.make_node("MatMul", [feature, "head.weight"], ["head.mm"], name="head_matmul"),
            helper.make_node("Add", ["head.mm", "head.bias"], ["logits"], name="head_add"),
        ]
    )
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, ["batch", classes]))
    return model


def _last_layers_tuned(proto: onnx.ModelProto, seed: int) -> tuple[onnx.ModelProto, int]:
    """Perturb every initializer used only by the nodes after layer 3 (the last 2 of 6 layers); returns the bytes."""
    model = onnx.ModelProto()
    model.CopyFrom(proto)
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    last3 = max(k for k, n in enumerate(graph.node) if any("layer.3." in i for i in n.input))
    early = {i for n in graph.node[: last3 + 1] for i in n.input}
    late = {i for n in graph.node[last3 + 1 :] for i in n.input if i in inits and i not in early}
    rng = np.random.default_rng(seed)
    changed = 0
    for name in sorted(late):
        w = numpy_helper.to_array(inits[name])
        if w.dtype != np.float32 or w.size < 2:
            continue
        tuned = (w + rng.normal(0, 1e-3 * (float(w.std()) or 1.0), w.shape)).astype(np.float32)
        inits[name].CopyFrom(numpy_helper.from_array(tuned, name))
        changed += tuned.nbytes
    return model, changed


def prepare(model: Path, work: Path) -> dict[str, tuple[Path, Path, str]]:
    proto = onnx.load(str(model / "model.onnx"))
    base = _folder(model, work / "base", "1", "model.onnx", None)
    tuned, tuned_bytes = _last_layers_tuned(proto, seed=1)
    return {
        "head": (
            _folder(model, work / "head-1", "1", "model.onnx", _with_head(proto, 10, 1), head=10),
            _folder(model, work / "head-2", "2", "model.onnx", _with_head(proto, 12, 2), head=12),
            "classifier head 384x10 -> 384x12, new weights",
        ),
        "layers": (
            base,
            _folder(model, work / "layers-2", "2", "model.onnx", tuned),
            f"layers 5-6 tuned: {tuned_bytes / 2**20:.1f} MiB of initializers changed",
        ),
        "requant": (base, _folder(model, work / "requant-2", "2", "model.int8.onnx", None), "fp32 -> int8"),
    }


# --- counting at the S3 API -----------------------------------------------------------------------------------------


class CountingRelay:
    """A TCP relay in front of moto: counts every byte each way (requests up, answers down)."""

    def __init__(self, target: str) -> None:
        host, port = target.removeprefix("http://").split(":")
        self.target = (host, int(port))
        self.up = 0
        self.down = 0
        self._lock = threading.Lock()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def reset(self) -> None:
        with self._lock:
            self.up = self.down = 0

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            threading.Thread(target=self._pipe, args=(client, upstream, "up"), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, "down"), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, way: str) -> None:
        try:
            while data := source.recv(1 << 16):
                with self._lock:
                    setattr(self, way, getattr(self, way) + len(data))
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


class Bodies:
    """Body bytes per direction, from botocore's hooks on the same client (our own view, for comparison)."""

    def __init__(self, client: Any) -> None:
        self.counts: Counter[str] = Counter()
        client.meta.events.register("before-send.s3.PutObject", self._send)
        client.meta.events.register("before-send.s3.UploadPart", self._send)
        client.meta.events.register("after-call.s3.GetObject", self._receive)

    def _send(self, request: Any, **_: Any) -> None:
        size = request.headers.get("x-amz-decoded-content-length") or request.headers.get("Content-Length") or 0
        self.counts["sent"] += int(size)

    def _receive(self, http_response: Any, **_: Any) -> None:
        self.counts["received"] += int(http_response.headers.get("content-length", 0))


# --- one update, one path -------------------------------------------------------------------------------------------


def run_update(moto: str, old: Path, new: Path, chunks: bool, scratch: Path) -> dict[str, float]:
    import httpx

    httpx.post(f"{moto}/moto-api/reset", timeout=30).raise_for_status()
    relay = CountingRelay(moto)
    s3 = boto3.client("s3", endpoint_url=relay.url, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    bodies = Bodies(s3)
    folders = []
    for folder in (old, new):
        copy = scratch / f"{folder.name}-{'chunks' if chunks else 'file'}"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(folder, copy)
        if chunks:
            add_chunk_index(copy)
        folders.append(copy)
    uploader = Uploader(s3, BUCKET, "models/")
    store = S3Store(f"s3://{BUCKET}/models/", client=s3)
    local = LocalStore(scratch / f"device-{'chunks' if chunks else 'file'}")
    shutil.rmtree(local.root, ignore_errors=True)
    uploader.execute(folders[0], uploader.plan(folders[0], read_manifest(folders[0])))
    pull(f"{NAME}@1", source=store, local=local)

    relay.reset()
    bodies.counts.clear()
    started = time.perf_counter()
    manifest = read_manifest(folders[1])
    uploader.execute(folders[1], uploader.plan(folders[1], manifest))
    deploy_s = time.perf_counter() - started
    up, sent = relay.up, bodies.counts["sent"]
    relay.reset()
    started = time.perf_counter()
    result = pull(f"{NAME}@2", source=store, local=local)
    pull_s = time.perf_counter() - started
    assert (result.path / "model.onnx").read_bytes() == (new / "model.onnx").read_bytes()
    size = sum(b for _, _, b in manifest.all_files())
    relay.server.close()
    return {
        "size": size,
        "store_wire": up,
        "store_body": sent,
        "device_wire": relay.down,
        "device_body": bodies.counts["received"],
        "deploy_s": deploy_s,
        "pull_s": pull_s,
    }


def _share(n: float, size: float) -> str:
    return f"{n / 2**20:.2f} MiB ({100 * n / size:.2f}%)"


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=Path("/tmp/chunks-work/minilm"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/chunks-work/bench"))
    parser.add_argument("--repeats", type=int, default=1, help="interleaved repeats (file, chunks, file, ...)")
    args = parser.parse_args()
    for key, value in MOTO_CREDENTIALS.items():
        os.environ.setdefault(key, value)
    cpu = this_cpu()
    print(f"cpu: {cpu.model} ({cpu.record().isa}); load: {_uptime()}")
    updates = prepare(args.model, args.work)
    started = time.perf_counter()
    add_chunk_index(shutil.copytree(updates["layers"][0], args.work / "timing", dirs_exist_ok=True))
    print(f"indexing the fp32 folder (cut + sha256 of 88 MiB): {time.perf_counter() - started:.2f} s")
    scratch = Path(tempfile.mkdtemp(prefix="chunk-delta-", dir=args.work))
    rows = []
    with moto_server(args.work / "moto.log") as moto:
        for _ in range(args.repeats):
            for kind, (old, new, what) in updates.items():
                for chunks in (False, True):  # the baseline, then ours, per update and repeat
                    r = run_update(moto, old, new, chunks, scratch)
                    rows.append((kind, what, "chunks" if chunks else "file", r))
    print(f"load after: {_uptime()}")
    print()
    print("| update | path | new version | to store (S3 API) | to device (S3 API) | bodies up / down |")
    print("|---|---|---|---|---|---|")
    for kind, what, path, r in rows[: 2 * len(updates)]:  # bytes are the same in every repeat
        size = r["size"]
        bodies = f"{100 * r['store_body'] / size:.2f}% / {100 * r['device_body'] / size:.2f}%"
        print(
            f"| {kind}: {what} | {path} | {size / 2**20:.1f} MiB | {_share(r['store_wire'], size)} | "
            f"{_share(r['device_wire'], size)} | {bodies} |"
        )
    print()
    for kind in updates:
        file = [r for k, _, p, r in rows if k == kind and p == "file"]
        ours = [r for k, _, p, r in rows if k == kind and p == "chunks"]
        deploy = statistics.median(o["deploy_s"] / f["deploy_s"] for f, o in zip(file, ours, strict=True))
        pulled = statistics.median(o["pull_s"] / f["pull_s"] for f, o in zip(file, ours, strict=True))
        print(
            f"{kind}: chunks/file bytes to store {ours[0]['store_wire'] / file[0]['store_wire']:.3f}x, "
            f"to device {ours[0]['device_wire'] / file[0]['device_wire']:.3f}x; time (median of {len(file)}): "
            f"deploy {deploy:.2f}x, pull {pulled:.2f}x the file path's"
        )
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
