"""What the decision log costs a call: `DecisionLog.record_decision` on vs off, and the router's decision with it.

    python benchmarks/audit_log.py [--calls 200000]

1. record(): median ns per `record_decision(...)` with the log on (a real folder, default flush settings, the
   background thread writing as it would in an app) and off (`AIAAS_AUDIT=0`: the no-op log), timed in blocks of
   100 calls (a clock read costs about as much as the call), blocks interleaved on/off; ratio in the same run.
2. Router + log: `Router.plan` for a public auto call followed by `record_decision`, against `Router.plan` alone,
   interleaved, medians (the issue's bar: the router's added cost stays <= 20 us with the log on).
3. A simulated call (`Router.plan`, 50 us of work standing in for inference, `record_decision`): p50 and p99 with
   the log on and off, interleaved in blocks: the background flush shares the GIL with the app, and this shows
   whether it reaches the tail.
4. Background: CPU seconds the flush spends per record (canonical JSON, sha256, the append), off the call's path
   but on the same machine.
The CPU model and its vector flags are printed beside the figures (results differ across machines).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from sdk.client import Availability, LatencyModel, Mode, Privacy, Route, Router, RouterPolicy
from sdk.client.audit import DecisionLog
from sdk.client.decision import Attempt, Decision, Reason

UP = Availability(True)
BLOCK = 100


def cpu() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown CPU"
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "?")
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    wanted = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile") if f in flags]
    return f"{model} ({' '.join(wanted) or 'no avx2'})"


def decision() -> Decision:
    return Decision(
        route=Route.LOCAL,
        reason=Reason.FASTER,
        explanation="local predicted faster",
        privacy=Privacy.PUBLIC,
        mode=Mode.AUTO,
        attempts=[Attempt(Route.LOCAL, True, ms=1.0)],
    )


def record(log: DecisionLog, made: Decision) -> None:
    log.record_decision(
        made,
        model_ref="digits-cnn",
        version="1",
        artifact_sha256="ab" * 32,
        privacy_source="client_default",
        sent_bytes=0,
        endpoint=None,
    )


def per_record(on: DecisionLog, off: DecisionLog, calls: int) -> tuple[float, float]:
    made = decision()
    times: dict[bool, list[float]] = {True: [], False: []}
    clock = time.perf_counter_ns
    for i in range(calls // BLOCK):
        for enabled in (True, False) if i % 2 == 0 else (False, True):
            log = on if enabled else off
            start = clock()
            for _ in range(BLOCK):
                record(log, made)
            times[enabled].append((clock() - start) / BLOCK)
    return statistics.median(times[True]), statistics.median(times[False])


def router_with_log(log: DecisionLog, calls: int) -> tuple[float, float]:
    router = Router(LatencyModel(), RouterPolicy(), rng=random.Random(0))
    for route, ms in ((Route.LOCAL, 2.0), (Route.CLOUD, 5.0)):
        for _ in range(20):
            router.latency.observe("m", route, ms)
    made = decision()
    times: dict[bool, list[int]] = {True: [], False: []}
    clock = time.perf_counter_ns
    for i in range(calls):
        for logged in (True, False) if i % 2 == 0 else (False, True):
            start = clock()
            router.plan("m", privacy=Privacy.PUBLIC, mode=Mode.AUTO, local=UP, cloud=UP, payload_bytes=256)
            if logged:
                record(log, made)
            times[logged].append(clock() - start)
    return statistics.median(times[True]) / 1000, statistics.median(times[False]) / 1000


def busy(us: float) -> None:
    end = time.perf_counter_ns() + us * 1000
    while time.perf_counter_ns() < end:
        pass


def simulated_calls(on: DecisionLog, off: DecisionLog, calls: int) -> dict[bool, tuple[float, float]]:
    router = Router(LatencyModel(), RouterPolicy(), rng=random.Random(0))
    made = decision()
    times: dict[bool, list[int]] = {True: [], False: []}
    clock = time.perf_counter_ns
    for block in range(calls // 1000):
        enabled = block % 2 == 0
        log = on if enabled else off
        for _ in range(1000):
            start = clock()
            router.plan("m", privacy=Privacy.PUBLIC, mode=Mode.AUTO, local=UP, cloud=UP, payload_bytes=256)
            busy(50)
            record(log, made)
            times[enabled].append(clock() - start)
    out = {}
    for enabled, found in times.items():
        found.sort()
        out[enabled] = (found[len(found) // 2] / 1000, found[int(len(found) * 0.99)] / 1000)
    return out


def background(folder: Path, records: int) -> float:
    log = DecisionLog(folder, flush_interval_s=3600, flush_records=10**9)
    made = decision()
    for _ in range(records):
        record(log, made)
    start = time.process_time()
    log.close()
    return (time.process_time() - start) / records * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        on = DecisionLog(Path(tmp) / "on")
        off = DecisionLog(Path(tmp) / "off", enabled=False)
        record(on, decision())  # starts the background thread before timing
        on_ns, off_ns = per_record(on, off, args.calls)
        routed_on, routed_off = router_with_log(on, args.calls // 10)
        tail = simulated_calls(on, off, args.calls // 10)
        on.close()
        flush_us = background(Path(tmp) / "bg", 20_000)
    print(f"CPU: {cpu()}")
    print("| measure | log on | log off | ratio / added | target |")
    print("|---|---|---|---|---|")
    ratio = on_ns / off_ns
    print(f"| record_decision(), median per call | {on_ns:.0f} ns | {off_ns:.0f} ns | {ratio:.1f}x | a few us |")
    print(
        f"| Router.plan + record_decision, median | {routed_on:.1f} us | {routed_off:.1f} us (plan alone) | "
        f"+{routed_on - routed_off:.1f} us | <= 20 us in all |"
    )
    (p50_on, p99_on), (p50_off, p99_off) = tail[True], tail[False]
    print(
        f"| simulated call (plan + 50 us + record), p50 / p99 | {p50_on:.0f} / {p99_on:.0f} us | "
        f"{p50_off:.0f} / {p99_off:.0f} us | p99 {p99_on / p99_off:.2f}x | no visible tail |"
    )
    print(f"| background flush CPU per record | {flush_us:.1f} us | - | - | off the call's path |")


if __name__ == "__main__":
    main()
