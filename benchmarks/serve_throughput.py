"""`sdk serve` throughput and latency against two baselines, measured in one run on loopback.

Every server runs in its own process, the load generator in another (bounded by request count and time; loopback
only). Servers measured side by side, runs interleaved (server A, B, C, A, B, C, ...) so that machine noise hits all:

  ours           `sdk serve`, dynamic batching on (max batch 32, queue delay 0), metrics on (the default)
  ours-nobatch   `sdk serve --max-batch-size 1`
  ours-nometrics `sdk serve` as ``ours`` with AIAAS_METRICS=false (``--metrics``: only ours against it)
  ours-fixed     `sdk serve` as ``ours`` with AIAAS_ADAPTIVE_BATCH=false: batches of up to 32, not sized (``--fixed``)
  naive          a FastAPI server as users hand-write it: pydantic JSON, one session.run per request, no batching
  (a) in-process ONNX Runtime at its best batch size (samples/s; no HTTP at all), also in its own process

Every side uses the same session options (spinning off, FACTS.md). The default generator is a lean asyncio HTTP/1.1
keep-alive client (one connection per worker; ~0.1 ms of client CPU per request); ``--client httpx`` uses one
httpx.AsyncClient per worker instead (~1 ms per request, FACTS.md). The generator shares the machine's cores with the
server: its CPU time per request is reported beside the results. With ``--stacks`` the ASGI stacks for `sdk serve`
are compared too (uvicorn+httptools+uvloop raw ASGI, uvicorn+h11+asyncio, Starlette router on the former).

    python benchmarks/serve_throughput.py [--model digits-cnn] [--artifact DIR] [--seq 128]
           [--clients 1 8 32] [--duration 4] [--repeats 2] [--client raw|httpx] [--stacks] [--metrics]

``--metrics`` measures what GET /metrics costs: `sdk serve` with metrics on against the same server with them off,
runs interleaved, and prints each repeat's paired ratio (on/off requests per second) and the median, beside the
server CPU per request of each. On a machine shared with other work those ratios swing by tens of percent, so it also
times the metrics' own work per request in-process (the request's count and latency, its queue and compute times, a
batch of one: the dearest case) and prints it as a share of the server CPU per request measured with metrics off; and
runs the serving core itself (``Service.handle_async`` with its batcher, 32 concurrent requests, no sockets) with
metrics on and off in one process, alternating short rounds, and prints the CPU per request of each.

``--texts sentences|mixed`` measures length-aware batching (#20): the model (MiniLM) is sent raw text, one text per
request, each worker cycling through the held-out sentences of ``models/minilm_l6`` (``mixed``: with the recipe's
``long_texts()`` among them in their own proportion, cut at 256 tokens), against the same server with
AIAAS_LENGTH_BUCKETS=false (each batch padded to its longest text), runs interleaved; it prints each repeat's paired
ratio and the median, the server CPU per request, and the CPU flags. ``--precision int8`` serves the int8 file.

What processors cost `sdk serve` (raw text and PNGs vs the same items as tensors) is measured with this load
generator by ``benchmarks/processors.py --serve``.
"""

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve()
CONTENT_LENGTH = re.compile(rb"content-length:\s*(\d+)", re.IGNORECASE)


# --- request body ------------------------------------------------------------------------------------------------


def example_inputs(folder: Path, seq: int) -> dict[str, np.ndarray]:
    """One request's inputs for the artifact: a real digit for the CNN, ids/mask of length ``seq`` for a text model."""
    from sdk.artifacts import read_manifest

    manifest = read_manifest(folder)
    if manifest.name == "digits-cnn":
        return {"image": np.load(ROOT / "models" / "digits_cnn" / "samples" / "digit_7.npy")}
    out = {}
    for spec in manifest.inputs:
        shape = [1 if i == 0 else (seq if d == -1 else d) for i, d in enumerate(spec.shape)]
        fill = 1 if "mask" in spec.name else 7
        out[spec.name] = np.full(shape, fill, dtype=spec.dtype)
    return out


