"""`sdk serve` against BentoML on the same ONNX files, on loopback, runs interleaved (issue #20, items 2 and 3).

    benchmarks/setup_bentoml.sh            # once: BentoML in its own venv, .venvs/bentoml (never in .venv)
    python benchmarks/bentoml_compare.py [--models digits minilm] [--clients 1 8 32] [--repeats 4] [--duration 4]
           [--minilm DIR] [--bento-padding longest|128] [--engine onnxruntime|auto] [--skip-bentoml]

Both servers run in their own process trees; BentoML is started with ``bentoml serve`` on a service file this script
writes, as a BentoML user writes it: ``@bentoml.service`` (one worker), ``@bentoml.api(batchable=True,
max_batch_size=32, max_latency_ms=1000)`` so its adaptive batching forms the batches, ONNX Runtime on the very file
`sdk serve` runs (same session options as every side of benchmarks/serve_throughput.py: spinning off, one inter-op
thread), and for MiniLM the artifact's ``tokenizer.json`` through ``tokenizers`` (truncation 256 as in the file;
``--bento-padding longest``, the default: ``enable_padding()`` pads each batch to its longest text; ``128``: to 128).
Both are sent raw text for MiniLM (one held-out sentence of ``models/minilm_l6`` per request, each worker cycling
through them: the real length distribution), and one real digit (8x8) per request for the CNN, as JSON.

`sdk serve` runs the int8 file (``AIAAS_PRECISION=int8``) on ONNX Runtime (``AIAAS_BACKEND=onnxruntime``; ``--engine
auto`` lets its engine choice pick, e.g. OpenVINO). The load generator is benchmarks/serve_throughput.py's (one
asyncio process, raw HTTP/1.1 keep-alive, one connection per client), in its own process; its CPU is reported as a
share of the machine's cores. Server CPU per request is read from /proc for the whole server process tree (the fair
figure when the generator shares 2 cores with the server). "in-process best": samples/s of tokenize (MiniLM) +
``session.run`` in one process, texts sorted by length and cut into batches of 1/8/16/32, the best batch size, measured
before and after the servers (the better of the two); for MiniLM also two threads each running batches of 8/16/32
at once on one session with one intra-op thread ("2x1/B"), the arrangement `sdk serve` uses by default
(AIAAS_MODEL_RUNS=2), so the baseline is at least as strong as the server's own way of running the model.
Sorting every text first groups lengths as no server can: with C clients a server holds at most C requests, so the
MiniLM rows also give the in-process best "in windows of C": the texts in arrival order cut into windows of C, each
window sorted by length and cut into batches (same batch sizes and arrangements; no batch spans two windows). That
is the best any batching can do with C requests in flight; the gap between the two baselines is the price of not
seeing the future, not of the server.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve()
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE.parent))
import serve_throughput as st  # noqa: E402  (the load generator, imported, not copied)

BENTO_VENV = ROOT / ".venvs" / "bentoml"
MINILM_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "aiaas-bench" / "minilm-l6"

SERVICE = '''\
"""Written by benchmarks/bentoml_compare.py: the same ONNX file served the way a BentoML user writes it."""
import os

import bentoml
import numpy as np
import onnxruntime as ort

MODEL, TOKENIZER, PADDING = os.environ["BENCH_MODEL"], os.environ.get("BENCH_TOKENIZER"), os.environ["BENCH_PADDING"]
LOGGING = {"access": {"enabled": os.environ["BENCH_ACCESS_LOG"] == "on"}}


def session() -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return ort.InferenceSession(MODEL, sess_options=options, providers=["CPUExecutionProvider"])


@bentoml.service(workers=1, traffic={"timeout": 60}, logging=LOGGING)
class Digits:
    def __init__(self) -> None:
        self.session = session()

    @bentoml.api(batchable=True, max_batch_size=32, max_latency_ms=1000)
    def predict(self, image: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"image": image.astype(np.float32)})[0]


@bentoml.service(workers=1, traffic={"timeout": 60}, logging=LOGGING)
class MiniLM:
    def __init__(self) -> None:
        from tokenizers import Tokenizer

        self.session = session()
        self.tokenizer = Tokenizer.from_file(TOKENIZER)
        self.tokenizer.enable_truncation(256)
        if PADDING == "longest":
            self.tokenizer.enable_padding(pad_id=0)
        else:
            self.tokenizer.enable_padding(pad_id=0, length=int(PADDING))

    @bentoml.api(batchable=True, max_batch_size=32, max_latency_ms=1000)
    def embed(self, texts: list[str]) -> np.ndarray:
        encoded = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        return self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
'''


# --- the two servers -------------------------------------------------------------------------------------------


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU seconds of ``root`` and every live descendant (BentoML runs an arbiter and its workers)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum(times.get(pid, 0.0) for pid in tree)


def start_bento(
    service: str, workdir: Path, model: Path, tokenizer: Path | None, padding: str, access_log: str, log: Path
) -> Any:
    port = st.free_port()
    env = {**os.environ, "BENCH_MODEL": str(model), "BENCH_PADDING": padding, "BENTOML_DO_NOT_TRACK": "true"}
    env["BENTOML_HOME"] = str(workdir / "bentoml-home")
    env["BENCH_ACCESS_LOG"] = access_log
    if tokenizer is not None:
        env["BENCH_TOKENIZER"] = str(tokenizer)
    command = [str(BENTO_VENV / "bin" / "bentoml"), "serve", f"service:{service}", "--host", "127.0.0.1"]
    command += ["--port", str(port)]
    with log.open("ab") as out:
        process = subprocess.Popen(command, cwd=workdir, stdout=out, stderr=out, env=env, start_new_session=True)
    st.wait_ready(port, process, timeout=180, path="/readyz")
    return port, process


def start_ours(folder: Path, access_log: str, log: Path) -> Any:
    """`sdk serve` as serve_throughput.py starts its ``ours`` (batches of up to 32), with or without its access log."""
    port = st.free_port()
    command = [sys.executable, "-c", "from sdk.cli import main; main()", "serve", "--store", str(folder)]
    command += [
        "--port",
        str(port),
        "--no-builtin",
        "--max-batch-size",
        "32",
        f"--{'' if access_log == 'on' else 'no-'}access-log",
    ]
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=out, env={**os.environ, "AIAAS_INCLUDE_BUILTIN": "0"})
    st.wait_ready(port, process)
    return port, process


def stop(process: subprocess.Popen[bytes]) -> None:
    try:
        if os.getpgid(process.pid) == process.pid:  # bentoml serve: its own session, arbiter and workers together
            os.killpg(process.pid, signal.SIGTERM)
        else:
            process.terminate()
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


# --- inputs and the in-process best ------------------------------------------------------------------------------


def minilm_folder(given: Path | None) -> Path:
    """The MiniLM artifact with an int8 file: ``--minilm``, else one compiled once into the bench cache."""
    folder = given or MINILM_CACHE
    if not (folder / "manifest.json").exists():
        print(f"compiling minilm-l6 (int8) into {folder} once (minutes)...", flush=True)
        sdk = ROOT / ".venv" / "bin" / "sdk"
        subprocess.run([str(sdk), "compile", "minilm-l6", "--out", str(folder), "--precision", "fp32,int8"], check=True)
    return folder


def digit_bodies() -> tuple[bytes, bytes]:
    """One real digit: the OIP JSON body for `sdk serve`, BentoML's JSON body for its ``predict(image)``."""
    image = np.load(ROOT / "models" / "digits_cnn" / "samples" / "digit_7.npy").astype(np.float32)
    return st.json_body({"image": image}), json.dumps({"image": image.tolist()}).encode()


