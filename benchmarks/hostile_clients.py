"""What hostile requests cost a real `sdk serve`: its resident memory (from /proc) at the peak of each attack, and
what it kept afterwards (issue 15).

The server runs with the request limits raised far past their defaults (rows, elements, header bytes), so that
what bounds memory is the decoding, slicing and caching code, not a limit refusing the request early. Run it from
any source tree to compare two versions (the server imports ``sdk`` from the current directory):

    cd /path/to/tree && python /path/to/benchmarks/hostile_clients.py

Linux only: the peak is ``VmHWM``, reset before each attack through ``/proc/PID/clear_refs``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, os.getcwd())

from sdk.artifacts.store import BUILTIN_ROOT
from sdk.demo.stack import start_serve

TOKEN = "bench-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}
DIGITS = "/v2/models/digits-cnn/infer"
LIMIT = 6 * 1024 * 1024


def _kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith(field + ":"))


def measure(pid: int, attack: Callable[[], str]) -> str:
    with open(f"/proc/{pid}/clear_refs", "w") as handle:
        handle.write("5")
    before = _kib(pid, "VmRSS")
    outcome = attack()
    peak, after = _kib(pid, "VmHWM") - before, _kib(pid, "VmRSS") - before
    return f"{outcome:<12} peak +{peak / 1024:5.0f} MiB, kept +{after / 1024:5.0f} MiB"


def main() -> None:
    env = {
        "AIAAS_MAX_BODY_BYTES": str(LIMIT),
        "AIAAS_MAX_REQUEST_ROWS": "1000000",
        "AIAAS_MAX_REQUEST_ELEMENTS": "1000000000",
        "AIAAS_MAX_HEADER_BYTES": str(128 * 1024),
        "AIAAS_AUTH_TOKEN": TOKEN,
        "PYTHONPATH": os.getcwd(),
    }
    log = Path(tempfile.mkdtemp()) / "serve.log"
    server = start_serve(str(BUILTIN_ROOT), log, "--no-access-log", env=env)
    pid = server.process.pid
    client = httpx.Client(base_url=server.url, timeout=120)
    image = {"name": "image", "shape": [1, 1, 8, 8], "datatype": "FP32", "data": [0.5] * 64}
    client.post(DIGITS, headers=AUTH, json={"inputs": [image]})  # load and size the model first
    host, port = server.url.removeprefix("http://").rsplit(":", 1)

    def scanned_paths() -> str:
        for index in range(800):
            client.get(f"/{index:06d}" + "x" * 60_000)
        return "800 x 404"

    def bytes_bomb(count: int) -> Callable[[], str]:
        def attack() -> str:
            tensor = {"name": "image", "shape": [count], "datatype": "BYTES", "parameters": {"binary_data_size": 4}}
            text = json.dumps({"inputs": [tensor]}).encode()
            headers = {**AUTH, "inference-header-content-length": str(len(text))}
            return str(client.post(DIGITS, content=text + b"\0" * 4, headers=headers).status_code)

        return attack

    def zeros() -> str:
        rows = 49_150
        body = b'{"inputs":[{"name":"image","shape":[%d,1,8,8],"datatype":"FP32","data":[' % rows
        body += b",".join([b"0"] * (rows * 64)) + b"]}]}"
        return str(client.post(DIGITS, content=body, headers={**AUTH, "content-type": "application/json"}).status_code)

    def stalled_bodies() -> str:
        head = f"POST {DIGITS} HTTP/1.1\r\nHost: x\r\nContent-Length: {LIMIT}\r\n\r\n".encode()
        held = []
        for _ in range(32):
            connection = socket.create_connection((host, int(port)), timeout=3)
            connection.sendall(head)
            with contextlib.suppress(OSError):  # refused before the body was read
                connection.sendall(b"0" * (LIMIT - 1))
            held.append(connection)
        time.sleep(1)
        for connection in held:
            connection.close()
        return "32 held"

    try:
        for name, attack in (
            ("800 unauthenticated 60 KB paths", scanned_paths),
            ("BYTES [100,000,000] over 4 bytes", bytes_bomb(100_000_000)),
            ("BYTES [300,000,000] over 4 bytes", bytes_bomb(300_000_000)),
            ("6 MiB of JSON zeros (49,150 rows)", zeros),
            ("32 stalled 6 MiB bodies, no token", stalled_bodies),
        ):
            print(f"{name:<36} {measure(pid, attack)}", flush=True)
    finally:
        client.close()
        server.stop()


if __name__ == "__main__":
    main()
