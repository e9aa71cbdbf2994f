"""A Lambda cold start as Lambda runs it, for benchmarks/cold_start.py: AWS's runtime interface client
(``awslambdaric``, what the ``public.ecr.aws/lambda/python`` base image starts: ``python -m awslambdaric
module.handler``) in a fresh process, against an emulated Runtime API on loopback that hands it events and
timestamps the answers. The client imports the handler's module (the function's init), asks for the next event, calls
the handler and posts its result: the same steps, the same client code and the same imports it brings (logging,
json, http, its own C extension) as in a Lambda container, for our handler and for a raw ONNX Runtime handler alike.

The Runtime API (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html) as far as the client uses it: ``GET
/2018-06-01/runtime/invocation/next`` (the event, with its request id, deadline and function ARN headers),
``POST .../invocation/{id}/response``, ``POST .../invocation/{id}/error`` and ``POST .../init/error``; a response
over Lambda's 6 MB is refused with Lambda's 413. A ``next`` after the last event is held until the run ends: the
process is then killed, as Lambda freezes it.

awslambdaric comes with the ``dev`` extra; the child finds it with the other packages, after the function's own code
on ``PYTHONPATH``, as ``/var/runtime`` comes after ``/var/task`` in the image. tests/functions/test_lambda_ric.py runs
the function under it too.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

API = "/2018-06-01/runtime"
# Lambda's limit for a synchronous answer, as its Runtime API enforces it (413 to the client above it).
RESPONSE_LIMIT = 6_291_556

# A raw ONNX Runtime process's load as a user writes it, with the runtime's session options: ``path`` read, its
# sha256 checked against ``sha``, a session built. cold_start.py's raw row and the raw handler below both run it.
RAW_SESSION = """\
data = open(path, "rb").read()
if hashlib.sha256(data).hexdigest() != sha:
    raise RuntimeError("sha256 mismatch")
options = ort.SessionOptions()
options.inter_op_num_threads = 1
options.add_session_config_entry("session.intra_op.allow_spinning", "0")
options.add_session_config_entry("session.inter_op.allow_spinning", "0")
session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
"""

# The raw baseline's handler: what a user writes with ONNX Runtime alone. Its init is RAW_SESSION; each event's JSON
# body is parsed and the outputs answered as JSON, as the function answers them.
_RAW_HANDLER_HEAD = """\
import hashlib
import json
import os

import numpy as np
import onnxruntime as ort

DTYPES = {"FP32": np.float32, "INT64": np.int64}
path, sha = os.environ["RAW_MODEL_PATH"], os.environ["RAW_MODEL_SHA256"]
"""
_RAW_HANDLER_TAIL = """\
names = [o.name for o in session.get_outputs()]