def text_items() -> list[str]:
    """The held-out sentences in serve_throughput's order (same seed), so both servers see the same stream."""
    sys.path.insert(0, str(ROOT))
    from models.minilm_l6.recipe import CALIBRATION_COUNT, sentences

    items = sentences()[CALIBRATION_COUNT:]
    order = np.random.default_rng(0).permutation(len(items))
    return [items[i] for i in order]


def embed_batches(tok: Any, session: Any) -> Callable[[list[str]], None]:
    """Tokenize a batch of texts (padded to its longest) and run MiniLM on it: the in-process best's unit of work."""

    def run(batch: list[str]) -> None:
        encoded = tok.encode_batch(batch)
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        session.run(None, {"input_ids": ids, "attention_mask": mask})

    return run


def _two_runs(ort: Any, file: str, tok: Any, chunks: dict[int, list[list[str]]], seconds: float) -> dict[str, float]:
    """Samples/s of two threads running tokenize + ``session.run`` at once on one session of one intra-op thread
    (``sdk serve``'s default arrangement on 2 cores), batches of 8/16/32 (those in ``chunks``) taken in turn."""
    import threading

    from sdk.runtime.config import RuntimeConfig
    from sdk.runtime.onnx_backend import session_options

    options = session_options(ort, RuntimeConfig.from_env())
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(file, options, ["CPUExecutionProvider"])

    run = embed_batches(tok, session)

    out = {}
    for b in [b for b in (8, 16, 32) if b in chunks]:
        batches = chunks[b]
        for batch in batches[:3]:  # warm-up, not timed
            run(batch)
        counts = [0, 0]
        start = time.perf_counter()
        stop = start + seconds

        def loop(
            worker: int, batches: list[list[str]] = batches, stop: float = stop, counts: list[int] = counts
        ) -> None:
            turn = worker
            while time.perf_counter() < stop:
                batch = batches[turn % len(batches)]
                run(batch)
                counts[worker] += len(batch)
                turn += 2

        threads = [threading.Thread(target=loop, args=(w,)) for w in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        out[f"2x1/{b}"] = sum(counts) / (time.perf_counter() - start)
    return out


def in_process_best(
    model: str, file: str, tokenizer: str, seconds: float, windows: tuple[int, ...] = ()
) -> dict[str, float]:
    """Samples/s by batch size of tokenize + session.run in this process (texts sorted by length: least padding;
    for MiniLM also in windows of each of ``windows`` texts in arrival order, each window sorted)."""
    import onnxruntime as ort

    from sdk.runtime.config import RuntimeConfig
    from sdk.runtime.onnx_backend import session_options

    session = ort.InferenceSession(file, session_options(ort, RuntimeConfig.from_env()), ["CPUExecutionProvider"])
    out: dict[str, float] = {}
    if model == "digits":
        image = np.load(ROOT / "models" / "digits_cnn" / "samples" / "digit_7.npy").astype(np.float32)

        def rows_of(b: int) -> Callable[[], int]:
            return lambda: len(session.run(None, {"image": np.repeat(image, b, axis=0)})[0])

        return _timed({str(b): rows_of(b) for b in (1, 8, 32)}, seconds)
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(tokenizer)
    tok.enable_truncation(256)
    tok.enable_padding(pad_id=0)
    stream = text_items()
    length = {t: len(tok.encode(t).ids) for t in stream}
    run = embed_batches(tok, session)
    # Every text sorted by length (the least padding any batching can reach), then, per window size W, the stream
    # cut into windows of W texts in arrival order, each sorted: all a server with W requests in flight (W clients)
    # can group, so the best it can do on these inputs ("wW:" keys).
    for window in (None, *windows):
        if window is None:
            ordered, sizes, prefix = sorted(stream, key=length.__getitem__), [1, 8, 16, 32], ""
            chunks = {b: [ordered[i : i + b] for i in range(0, len(ordered) - b + 1, b)] for b in sizes}
        else:
            sizes, prefix = [b for b in (1, 8, 16, 32) if b <= window], f"w{window}:"
            chunks = {b: batches_in_windows(stream, length.__getitem__, window, b) for b in sizes}
        calls = {f"{prefix}{b}": _cycle(run, chunks[b]) for b in sizes}
        out.update({f"{prefix}{k}": v for k, v in _two_runs(ort, file, tok, chunks, seconds).items()})
        out.update(_timed(calls, seconds))
    return out


def batches_in_windows(stream: list[str], length: Callable[[str], int], window: int, size: int) -> list[list[str]]:
    """``stream`` cut into windows of ``window`` texts in arrival order, each sorted by ``length`` and cut into
    batches of ``size``: a batch never spans two windows, and a window's last batch may be short, as a server's
    would be with ``window`` requests in flight."""
    out = []
    for start in range(0, len(stream), window):
        texts = sorted(stream[start : start + window], key=length)
        out += [texts[i : i + size] for i in range(0, len(texts), size)]
    return out


def _cycle(run: Callable[[list[str]], None], batches: list[list[str]]) -> Callable[[], int]:
    """A call that runs the next of ``batches`` (in turn) and returns its row count."""
    turn = [0]

    def call() -> int:
        batch = batches[turn[0] % len(batches)]
        turn[0] += 1
        run(batch)
        return len(batch)

    return call


def _timed(calls: dict[str, Callable[[], int]], seconds: float) -> dict[str, float]:
    """Samples/s of each call (which returns the rows it ran), after 3 untimed runs."""
    out = {}
    for key, fn in calls.items():
        for _ in range(3):
            fn()
        rows, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            rows += fn()
        out[key] = rows / (time.perf_counter() - start)
    return out


def child(*args: str) -> Any:
    done = subprocess.run([sys.executable, str(HERE), *args], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- orchestration -----------------------------------------------------------------------------------------------


def measure(port: int, process: Any, path: str, bodies: Path, clients: int, args: argparse.Namespace) -> dict[str, Any]:
    """One run of the load generator (its own process) against one server; the server tree's CPU around it."""
    cpu = tree_cpu_seconds(process.pid)
    headers = json.dumps({"content-type": "application/json"})
    sent = [str(port), path, str(bodies), str(clients), str(args.duration), str(args.max_requests), "raw", headers]
    out: dict[str, Any] = st.child("_load", *sent)
    out["server_cpu_ms_per_request"] = (tree_cpu_seconds(process.pid) - cpu) * 1000 / max(1, out["requests"])
    # The generator's CPU as a share of the machine's cores while it ran (its own process time over the wall time).
    out["generator_share"] = out["client_cpu_ms_per_request"] * out["rps"] / 1000 / (os.cpu_count() or 1)
    return out


def write_bodies(bodies: list[bytes], folder: Path, name: str) -> Path:
    file = folder / f"{name}.jsonl"
    file.write_bytes(b"\n".join(bodies) + b"\n")
    return file


def compare(model: str, args: argparse.Namespace, workdir: Path, log: Path) -> list[list[str]]:
    from sdk.artifacts import read_manifest

    if model == "digits":
        folder = ROOT / "sdk" / "_embedded" / "digits-cnn" / "1"
        os.environ.pop("AIAAS_PRECISION", None)
        tokenizer = None
        ours_body, bento_body = digit_bodies()
        ours_file, bento_file = write_bodies([ours_body], workdir, "ours"), write_bodies([bento_body], workdir, "bento")
        ours_path, bento_path, service = "/v2/models/digits-cnn/infer", "/predict", "Digits"
    else:
        folder = minilm_folder(args.minilm)
        os.environ["AIAAS_PRECISION"] = "int8"
        tokenizer = folder / "tokenizer.json"
        ours_bodies, tokens = st.text_bodies("sentences")
        bento_bodies = [json.dumps({"texts": [t]}).encode() for t in text_items()]
        ours_file, bento_file = write_bodies(ours_bodies, workdir, "ours"), write_bodies(bento_bodies, workdir, "bento")
        ours_path, bento_path, service = "/v2/models/minilm-l6/infer", "/embed", "MiniLM"
        q = np.percentile(tokens, [10, 50, 90, 100]).astype(int).tolist()
        print(f"minilm: {len(tokens)} held-out sentences, tokens p10/p50/p90/max {q}", flush=True)
    if args.engine != "auto":
        os.environ["AIAAS_BACKEND"] = args.engine
    model_file = folder / read_manifest(folder).artifact(precision=os.environ.get("AIAAS_PRECISION")).file
    windows = ",".join(str(c) for c in args.clients) if model == "minilm" else ""
    best = child("_inproc", model, str(model_file), str(tokenizer or ""), str(args.inproc_seconds), windows)
    shown = json.dumps({k: round(v) for k, v in best.items()})
    print(f"{model}: file {model_file.name}; in-process samples/s by batch {shown}", flush=True)
    servers = {}
    if not args.skip_bentoml:
        servers["bento"] = start_bento(
            service, workdir, model_file, tokenizer, args.bento_padding, args.access_log, log
        )
    servers["ours"] = start_ours(folder, args.access_log, log)
    sends = {"bento": (bento_path, bento_file), "ours": (ours_path, ours_file)}
    results: dict[tuple[str, int], list[dict[str, Any]]] = {}
    try:
        for clients in args.clients:
            for kind, (port, _) in servers.items():  # BentoML's adaptive batching learns: let both settle
                path, bodies = sends[kind]
                st.child("_load", str(port), path, str(bodies), str(clients), str(args.warmup), "1000000", "raw")
            for repeat in range(args.repeats):
                for kind in [k for k in (("ours", "bento") if repeat % 2 == 0 else ("bento", "ours")) if k in servers]:
                    port, process = servers[kind]
                    path, bodies = sends[kind]
                    results.setdefault((kind, clients), []).append(measure(port, process, path, bodies, clients, args))
    finally:
        for _, process in servers.values():
            stop(process)
    # Measured again after the servers (the machine's load moves): the better of the two is the in-process best.
    again = child("_inproc", model, str(model_file), str(tokenizer or ""), str(args.inproc_seconds), windows)
    shown = json.dumps({k: round(v) for k, v in again.items()})
    print(f"{model}: in-process samples/s by batch, measured again after the servers {shown}", flush=True)
    measured = {k: max(best[k], again[k]) for k in best}
    top = max(v for k, v in measured.items() if ":" not in k)
    rows = []
    for clients in args.clients:
        ours = results[("ours", clients)]
        bento = results.get(("bento", clients)) or [dict.fromkeys(ours[0], float("nan")) for _ in ours]  # skipped

        def med(runs: list[dict[str, Any]], key: str) -> float:
            return statistics.median(r[key] for r in runs)

        ratios = [o["rps"] / b["rps"] for o, b in zip(ours, bento)]
        in_window = [v for k, v in measured.items() if k.startswith(f"w{clients}:")]
        window_ratio = f"{med(ours, 'rps') / max(in_window):.3f}" if in_window else "-"
        rows.append(
            [
                model, str(clients), f"{med(bento, 'rps'):.1f}", f"{med(ours, 'rps'):.1f}",
                f"{statistics.median(ratios):.2f}x ({' '.join(f'{r:.2f}' for r in ratios)})",
                f"{med(ours, 'rps') / top:.3f}", window_ratio,
                f"{med(bento, 'server_cpu_ms_per_request'):.2f}", f"{med(ours, 'server_cpu_ms_per_request'):.2f}",
                f"{med(bento, 'p50_ms'):.1f} / {med(ours, 'p50_ms'):.1f}",
                f"{med(bento, 'generator_share'):.0%} / {med(ours, 'generator_share'):.0%}",
                f"{sum(r['errors'] for r in bento)} / {sum(r['errors'] for r in ours)}",
            ]
        )  # fmt: skip
    return rows


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_inproc":
        windows = tuple(int(w) for w in sys.argv[6].split(",") if w) if len(sys.argv) > 6 else ()
        print(json.dumps(in_process_best(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]), windows)))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", choices=("digits", "minilm"), default=["digits", "minilm"])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per measurement")
    parser.add_argument("--max-requests", type=int, default=50_000)
    parser.add_argument("--inproc-seconds", type=float, default=2.0, help="seconds per in-process batch size")
    parser.add_argument("--minilm", type=Path, help="MiniLM artifact folder with an int8 file (else compiled once)")
    parser.add_argument("--bento-padding", default="longest", help="BentoML's tokenizer: longest (per batch) or N")
    parser.add_argument("--access-log", choices=("on", "off"), default="on", help="both servers' per-request log line")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds per server and client count")
    parser.add_argument("--engine", default="onnxruntime", help="sdk serve's AIAAS_BACKEND (auto: its choice)")
    parser.add_argument(
        "--skip-bentoml", action="store_true", help="measure sdk serve against the in-process best only (no BentoML)"
    )
    args = parser.parse_args()
    version = "skipped"
    if not args.skip_bentoml:
        if not (BENTO_VENV / "bin" / "bentoml").exists():
            sys.exit(f"no BentoML at {BENTO_VENV}: run benchmarks/setup_bentoml.sh first (or --skip-bentoml)")
        version = subprocess.run(
            [str(BENTO_VENV / "bin" / "python"), "-c", "import bentoml; print(bentoml.__version__)"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    workdir = Path(tempfile.mkdtemp(prefix="bento-compare-"))
    (workdir / "service.py").write_text(SERVICE)
    log = workdir / "servers.log"
    print(f"BentoML {version}; CPU {st.cpu_flags()}; sdk serve engine {args.engine}; BentoML padding "
          f"{args.bento_padding}, access logs {args.access_log} (both); logs: {log}", flush=True)  # fmt: skip
    rows = []
    for model in args.models:
        rows += compare(model, args, workdir, log)
    print(f"\n{args.repeats} interleaved repeats of {args.duration:.0f} s, medians; load: `uptime` {os.getloadavg()}")
    print("| model | clients | BentoML req/s | sdk serve req/s | ratio (per repeat) | sdk serve / in-process best "
          "| sdk serve / in-process best, windows of `clients` texts | server CPU ms/req BentoML | sdk serve "
          "| p50 ms BentoML / ours | generator share of cores B / ours | errors B / ours |")  # fmt: skip
    print("|---" * 12 + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