def json_body(inputs: dict[str, np.ndarray]) -> bytes:
    from sdk.protocol.codec import encode_request

    return encode_request(inputs, binary=False)[0]


# --- servers -----------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(
    port: int, process: subprocess.Popen[bytes], timeout: float = 120, path: str = "/v2/health/ready"
) -> None:
    """Until ``GET path`` on the port answers 200 (``RuntimeError`` if the server exits or the time runs out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                if b" 200 " in sock.recv(1024):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not become ready")


def start(kind: str, folder: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "AIAAS_INCLUDE_BUILTIN": "0"}
    if kind == "ours-nometrics":
        env["AIAAS_METRICS"] = "false"
    if kind == "ours-padlongest":
        env["AIAAS_LENGTH_BUCKETS"] = "false"
    if kind == "ours-fixed":
        env["AIAAS_ADAPTIVE_BATCH"] = "false"
    if kind in ("ours", "ours-nobatch", "ours-nometrics", "ours-padlongest", "ours-fixed"):
        batch = "1" if kind == "ours-nobatch" else "32"
        code = "from sdk.cli import main; main()"
        command = [sys.executable, "-c", code, "serve", "--store", str(folder), "--port", str(port), "--no-builtin"]
        command += ["--max-batch-size", batch]
    else:  # naive, or an ASGI stack variant of ours
        command = [sys.executable, str(HERE), "_server", kind, str(folder), str(port)]
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=out, env=env)
    wait_ready(port, process)
    return process


def naive_app(folder: Path) -> Any:
    """What a user writes by hand: FastAPI + pydantic, JSON, one session.run per request, nothing else."""
    import onnxruntime as ort
    from fastapi import FastAPI
    from pydantic import BaseModel

    from sdk.artifacts import read_manifest
    from sdk.runtime.config import RuntimeConfig
    from sdk.runtime.onnx_backend import session_options

    manifest = read_manifest(folder)
    artifact = manifest.artifact()
    session = ort.InferenceSession(
        str(folder / artifact.file),
        sess_options=session_options(ort, RuntimeConfig.from_env()),
        providers=["CPUExecutionProvider"],
    )
    types = {"FP32": np.float32, "INT64": np.int64, "INT32": np.int32}

    class Tensor(BaseModel):
        name: str
        shape: list[int]
        datatype: str
        data: list[Any]

    class InferRequest(BaseModel):
        inputs: list[Tensor]

    app = FastAPI()

    @app.get("/v2/health/ready")
    def ready() -> dict[str, bool]:
        return {"ready": True}

    @app.post("/v2/models/{name}/infer")
    def infer(name: str, request: InferRequest) -> dict[str, Any]:
        feeds = {t.name: np.array(t.data, dtype=types[t.datatype]).reshape(t.shape) for t in request.inputs}
        results = session.run(None, feeds)
        outputs = [
            {"name": o.name, "datatype": "FP32", "shape": list(r.shape), "data": r.ravel().tolist()}
            for o, r in zip(session.get_outputs(), results)
        ]
        return {"model_name": name, "outputs": outputs}

    return app


def stack_app(kind: str, folder: Path) -> tuple[Any, dict[str, Any]]:
    """`sdk serve`'s service behind another ASGI stack, for the stack comparison."""
    from sdk.serving.bootstrap import build_service
    from sdk.serving.http import OipApp

    service = build_service(folder, include_builtin=False)
    if kind == "stack-h11":
        return OipApp(service), {"http": "h11", "loop": "asyncio"}
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def endpoint(request: Request) -> Response:
        body = await request.body()
        status, headers, payload = await service.handle_async(
            request.method, request.url.path, dict(request.headers), body
        )
        media = headers.pop("content-type", "application/json")
        return Response(payload, status_code=status, headers=headers, media_type=media)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        yield
        if service.batcher is not None:
            await service.batcher.close()

    return Starlette(routes=[Route("/{path:path}", endpoint, methods=["GET", "POST"])], lifespan=lifespan), {}