def handler(event, context):
    body = json.loads(event["body"])
    feeds = {i["name"]: np.array(i["data"], dtype=DTYPES[i["datatype"]]).reshape(i["shape"]) for i in body["inputs"]}
    outputs = session.run(None, feeds)
    answer = [{"name": n, "shape": list(o.shape), "data": o.ravel().tolist()} for n, o in zip(names, outputs)]
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps({"outputs": answer})}
"""
RAW_HANDLER = _RAW_HANDLER_HEAD + RAW_SESSION + _RAW_HANDLER_TAIL


class RuntimeApi:
    """The emulated Runtime API: the events of one ``invoke``, one per ``next``, in turn; each answer with its
    arrival time on the monotonic clock (which every process of this machine shares)."""

    def __init__(self) -> None:
        self._events: list[tuple[str, bytes]] = []
        self._done = threading.Event()
        self._release = threading.Event()
        self._expected = 0
        self.answers: list[dict[str, Any]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                if self.path != f"{API}/invocation/next":
                    return self._reply(404, b"{}")
                if not api._events:  # no event left: held until the run ends and the process is killed
                    api._release.wait(120)
                    return
                request_id, event = api._events.pop(0)
                headers = {
                    "Lambda-Runtime-Aws-Request-Id": request_id,
                    "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 30_000),
                    "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:cold-start",
                    "Lambda-Runtime-Trace-Id": "Root=1-6748cc40-0123456789abcdef01234567;Sampled=0",
                }
                self._reply(200, event, headers)

            def do_POST(self) -> None:
                at = time.monotonic()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                kind = self.path.rsplit("/", 1)[-1]  # response, error (of an invocation or of the init)
                if kind == "response" and len(body) > RESPONSE_LIMIT:  # as Lambda: refused, the caller gets a 502
                    api.answers.append({"at": at, "kind": "too large", "path": self.path, "body": body})
                    refusal = f'{{"errorMessage":"Exceeded maximum allowed payload size ({RESPONSE_LIMIT} bytes).",'
                    self._reply(413, (refusal + '"errorType":"RequestEntityTooLarge"}').encode())
                else:
                    api.answers.append({"at": at, "kind": kind, "path": self.path, "body": body})
                    self._reply(202, b'{"status":"OK"}')
                if len(api.answers) >= api._expected or "/init/" in self.path:
                    api._done.set()

            def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                try:
                    self.send_response(status)
                    for key, value in (headers or {}).items():
                        self.send_header(key, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the process was killed meanwhile
                    pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a killed process resets its connection: expected, not worth a traceback

        self._server = Server(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def run(
        self, python: str, handler: str, events: list[dict[str, Any]], env: dict[str, str], cwd: str, log: Path
    ) -> tuple[float, float, list[dict[str, Any]]]:
        """Start ``python -m awslambdaric handler`` and give it ``events`` one by one (a container's first and warm
        invocations): (seconds from the spawn to the first answer's arrival, the process's CPU seconds until the
        last answer, the answers: ``kind`` "response" or "error", ``body`` the bytes posted). An init that fails
        ends the run with its one answer (``path`` ends in /init/error)."""
        self._events = [(f"req-{time.monotonic_ns()}-{i}", json.dumps(e).encode()) for i, e in enumerate(events)]
        self._expected = len(events)
        self.answers = []
        self._done.clear()
        self._release.clear()
        env = {**env, "AWS_LAMBDA_RUNTIME_API": self.address, "_HANDLER": handler}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        with log.open("wb") as out:
            start = time.monotonic()
            process = subprocess.Popen(
                [python, "-m", "awslambdaric", handler], env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT
            )
            try:
                finished = self._done.wait(120)
            finally:
                process.kill()  # frozen after its answer in Lambda; nothing it does afterwards counts
                process.wait()
                self._release.set()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        if not finished:
            raise SystemExit(f"{handler}: {len(self.answers)} of {len(events)} answers:\n{log.read_text()[-3000:]}")
        return self.answers[0]["at"] - start, cpu, list(self.answers)

    def invoke(
        self, python: str, handler: str, event: dict[str, Any], env: dict[str, str], cwd: str, log: Path
    ) -> tuple[float, float, dict[str, Any]]:
        """A cold start answering ``event``: (seconds from the spawn to the answer's arrival, CPU seconds, the
        handler's result). SystemExit, with the process's output, when the init or the handler failed or the result
        is no 200."""
        seconds, cpu, answers = self.run(python, handler, [event], env, cwd, log)
        answer = answers[0]
        if answer["kind"] != "response":
            raise SystemExit(f"{handler}: {answer['path']} {answer['body'][:2000]!r}\n{log.read_text()[-3000:]}")
        result: dict[str, Any] = json.loads(answer["body"])
        if result.get("statusCode") != 200:
            raise SystemExit(f"{handler} answered {result.get('statusCode')}: {result.get('body', '')[:2000]}")
        return seconds, cpu, result

    def close(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()


def write_raw_handler(folder: Path) -> str:
    """The raw baseline's handler module in ``folder`` (a task root of its own); its handler's name."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "raw_handler.py").write_text(RAW_HANDLER)
    return "raw_handler.handler"


def installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("awslambdaric") is not None


def site_packages() -> str:
    """This environment's site-packages, for a bare interpreter's PYTHONPATH."""
    import sysconfig

    return sysconfig.get_paths()["purelib"]


def bare_python(folder: Path) -> str:
    """A virtual environment with nothing installed (so no ``.pth`` file runs at start-up, as in a Lambda image where
    packages are plain folders): the children get their packages from ``PYTHONPATH``. An editable install of this
    project puts a finder in every start-up of the project's own environment (~8-11 ms: pathlib, urllib, fnmatch
    imported before the program), which a user's installed package does not have."""
    python = folder / "bin" / "python"
    if not python.exists():
        subprocess.run(
            [os.environ.get("AIAAS_BENCH_BASE_PYTHON", _base()), "-m", "venv", "--without-pip", folder], check=True
        )
    return str(python)


def _base() -> str:
    import sys

    return getattr(sys, "_base_executable", sys.executable)
