"""Router and client overheads, and how often the router picks the faster route.

    python benchmarks/router.py [--calls 5000]

1. Decision overhead: `Router.plan` for a public auto call with both routes measured (median µs). Target <= 20 µs.
2. Cloud-path client overhead: `Client.predict(..., mode="cloud_only")` against a raw `httpx.Client.post` of the same
   request bytes to the same real `sdk serve` (its own process, loopback), interleaved, medians, with the JSON body
   (the raw post parses the answer with `.json()`) and the binary one (the raw post only reads it). Target <= 1.05x.
   The client skips httpx's search of an answer's headers for cookies when none sets one (``sdk.client.answers``) and
   sends to an absolute URL built once; a third post, taking turns with the two, does both ("lean"): the client's
   time minus its time is the SDK's own work alone (routing, privacy, encoding, decoding, latency, decision log).
   Also: the client's whole local-call overhead (`Client.predict(..., mode="local_only")` minus calling the loaded
   model directly) with the decision log on and off (AIAAS_AUDIT), interleaved, medians: the log's cost on the call.
   ``--against DIR``: only this row, for this checkout's ``sdk`` and for the one under DIR (e.g. the previous commit's
   files, written with ``git archive``), each in its own process, taking turns (``--rounds``): each checkout's ratio
   to its own raw post, and their medians, in one run.
3. Routing quality: after warm-up, the share of calls sent to the faster route when the other is 2x slower, with
   lognormal noise (sigma 0.3) on every observed latency, through the real Router and LatencyModel. Target >= 95%.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

from sdk import Client
from sdk.client import Availability, LatencyModel, Mode, Privacy, Route, Router, RouterPolicy
from sdk.protocol.codec import encode_request

UP = Availability(True)


def decision_overhead(calls: int) -> float:
    router = Router(LatencyModel(), RouterPolicy(), rng=random.Random(0))
    for route, ms in ((Route.LOCAL, 2.0), (Route.CLOUD, 5.0)):
        for _ in range(20):
            router.latency.observe("m", route, ms)
    times = []
    for _ in range(calls):
        start = time.perf_counter_ns()
        router.plan("m", privacy=Privacy.PUBLIC, mode=Mode.AUTO, local=UP, cloud=UP, payload_bytes=256)
        times.append(time.perf_counter_ns() - start)
    return statistics.median(times) / 1000


def start_server() -> tuple[subprocess.Popen[bytes], str]:
    log = Path(os.environ.get("TMPDIR", "/tmp")) / "aiaas-bench-serve.log"
    handle = log.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", "from sdk.cli import main; main()", "serve", "--port", "0", "--max-queue-delay-ms", "0"],
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if " at http://" in line:
                return process, line.split(" at ", 1)[1].split()[0]
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"sdk serve did not start: {log.read_text()[-1000:]}")


class _LeanCookies(httpx.Cookies):
    """The client's shortcut (``sdk.client.answers.LeanCookies``), for the "lean" raw post: an answer's headers are
    parsed for cookies only when one sets a cookie."""

    def extract_cookies(self, response: httpx.Response) -> None:
        if any(key.lower() == b"set-cookie" for key, _ in response.headers.raw):
            super().extract_cookies(response)


def client_overhead(calls: int, *, binary: bool = False) -> tuple[float, float, float]:
    """Median µs of Client.predict(cloud_only), of a raw httpx post of the very same body, and of that post with the
    client's cookie shortcut (the SDK's own work is the gap to this one), interleaved."""
    process, url = start_server()
    try:
        x = np.random.default_rng(0).random((1, 1, 8, 8), dtype=np.float32)
        # binary_threshold_bytes=0: every tensor goes as binary data, and the answer comes back so.
        client = Client(url, persist_latency=False, exploration_rate=0.0, binary_threshold_bytes=0 if binary else None)
        body, headers = encode_request({"image": x}, binary=binary)
        raw, lean = httpx.Client(base_url=url), httpx.Client(base_url=url)
        lean._cookies = _LeanCookies()
        path = "/v2/models/digits-cnn/infer"
        absolute = httpx.URL(url + path)  # httpx parses and merges a relative path on every call
        for _ in range(100):
            client.predict("digits-cnn", {"image": x}, mode="cloud_only")
            raw.post(path, content=body, headers=headers).raise_for_status()
            lean.post(absolute, content=body, headers=headers).raise_for_status()
        samples: tuple[list[int], list[int], list[int]] = ([], [], [])
        orders = ((0, 1, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0), (1, 0, 2), (0, 2, 1))
        for i in range(calls):
            for who in orders[i % len(orders)]:
                start = time.perf_counter_ns()
                if who == 0:
                    client.predict("digits-cnn", {"image": x}, mode="cloud_only")
                else:
                    response = (
                        raw.post(path, content=body, headers=headers)
                        if who == 1
                        else lean.post(absolute, content=body, headers=headers)
                    )
                    if not binary:
                        response.json()
                samples[who].append(time.perf_counter_ns() - start)
        client.close()
        raw.close()
        lean.close()
        ours, theirs, lean_us = (statistics.median(s) / 1000 for s in samples)
        return ours, theirs, lean_us
    finally:
        process.terminate()
        process.wait(timeout=15)


def local_overhead(calls: int) -> tuple[float, float, float]:
    """Median µs of a direct model call, and of Client.predict(local_only) with the decision log off and on."""
    import tempfile

    from sdk.client.audit import DecisionLog

    x = np.random.default_rng(0).random((1, 1, 8, 8), dtype=np.float32)
    with tempfile.TemporaryDirectory() as state:
        on = Client(persist_latency=False, exploration_rate=0.0)
        off = Client(persist_latency=False, exploration_rate=0.0)
        on.audit = DecisionLog(Path(state), enabled=True)
        off.audit = DecisionLog(Path(state), enabled=False)
        model = on.local.model("digits-cnn") if on.local.availability("digits-cnn").ok else None
        assert model is not None
        for _ in range(200):
            on.predict("digits-cnn", {"image": x}, mode="local_only")
            off.predict("digits-cnn", {"image": x}, mode="local_only")
        samples: dict[str, list[int]] = {"raw": [], "off": [], "on": []}
        for i in range(calls):
            order = ("raw", "off", "on") if i % 2 == 0 else ("on", "off", "raw")
            for who in order:
                start = time.perf_counter_ns()
                if who == "raw":
                    model({"image": x})
                else:
                    (on if who == "on" else off).predict("digits-cnn", {"image": x}, mode="local_only")
                samples[who].append(time.perf_counter_ns() - start)
        on.close()
        off.close()
    raw, log_off, log_on = (statistics.median(samples[k]) / 1000 for k in ("raw", "off", "on"))
    return raw, log_off, log_on


def routing_quality(calls: int, warmup: int = 200) -> float:
    rng = random.Random(1)
    router = Router(LatencyModel(), RouterPolicy(), rng=random.Random(2))
    true_ms = {Route.LOCAL: 10.0, Route.CLOUD: 20.0}
    faster = 0
    for i in range(warmup + calls):
        plan = router.plan("m", privacy=Privacy.PUBLIC, mode=Mode.AUTO, local=UP, cloud=UP)
        route = plan.routes[0]
        router.latency.observe("m", route, true_ms[route] * rng.lognormvariate(0, 0.3))
        if i >= warmup:
            faster += route is Route.LOCAL
    return faster / calls


def against(folder: Path, calls: int, rounds: int) -> None:
    """The cloud-call row for this checkout's sdk and the one under ``folder``, in separate processes, in turns."""
    import json

    ratios: dict[tuple[str, bool], list[float]] = {}
    own: dict[tuple[str, bool], list[float]] = {}
    for round_ in range(rounds):
        for who in ("this", "other") if round_ % 2 == 0 else ("other", "this"):
            env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
            if who == "other":
                env["PYTHONPATH"] = str(folder)
            done = subprocess.run(
                [sys.executable, str(Path(__file__).resolve()), "_cloud", str(calls)],
                env=env, capture_output=True, text=True, check=True, cwd=folder if who == "other" else None,
            )  # fmt: skip
            for binary, (ours, theirs, lean) in zip((False, True), json.loads(done.stdout.strip().splitlines()[-1])):
                ratios.setdefault((who, binary), []).append(ours / theirs)
                own.setdefault((who, binary), []).append(ours - lean)
    print(f"| body | this checkout (per round) | {folder} (per round) | medians: this / other |")
    print("|---|---|---|---|")
    for binary in (False, True):
        this, other = ratios[("this", binary)], ratios[("other", binary)]
        cells = [" ".join(f"{r:.3f}" for r in this), " ".join(f"{r:.3f}" for r in other)]
        medians = f"{statistics.median(this):.3f}x / {statistics.median(other):.3f}x"
        print(f"| {'binary' if binary else 'JSON'} | {cells[0]} | {cells[1]} | {medians} |")
    print()
    print("The SDK's own work per call: Client.predict minus the lean post (absolute URL, cookie shortcut), µs")
    print("| body | this checkout | other | medians: this / other |")
    print("|---|---|---|---|")
    for binary in (False, True):
        this, other = own[("this", binary)], own[("other", binary)]
        cells = [" ".join(f"{v:.1f}" for v in this), " ".join(f"{v:.1f}" for v in other)]
        medians = f"{statistics.median(this):.1f} / {statistics.median(other):.1f} µs"
        print(f"| {'binary' if binary else 'JSON'} | {cells[0]} | {cells[1]} | {medians} |")


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "_cloud":
        import json

        import sdk

        assert sdk.__file__ is not None
        sys.stderr.write(f"sdk from {sdk.__file__}\n")
        calls = int(sys.argv[2])
        print(json.dumps([client_overhead(calls), client_overhead(calls, binary=True)]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--against", type=Path, help="folder holding another checkout's sdk package (cloud row only)")
    parser.add_argument("--rounds", type=int, default=4, help="turns per checkout with --against")
    args = parser.parse_args()
    if args.against:
        against(args.against.resolve(), args.calls // 5, args.rounds)
        return
    plan_us = decision_overhead(args.calls * 4)
    ours, theirs, lean = client_overhead(args.calls // 5)
    ours_binary, theirs_binary, lean_binary = client_overhead(args.calls // 5, binary=True)
    raw, log_off, log_on = local_overhead(args.calls)
    share = routing_quality(args.calls)
    print("| measure | result | baseline (same run) | ratio | target |")
    print("|---|---|---|---|---|")
    print(f"| router decision, median | {plan_us:.1f} µs | - | - | <= 20 µs |")
    print(
        f"| cloud call via Client (digits-cnn, JSON) | {ours:.0f} µs | raw httpx post {theirs:.0f} µs | "
        f"{ours / theirs:.3f}x | <= 1.05x |"
    )
    print(
        f"| cloud call via Client (digits-cnn, binary) | {ours_binary:.0f} µs | "
        f"raw httpx post {theirs_binary:.0f} µs | {ours_binary / theirs_binary:.3f}x | <= 1.05x |"
    )
    print(
        f"| the SDK's own work on a cloud call (JSON, binary) | +{ours - lean:.0f} µs, "
        f"+{ours_binary - lean_binary:.0f} µs | lean post {lean:.0f} µs, {lean_binary:.0f} µs | "
        f"{ours / lean:.3f}x, {ours_binary / lean_binary:.3f}x | - |"
    )
    print(
        f"| local call via Client, decision log off (digits-cnn) | {log_off:.1f} µs (+{log_off - raw:.1f}) | "
        f"model called directly {raw:.1f} µs | {log_off / raw:.2f}x | - |"
    )
    print(
        f"| local call via Client, decision log on | {log_on:.1f} µs (+{log_on - raw:.1f}) | "
        f"log off {log_off:.1f} µs | {log_on / log_off:.3f}x | log adds <= a few µs |"
    )
    print(f"| calls on the faster route (other 2x slower) | {share:.1%} | - | - | >= 95% |")


if __name__ == "__main__":
    main()