def run_server(kind: str, folder: Path, port: int) -> None:
    import uvicorn

    if kind == "naive":
        uvicorn.run(naive_app(folder), host="127.0.0.1", port=port, log_level="warning")
        return
    app, options = stack_app(kind, folder)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, **options)


# --- load generator --------------------------------------------------------------------------------------------


async def raw_worker(
    port: int, requests: list[bytes], stop: float, budget: list[int], lat: list[float], errs: list[int], first: int = 0
) -> None:
    """One keep-alive connection sending ``requests`` in turn (from ``first``), one at a time."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    turn = first
    try:
        while budget[0] > 0 and time.perf_counter() < stop:
            budget[0] -= 1
            start = time.perf_counter()
            writer.write(requests[turn % len(requests)])
            turn += 1
            head = await reader.readuntil(b"\r\n\r\n")
            found = CONTENT_LENGTH.search(head)
            await reader.readexactly(int(found.group(1)) if found else 0)
            lat.append(time.perf_counter() - start)
            if head[9:12] != b"200":
                errs.append(int(head[9:12]))
    finally:
        writer.close()


async def httpx_worker(
    port: int,
    body: bytes,
    path: str,
    stop: float,
    budget: list[int],
    lat: list[float],
    errs: list[int],
    headers: dict[str, str],
) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        while budget[0] > 0 and time.perf_counter() < stop:
            budget[0] -= 1
            start = time.perf_counter()
            response = await client.post(path, content=body, headers=headers)
            lat.append(time.perf_counter() - start)
            if response.status_code != 200:
                errs.append(response.status_code)


def load(
    port: int,
    path: str,
    body: bytes | list[bytes],
    clients: int,
    duration: float,
    max_requests: int,
    client: str,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Closed-loop load: ``clients`` workers, each one request at a time, until ``duration`` or ``max_requests``.
    ``headers``: the request's own (binary tensors name their JSON header's length); default JSON. A list of bodies
    is sent in turn by each worker, each starting at its own place (raw client only)."""
    fields = headers or {"content-type": "application/json"}
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items())
    bodies = body if isinstance(body, list) else [body]
    requests = [f"{head}Content-Length: {len(b)}\r\n\r\n".encode() + b for b in bodies]
    body = bodies[0]
    step = max(1, len(requests) // max(1, clients))

    async def main() -> dict[str, Any]:
        warm: list[float] = []
        await asyncio.gather(
            *(raw_worker(port, requests, time.perf_counter() + 0.5, [50], warm, [], i * step) for i in range(clients))
        )
        lat: list[float] = []
        errs: list[int] = []
        budget = [max_requests]
        cpu, wall = time.process_time(), time.perf_counter()
        stop = wall + duration
        if client == "raw":
            workers = [raw_worker(port, requests, stop, budget, lat, errs, i * step) for i in range(clients)]
        else:
            workers = [httpx_worker(port, body, path, stop, budget, lat, errs, fields) for _ in range(clients)]
        await asyncio.gather(*workers)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        ms = sorted(x * 1000 for x in lat)
        return {
            "requests": len(ms),
            "errors": len(errs),
            "rps": len(ms) / wall,
            "p50_ms": ms[len(ms) // 2] if ms else None,
            "p99_ms": ms[min(len(ms) - 1, int(len(ms) * 0.99))] if ms else None,
            "client_cpu_ms_per_request": cpu * 1000 / max(1, len(ms)),
        }

    try:
        import uvloop

        return uvloop.run(main())
    except ImportError:
        return asyncio.run(main())


def in_process(folder: Path, seq: int, batches: list[int], duration: float) -> dict[str, float]:
    """Samples per second of a bare session.run at each batch size (the same session options as the servers)."""
    import onnxruntime as ort

    from sdk.artifacts import read_manifest
    from sdk.runtime.config import RuntimeConfig
    from sdk.runtime.onnx_backend import session_options

    artifact = read_manifest(folder).artifact(precision=os.environ.get("AIAAS_PRECISION"))  # the file served
    session = ort.InferenceSession(
        str(folder / artifact.file),
        sess_options=session_options(ort, RuntimeConfig.from_env()),
        providers=["CPUExecutionProvider"],
    )
    one = example_inputs(folder, seq)
    out = {}
    for batch in batches:
        feeds = {k: np.repeat(v, batch, axis=0) for k, v in one.items()}
        for _ in range(5):
            session.run(None, feeds)
        runs, start = 0, time.perf_counter()
        while time.perf_counter() - start < duration:
            session.run(None, feeds)
            runs += 1
        out[str(batch)] = runs * batch / (time.perf_counter() - start)
    return out


def child(*args: str) -> Any:
    done = subprocess.run([sys.executable, str(HERE), *args], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- orchestration ---


def print_table(
    results: dict[tuple[str, int], list[dict[str, Any]]], kinds: list[str], clients: list[int], best: float
) -> None:
    """Medians over the repeats; 'vs naive' and 'vs (a)' compare requests/s (one sample per request)."""
    header = (
        "| server | clients | req/s | p50 ms | p99 ms | errors | server CPU ms/req | client CPU ms/req "
        "| vs naive | vs (a) |"
    )
    print("\n" + header)
    print("|---" * 10 + "|")
    for count in clients:
        naive_runs = results.get(("naive", count))
        naive = statistics.median(r["rps"] for r in naive_runs) if naive_runs else float("nan")
        for kind in kinds:
            runs = results[(kind, count)]

            def med(key: str, runs: list[dict[str, Any]] = runs) -> float:
                return statistics.median(r[key] for r in runs)

            rps = med("rps")
            errors = sum(r["errors"] for r in runs)
            cells = [kind, str(count), f"{rps:.0f}", f"{med('p50_ms'):.2f}", f"{med('p99_ms'):.2f}", str(errors)]
            cells += [f"{med('server_cpu_ms_per_request'):.3f}", f"{med('client_cpu_ms_per_request'):.3f}"]
            cells += [f"{rps / naive:.2f}x", f"{rps / best:.3f}x"]
            print("| " + " | ".join(cells) + " |")


def hotpath_cost(folder: Path, rounds: int = 200_000) -> dict[str, float]:
    """Microseconds of metrics work per request, in-process: ``Service.record`` (one counter, one histogram) plus the
    batcher's observations for a batch of one request (batch size, queue and compute time), best of 5."""
    from sdk.serving.bootstrap import build_service
    from sdk.serving.messages import Request

    service = build_service(folder, include_builtin=False, batching=False)
    assert service.metrics is not None
    manifest = service.repository.loaded()[0].manifest
    series = service.metrics.model(manifest.name, manifest.version)
    request = Request("POST", f"/v2/models/{manifest.name}/infer", {"content-type": "application/json"}, b"", "id")
    record, ran = service.record, series.ran
    best_record = best_batch = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(rounds):
            record(request, 200, 0.004)
        best_record = min(best_record, (time.perf_counter() - start) / rounds * 1e6)
        start = time.perf_counter()
        for _ in range(rounds):
            ran(1, 0.001, (0.0005,))
        best_batch = min(best_batch, (time.perf_counter() - start) / rounds * 1e6)
    return {"record_us": best_record, "batch_of_one_us": best_batch}


def service_ab(folder: Path, rounds: int = 16, requests: int = 3000, clients: int = 32) -> dict[str, Any]:
    """CPU per request of the serving core with metrics on and off, in one process: ``rounds`` alternating rounds of
    ``requests`` requests from ``clients`` concurrent callers through ``Service.handle_async`` and its batcher."""
    from sdk.serving.batcher import Batcher
    from sdk.serving.config import ServeConfig
    from sdk.serving.repository import ModelRepository, open_model_store
    from sdk.serving.service import Service

    name = json.loads((folder / "manifest.json").read_text())["name"]
    body, path = json_body(example_inputs(folder, 128)), f"/v2/models/{name}/infer"
    headers = {"content-type": "application/json"}

    async def main() -> dict[str, Any]:
        services = {}
        for metrics in (True, False):
            config = ServeConfig(metrics=metrics, adaptive_batch=False)
            repository = ModelRepository(open_model_store(folder, include_builtin=False))
            batcher = Batcher(max_batch_size=config.max_batch_size)
            services[metrics] = Service(repository, config=config, batcher=batcher).start()
        cpu: dict[bool, list[float]] = {True: [], False: []}

        async def caller(service: Service, count: int) -> None:
            for _ in range(count):
                answer = await service.handle_async("POST", path, headers, body)
                assert answer.status == 200, answer.body

        for round_ in range(rounds + 1):
            for metrics in (True, False) if round_ % 2 == 0 else (False, True):
                start = time.process_time()
                await asyncio.gather(*(caller(services[metrics], requests // clients) for _ in range(clients)))
                if round_:  # the first round warms both up
                    cpu[metrics].append((time.process_time() - start) * 1e6 / (requests // clients * clients))
        for service in services.values():
            assert service.batcher is not None
            await service.batcher.close()
        on, off = statistics.median(cpu[True]), statistics.median(cpu[False])
        ratios = [a / b for a, b in zip(cpu[True], cpu[False])]
        return {"on_us": on, "off_us": off, "ratio_median": statistics.median(ratios)}

    return asyncio.run(main())


def print_metrics_cost(
    results: dict[tuple[str, int], list[dict[str, Any]]],
    clients: list[int],
    hotpath: dict[str, float],
    core: dict[str, Any],
) -> None:
    """Metrics on against off: each repeat's paired ratio (measured back to back), and the median of them."""
    print("\n| clients | req/s on / off, per repeat | median | cost | server CPU ms/req on | off |")
    print("|---" * 6 + "|")
    for count in clients:
        on, off = results[("ours", count)], results[("ours-nometrics", count)]
        ratios = [a["rps"] / b["rps"] for a, b in zip(on, off)]
        median = statistics.median(ratios)
        cpu_on = statistics.median(r["server_cpu_ms_per_request"] for r in on)
        cpu_off = statistics.median(r["server_cpu_ms_per_request"] for r in off)
        per_repeat = " ".join(f"{r:.3f}" for r in ratios)
        print(f"| {count} | {per_repeat} | {median:.3f} | {(1 - median) * 100:+.1f}% | {cpu_on:.3f} | {cpu_off:.3f} |")
    per_request = hotpath["record_us"] + hotpath["batch_of_one_us"]
    print(
        f"\nmetrics work per request, in-process: {hotpath['record_us']:.2f} us to count it, "
        f"{hotpath['batch_of_one_us']:.2f} us for a batch of one; {per_request:.2f} us in all"
    )
    for count in clients:
        off = statistics.median(r["server_cpu_ms_per_request"] for r in results[("ours-nometrics", count)])
        share = per_request / (off * 1000) * 100
        print(f"  = {share:.2f}% of the server CPU per request with metrics off ({count} clients)")
    print(
        f"serving core in-process (handle_async + batcher, 32 concurrent, alternating rounds): CPU per request "
        f"{core['on_us']:.1f} us with metrics, {core['off_us']:.1f} us without; paired ratio median "
        f"{core['ratio_median']:.3f} ({(core['ratio_median'] - 1) * 100:+.1f}%)"
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_server":
        run_server(sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_load":
        to, where, sent, clients, duration, limit, client = sys.argv[2:9]
        headers = json.loads(sys.argv[9]) if len(sys.argv) > 9 else None
        sent_bytes: bytes | list[bytes] = Path(sent).read_bytes()
        if sent.endswith(".jsonl"):  # one body per line
            sent_bytes = [line for line in Path(sent).read_bytes().splitlines() if line]
        out = load(int(to), where, sent_bytes, int(clients), float(duration), int(limit), client, headers)
        print(json.dumps(out))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_hotpath":
        print(json.dumps(hotpath_cost(Path(sys.argv[2]))))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_core_ab":
        print(json.dumps(service_ab(Path(sys.argv[2]))))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_inproc":
        print(json.dumps(in_process(Path(sys.argv[2]), int(sys.argv[3]), [1, 8, 32], float(sys.argv[4]))))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="digits-cnn", help="model in the store (or use --artifact)")
    parser.add_argument("--artifact", type=Path, help="artifact folder to serve")
    parser.add_argument("--seq", type=int, default=128, help="sequence length for text models")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per measurement")
    parser.add_argument("--max-requests", type=int, default=50_000, help="bound per measurement")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw")
    parser.add_argument("--stacks", action="store_true", help="also compare ASGI stacks for sdk serve")
    parser.add_argument("--no-naive", action="store_true")
    parser.add_argument("--metrics", action="store_true", help="only ours with metrics on against off")
    parser.add_argument("--fixed", action="store_true", help="also ours with batches fixed at 32 (no sizing)")
    parser.add_argument("--texts", choices=("sentences", "mixed"), help="raw text, length-aware vs pad-to-longest")
    parser.add_argument("--precision", help="AIAAS_PRECISION for the servers (e.g. int8)")
    args = parser.parse_args()
    if args.precision:
        os.environ["AIAAS_PRECISION"] = args.precision
    if args.texts:
        length_aware(args)
        return

    from sdk.artifacts import open_store

    folder = args.artifact or open_store().resolve(args.model).path
    name = json.loads((folder / "manifest.json").read_text())["name"]
    body = json_body(example_inputs(folder, args.seq))
    body_file = Path(tempfile.mkstemp(suffix=".json")[1])
    body_file.write_bytes(body)
    path = f"/v2/models/{name}/infer"
    kinds = ["ours", "ours-nobatch"] + ([] if args.no_naive else ["naive"]) + (["ours-fixed"] if args.fixed else [])
    if args.metrics:
        kinds = ["ours", "ours-nometrics"]
    if args.stacks:
        kinds += ["stack-h11", "stack-starlette"]
    log = Path(tempfile.mkstemp(suffix=".log")[1])
    print(f"model {name} ({folder}), request body {len(body)} B JSON, {args.client} client, logs: {log}", flush=True)
    inproc = child("_inproc", str(folder), str(args.seq), "2")
    print(f"(a) in-process ONNX Runtime, samples/s by batch: {json.dumps({k: round(v) for k, v in inproc.items()})}")
    servers = {}
    try:
        for kind in kinds:
            port = free_port()
            servers[kind] = (port, start(kind, folder, port, log))
        results: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for clients in args.clients:
            for repeat in range(args.repeats):
                for kind in kinds if repeat % 2 == 0 else kinds[::-1]:  # ABBA: neither goes first every time
                    port, process = servers[kind]
                    cpu = cpu_seconds(process.pid)
                    out = child(
                        "_load",
                        str(port),
                        path,
                        str(body_file),
                        str(clients),
                        str(args.duration),
                        str(args.max_requests),
                        args.client,
                    )
                    out["server_cpu_ms_per_request"] = (cpu_seconds(process.pid) - cpu) * 1000 / max(1, out["requests"])
                    results.setdefault((kind, clients), []).append(out)
        best = max(inproc.values())
        print_table(results, kinds, args.clients, best)
        if args.metrics:
            hotpath, core = child("_hotpath", str(folder)), child("_core_ab", str(folder))
            print_metrics_cost(results, args.clients, hotpath, core)
    finally:
        for _, process in servers.values():
            process.send_signal(signal.SIGTERM)
        for _, process in servers.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        body_file.unlink(missing_ok=True)


# --- length-aware batching (#20): real sentence lengths, grouped vs padded to the longest ---


def text_bodies(texts: str) -> tuple[list[bytes], list[int]]:
    """One JSON request per text (a BYTES tensor), shuffled with a fixed seed, and each text's token count."""
    sys.path.insert(0, str(ROOT))
    from models.minilm_l6.recipe import CALIBRATION_COUNT, encode, long_texts, sentences

    items = sentences()[CALIBRATION_COUNT:] + (long_texts() if texts == "mixed" else [])
    order = np.random.default_rng(0).permutation(len(items))
    items = [items[i] for i in order]
    tokens = [int(encode([t])["input_ids"].shape[1]) for t in items]
    bodies = [
        json.dumps({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": [t]}]}).encode()
        for t in items
    ]
    return bodies, tokens


def cpu_flags() -> str:
    try:
        flags = set(re.search(r"^flags\s*:(.*)$", Path("/proc/cpuinfo").read_text(), re.M).group(1).split())  # type: ignore[union-attr]
    except (OSError, AttributeError):
        return "unknown"
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")
    return " ".join(f for f in wanted if f in flags) + f", {os.cpu_count()} cores"


def length_aware(args: argparse.Namespace) -> None:
    """``ours`` (length groups) against ``ours-padlongest``, interleaved ABBA, raw text of real lengths."""
    from sdk.artifacts import open_store

    folder = args.artifact or open_store().resolve(args.model).path
    name = json.loads((folder / "manifest.json").read_text())["name"]
    bodies, tokens = text_bodies(args.texts)
    body_file = Path(tempfile.mkstemp(suffix=".jsonl")[1])
    body_file.write_bytes(b"\n".join(bodies) + b"\n")
    path = f"/v2/models/{name}/infer"
    kinds = ["ours", "ours-padlongest"]
    log = Path(tempfile.mkstemp(suffix=".log")[1])
    q = np.percentile(tokens, [10, 50, 90, 100]).astype(int).tolist()
    print(f"model {name} ({folder}), precision {os.environ.get('AIAAS_PRECISION', 'default')}, CPU {cpu_flags()}")
    print(f"{len(bodies)} texts ({args.texts}), tokens p10/p50/p90/max {q} (cut at 256), logs: {log}", flush=True)
    servers: dict[str, tuple[int, subprocess.Popen[bytes]]] = {}
    try:
        for kind in kinds:
            port = free_port()
            servers[kind] = (port, start(kind, folder, port, log))
        results: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for clients in args.clients:
            for repeat in range(args.repeats):
                for kind in kinds if repeat % 2 == 0 else kinds[::-1]:
                    port, process = servers[kind]
                    cpu = cpu_seconds(process.pid)
                    out = child(
                        "_load", str(port), path, str(body_file), str(clients), str(args.duration),
                        str(args.max_requests), "raw",
                    )  # fmt: skip
                    out["server_cpu_ms_per_request"] = (cpu_seconds(process.pid) - cpu) * 1000 / max(1, out["requests"])
                    results.setdefault((kind, clients), []).append(out)
        print("\n| clients | grouped req/s | padded req/s | paired ratios | median ratio | server CPU ms/req grouped "
              "| padded | p50 ms grouped | padded | errors |")  # fmt: skip
        print("|---" * 10 + "|")
        for clients in args.clients:
            grouped, padded = results[("ours", clients)], results[("ours-padlongest", clients)]
            ratios = [g["rps"] / p["rps"] for g, p in zip(grouped, padded)]

            def med(runs: list[dict[str, Any]], key: str) -> float:
                return statistics.median(r[key] for r in runs)

            cells = [str(clients), f"{med(grouped, 'rps'):.1f}", f"{med(padded, 'rps'):.1f}"]
            cells += [" ".join(f"{r:.2f}" for r in ratios), f"{statistics.median(ratios):.2f}x"]
            cells += [
                f"{med(grouped, 'server_cpu_ms_per_request'):.2f}",
                f"{med(padded, 'server_cpu_ms_per_request'):.2f}",
            ]
            cells += [f"{med(grouped, 'p50_ms'):.1f}", f"{med(padded, 'p50_ms'):.1f}"]
            cells += [str(sum(r["errors"] for r in grouped + padded))]
            print("| " + " | ".join(cells) + " |")
    finally:
        for _, process in servers.values():
            process.send_signal(signal.SIGTERM)
        for _, process in servers.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        body_file.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
