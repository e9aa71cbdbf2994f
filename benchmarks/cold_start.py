"""Cold start: a fresh process that imports `sdk`, verifies, loads and answers once, against a raw ONNX Runtime
process doing the same (read the file, sha256 it, build an ``InferenceSession``, run once), in the same run.

    .venv/bin/python benchmarks/cold_start.py [--minilm DIR] [--repeats 7] [--baseline-sdk DIR] [--core-python PY]
           [--no-ric] [--lambda-memory MB] [--editable]

Rows, each a fresh ``python -c`` process timed from spawn to its first answer (the child reports ``time.monotonic()``
when it has answered; on Linux that clock is shared by every process), for the shipped digits CNN (embedded) and
MiniLM int8 (compiled from its recipe into a temp dir, or ``--minilm DIR`` holding ``sdk compile minilm-l6
--precision fp32,int8``):
- ``raw ORT``: ``import onnxruntime``, read, sha256, ``InferenceSession`` (the runtime's session options: no spinning,
  one inter-op thread), run once. MiniLM's row loads ``model.int8.onnx`` (ONNX Runtime's int8).
- ``sdk``: ``import sdk; sdk.load(path)(tensors)`` with ``AIAAS_USAGE=oneshot`` (a process that answers once) and
  the default precision (the runtime picks the artifact).
- ``sdk server``: the same with ``AIAAS_USAGE=server`` (a long-lived process: the engine measured fastest per call).
- ``lambda init``: ``functions/aws_lambda/handler.py`` imported with ``MODEL_URI`` on the local folder (Powertools,
  ``sdk``, verify, load, warm up), then one function URL infer event; ``AWS_LAMBDA_FUNCTION_NAME`` set (as in
  Lambda) and the cache home unwritable (Lambda's home is read-only), tracing off (no X-Ray daemon here).
- ``raw ORT handler (Lambda RIC)`` and ``lambda handler (Lambda RIC)``: a Lambda cold start as Lambda runs it. AWS's
  runtime interface client (``python -m awslambdaric module.handler``, what the Python base image starts) against an
  emulated Runtime API that hands it one function URL infer event and timestamps the answer
  (benchmarks/_lambda_runtime.py): a raw ONNX Runtime handler (init: read, sha256, session; the event's JSON parsed,
  run, answered as JSON) and ``functions/aws_lambda/handler.py``, ``AWS_LAMBDA_FUNCTION_MEMORY_SIZE`` set
  (``--lambda-memory``, 2048 as infra/'s default). The ratio is to the raw handler: both pay the client's own start.
  Skipped, with a message, where awslambdaric is not installed (the dev extra has it); ``--no-ric`` skips them.
- ``sdk (baseline)`` / ``lambda init (baseline)`` (and ``lambda handler (Lambda RIC) (baseline)``), with
  ``--baseline-sdk DIR``: the same with an older ``sdk`` and ``functions`` from DIR (e.g. ``git archive HEAD sdk
  functions | tar -x -C DIR``) first on ``PYTHONPATH``, and ``AIAAS_PRECISION=int8`` for MiniLM (before the default
  precision changed, int8 ran only when asked for).
Every child runs on a bare virtual environment's interpreter with this environment's packages and the code under test
on ``PYTHONPATH``, as an installed package runs: this environment's editable install of the project starts a finder
in every interpreter (~8-11 ms, pathlib and urllib imported before the program), which flattered every ratio (a
constant in both terms; pathlib paid ahead for `sdk`). ``--editable`` runs them on this environment's interpreter.
Every row runs once per round, rounds interleaved (row order rotated each round) so machine noise hits every row
alike; the first round is a warm-up (bytecode written, page cache filled, choice cache made) and is not counted.
Bytecode is cached in a temp dir (``PYTHONPYCACHEPREFIX``), as an installed package has it.
Reported: median and spread (min-max) of the cold start, the phases inside the child (import, load, answer), and the
median of per-round ratios to the raw ORT row (the raw handler's for the RIC rows); and the child's CPU time (user +
system, every thread, from ``getrusage``), which other processes on a shared machine disturb far less than the wall
clock. Then ``import sdk`` (and ``sdk.runtime.model``, what ``sdk.load`` imports first, and ``sdk.client``) under ``-X
importtime`` (median of the repeats): in this environment, and with ``--core-python`` on a core-only install (e.g.
.venvs/core/bin/python, which tests/sdk/test_core_install.py builds), this checkout's ``sdk`` (and the baseline's)
first on its path. ``--models digits`` skips MiniLM (no compile).
The CPU model and its vector flags are printed beside the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import _lambda_runtime  # noqa: E402  (beside this file)

MARK = "COLD_START_RESULT "

RAW = """
import sys, time, json
import hashlib
import numpy as np
import onnxruntime as ort
t1 = time.monotonic()
path, sha, spec = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
SESSION
t2 = time.monotonic()
session.run(None, {k: np.array(v, dtype=d) for k, (d, v) in spec.items()})
t3 = time.monotonic()
print("MARK" + json.dumps({"import": t1, "load": t2, "answered_at": t3, "artifact": path.rsplit("/", 1)[-1]}))
""".replace("MARK", MARK).replace("SESSION\n", _lambda_runtime.RAW_SESSION)

SDK = """
import sys, time, json
import sdk
t1 = time.monotonic()
model = sdk.load(sys.argv[1])
t2 = time.monotonic()
import numpy as np
model({k: np.array(v, dtype=d) for k, (d, v) in json.loads(sys.argv[3]).items()})
t3 = time.monotonic()
info = model.info
print("MARK" + json.dumps({"import": t1, "load": t2, "answered_at": t3, "artifact": info.artifact,
                           "runtime": info.runtime}))
""".replace("MARK", MARK)

LAMBDA_HANDLER = "functions.aws_lambda.handler.handler"
RAW_RIC = "raw ORT handler (Lambda RIC)"

LAMBDA = """
import sys, time, json, types, base64
sys.path.append(sys.argv[4])  # after PYTHONPATH: a baseline sdk there comes first
import functions.aws_lambda.handler as handler
t2 = time.monotonic()
event = json.loads(sys.argv[3])  # function_url_event's, as the RIC rows get it
context = types.SimpleNamespace(function_name="cold-start", function_version="$LATEST", memory_limit_in_mb=1769,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:cold-start", aws_request_id="r1",
    log_group_name="/aws/lambda/cold-start", log_stream_name="s",
    get_remaining_time_in_millis=lambda: 30000)
answer = handler.handler(event, context)
t3 = time.monotonic()
assert answer["statusCode"] == 200, answer
info = handler.SERVICE.repository.loaded()[0].info
print("MARK" + json.dumps({"import": t2, "load": t2, "answered_at": t3, "artifact": info.artifact,
                           "runtime": info.runtime}))
""".replace("MARK", MARK)


@dataclass
class Row:
    label: str
    model: str
    code: str  # the child's `python -c` program, or for a "ric" row the handler's name (module.function)
    args: list[str]
    env: dict[str, str]
    python: str = sys.executable
    kind: str = "python"  # or "ric": started by awslambdaric and given one event (benchmarks/_lambda_runtime.py)
    event: dict[str, Any] = field(default_factory=dict)
    starts: list[float] = field(default_factory=list)
    phases: list[tuple[float, float, float]] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # the child's CPU time (user + system, all threads), s
    ran: set[str] = field(default_factory=set)

    @property
    def versus(self) -> str:
        """The row the ratios are taken against: the raw process, or under the runtime client the raw handler."""
        return RAW_RIC if self.kind == "ric" else "raw ORT"


def cpu() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown CPU"
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "?")
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    wanted = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile") if f in flags]
    return f"{model}, {os.cpu_count()} cores ({' '.join(wanted) or 'no avx2'})"


def base_env(scratch: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIAAS_", "PYTHON", "AWS_", "POWERTOOLS_"))}
    env.update(
        PYTHONPYCACHEPREFIX=str(scratch / "pycache"),
        XDG_CACHE_HOME=str(scratch / "cache"),
        HF_HUB_OFFLINE="1",
        AIAAS_STORE=str(scratch / "store"),
        AIAAS_AUDIT="0",
        # Not the checkout: `python -c` puts its working directory first on sys.path, ahead of a baseline sdk.
        AIAAS_BENCH_CWD=str(scratch),
    )
    return env


def run_once(row: Row, api: Any, scratch: Path) -> None:
    if row.kind == "ric":
        seconds, cpu_s, _ = api.invoke(
            row.python, row.code, row.event, row.env, row.env["LAMBDA_TASK_ROOT"], scratch / "ric.log"
        )
        row.starts.append(seconds)
        row.cpu.append(cpu_s)
        row.ran.add(row.code)
        return
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    done = subprocess.run(
        [row.python, "-c", row.code, *row.args],
        capture_output=True,
        text=True,
        env=row.env,
        cwd=row.env["AIAAS_BENCH_CWD"],
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    row.cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"{row.label} ({row.model}) failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    line = next(line for line in done.stdout.splitlines() if line.startswith(MARK))
    result = json.loads(line[len(MARK) :])
    row.starts.append(result["answered_at"] - start)
    row.phases.append(
        (result["import"] - start, result["load"] - result["import"], result["answered_at"] - result["load"])
    )
    row.ran.add(f"{result['artifact']}" + (f" ({result['runtime']})" if "runtime" in result else ""))


def compile_minilm(out: Path) -> Path:
    print(f"compiling MiniLM (fp32, int8) into {out} ...", file=sys.stderr)
    command = [sys.executable, "-c", "from sdk.cli import main; main()", "compile", "minilm-l6", "--out", str(out)]
    subprocess.run(
        [*command, "--precision", "fp32,int8"], check=True, cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"}
    )
    return out


def minilm_spec(folder: Path) -> dict[str, tuple[str, list[list[int]]]]:
    """One real held-out sentence, tokenized as the artifact's own processor does (no padding)."""
    from sdk.runtime import load

    sys.path.insert(0, str(ROOT))
    from models.minilm_l6.recipe import sentences

    with load(folder, config=_config()) as model:
        assert model.processors is not None
        feeds = model.processors.encode(sentences()[-1]).feeds
    return {k: (str(v.dtype), v.tolist()) for k, v in feeds.items()}


def _config() -> Any:
    """Settings that skip any measuring: this load only tokenizes."""
    from sdk.runtime.config import RuntimeConfig

    return RuntimeConfig(backend="onnxruntime", warmup_runs=0, precision="fp32")


def build_rows(args: argparse.Namespace, scratch: Path, minilm: Path | None) -> list[Row]:
    from sdk.artifacts import read_manifest
    from sdk.artifacts.store import BUILTIN_ROOT

    models: dict[str, tuple[Path, str, dict[str, Any], str]] = {}
    if "digits" in args.models:
        digits_spec = {"image": ("float32", [[[[0.5] * 8] * 8]])}
        models["digits"] = (BUILTIN_ROOT / "digits-cnn" / "1", "model.onnx", digits_spec, "digits-cnn")
    if minilm is not None:
        models["minilm int8"] = (minilm, "model.int8.onnx", minilm_spec(minilm), str(minilm))
    env = base_env(scratch)
    site = _lambda_runtime.site_packages()
    python = sys.executable if args.editable else _lambda_runtime.bare_python(scratch / "bare-venv")

    def path(tree: Path, *more: Path | str) -> dict[str, str]:
        """PYTHONPATH for a child: the code first, then (with the bare interpreter) this environment's packages."""
        return {"PYTHONPATH": os.pathsep.join([str(tree), *map(str, more), *([] if args.editable else [site])])}

    lambda_env = {
        **env,
        "AWS_LAMBDA_FUNCTION_NAME": "cold-start",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "cold-start",
        "AIAAS_CACHE_DIR": str(scratch / "lambda-cache"),
        # Lambda's home is read-only: the choice cache and OpenVINO's compiled-model cache cannot be written there.
        "XDG_CACHE_HOME": str(scratch / "read-only-home" / "cache"),
    }
    (scratch / "read-only-home").write_text("a file, so nothing can be created under it")
    ric = args.ric and _lambda_runtime.installed()
    if args.ric and not ric:
        print(
            "no awslambdaric here (pip install awslambdaric, or the dev extra): the Lambda rows under the runtime"
            " interface client are skipped",
            file=sys.stderr,
        )
    raw_task = scratch / "raw-task"
    raw_handler = _lambda_runtime.write_raw_handler(raw_task)
    ric_env = {
        **lambda_env,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(args.lambda_memory),
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/cold-start",
        "AWS_LAMBDA_LOG_STREAM_NAME": "cold-start",
    }
    rows: list[Row] = []
    for model, (folder, file, spec, ref) in models.items():
        manifest = read_manifest(folder)
        sha = next(a.sha256 for a in manifest.artifacts if a.file == file)
        feeds = json.dumps(spec)
        event = function_url_event(manifest.name, spec)
        here = path(ROOT)
        rows.append(Row("raw ORT", model, RAW, [str(folder / file), sha, feeds], {**env, **here}, python))
        rows.append(Row("sdk", model, SDK, [ref, "", feeds], {**env, **here, "AIAAS_USAGE": "oneshot"}, python))
        rows.append(Row("sdk server", model, SDK, [ref, "", feeds], {**env, **here, "AIAAS_USAGE": "server"}, python))
        lambda_args = [ref, "", json.dumps(event), str(ROOT)]
        own = {**lambda_env, **here, "MODEL_URI": str(folder)}
        rows.append(Row("lambda init", model, LAMBDA, lambda_args, own, python))
        old: dict[str, str] = {}
        if args.baseline_sdk:
            old = path(args.baseline_sdk) | ({"AIAAS_PRECISION": "int8"} if "int8" in model else {})
            baseline_env = {**env, **old, "AIAAS_USAGE": "oneshot"}  # as the sdk row
            rows.append(Row("sdk (baseline)", model, SDK, [ref, "", feeds], baseline_env, python))
            old_lambda = {**lambda_env, **old, "MODEL_URI": str(folder)}
            rows.append(Row("lambda init (baseline)", model, LAMBDA, lambda_args, old_lambda, python))
        if ric:
            raw_env = {**ric_env, **path(raw_task), "LAMBDA_TASK_ROOT": str(raw_task)}
            raw_env |= {"RAW_MODEL_PATH": str(folder / file), "RAW_MODEL_SHA256": sha}
            rows.append(Row(RAW_RIC, model, raw_handler, [], raw_env, python, "ric", event))
            trees = [("", ROOT, {})]
            if args.baseline_sdk:
                trees.append((" (baseline)", args.baseline_sdk, {k: v for k, v in old.items() if k != "PYTHONPATH"}))
            for suffix, tree, extra in trees:
                task_env = {**ric_env, **path(tree), "LAMBDA_TASK_ROOT": str(tree)}
                task_env |= {"MODEL_URI": str(folder), **extra}
                label = f"lambda handler (Lambda RIC){suffix}"
                rows.append(Row(label, model, LAMBDA_HANDLER, [], task_env, python, "ric", event))
    return rows


def function_url_event(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The function URL event of one JSON infer request for ``name`` with ``spec``'s tensors (the tests' event): what
    the Lambda rows, in-process or under the runtime client, are given."""
    import numpy as np

    arrays = {k: np.array(v, dtype=d) for k, (d, v) in spec.items()}
    body = {
        "inputs": [
            {
                "name": k,
                "datatype": "INT64" if a.dtype == np.int64 else "FP32",
                "shape": list(a.shape),
                "data": a.ravel().tolist(),
            }
            for k, a in arrays.items()
        ]
    }
    event: dict[str, Any] = json.loads((ROOT / "tests/functions/events/function_url_infer_json.json").read_text())
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/v2/models/{name}/infer"
    event["body"] = json.dumps(body)
    return event


def import_time(python: str, module: str, env: dict[str, str]) -> float:
    """Microseconds ``import module`` takes as ``-X importtime`` reports it: the cumulative times of the top-level
    imports the statement makes (after the interpreter's own start-up, which ends with ``site``)."""
    done = subprocess.run(
        [python, "-X", "importtime", "-c", f"import {module}"], capture_output=True, text=True, env=env, cwd="/"
    )
    if done.returncode != 0:
        raise SystemExit(f"{python} could not import {module}:\n{done.stderr[-2000:]}")
    lines = [line.split("|") for line in done.stderr.splitlines() if line.startswith("import time:")]
    rows = [(float(cells[1]), cells[2]) for cells in lines if cells[1].strip().isdigit()]
    after_site = [i for i, (_, name) in enumerate(rows) if name.strip() == "site" and name == name.rstrip()]
    start = after_site[-1] + 1 if after_site else 0
    return sum(us for us, name in rows[start:] if not name.startswith("  "))


def report(rows: list[Row], repeats: int) -> None:
    print(f"\ncold start to the first answer, fresh process, {repeats} interleaved rounds after a warm-up round (ms)")
    print(
        "| model | row | median | min-max | import / load / answer (medians) | vs raw ORT (median of rounds) "
        "| CPU (median) | CPU vs raw ORT | ran |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    raws = {(r.model, r.label): r for r in rows}
    for row in rows:
        raw = raws[(row.model, row.versus)]
        ratios = [a / b for a, b in zip(row.starts, raw.starts)]
        cpu_ratios = [a / b for a, b in zip(row.cpu, raw.cpu)]
        phases = " / ".join(f"{statistics.median(p) * 1000:.0f}" for p in zip(*row.phases)) or "-"
        # A child that could not read its CPU time (no resource module) leaves those cells empty.
        cpu_cells = (
            f"{statistics.median(row.cpu) * 1000:.0f} | {statistics.median(cpu_ratios):.2f}x" if cpu_ratios else "- | -"
        )
        print(
            f"| {row.model} | {row.label} | {statistics.median(row.starts) * 1000:.0f} | "
            f"{min(row.starts) * 1000:.0f}-{max(row.starts) * 1000:.0f} | {phases} | "
            f"{statistics.median(ratios):.2f}x{'' if row.versus == 'raw ORT' else ' (vs ' + row.versus + ')'} | "
            f"{cpu_cells} | {', '.join(sorted(row.ran))} |"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--minilm", type=Path, default=None, help="a MiniLM artifact folder with int8 (default: compile)"
    )
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--baseline-sdk", type=Path, default=None, help="a folder holding an older `sdk` package and its `functions`"
    )
    parser.add_argument("--core-python", default=None, help="python of a core-only install, for `import sdk`")
    parser.add_argument("--models", default="digits,minilm", help="comma-separated: digits, minilm")
    parser.add_argument(
        "--no-ric", dest="ric", action="store_false", help="skip the rows under AWS's runtime interface client"
    )
    parser.add_argument("--lambda-memory", type=int, default=2048, help="the function's memory, MB (the module's)")
    parser.add_argument(
        "--editable",
        action="store_true",
        help="run the children on this environment's interpreter (its editable install's finder at every start-up)"
        " instead of a bare one with the packages on PYTHONPATH, as an installed package runs",
    )
    args = parser.parse_args(argv)
    print(f"CPU: {cpu()}")
    with tempfile.TemporaryDirectory(prefix="cold-start-") as tmp:
        scratch = Path(tmp)
        minilm = None
        if "minilm" in args.models:
            minilm = args.minilm or compile_minilm(scratch / "minilm")
        rows = build_rows(args, scratch, minilm)
        api = _lambda_runtime.RuntimeApi()
        for round_ in range(args.repeats + 1):
            shift = round_ % len(rows)
            for row in rows[shift:] + rows[:shift]:
                run_once(row, api, scratch)
            if round_ == 0:  # the warm-up round
                for row in rows:
                    row.starts.clear()
                    row.phases.clear()
                    row.cpu.clear()
                    row.ran.clear()
        api.close()
        report(rows, args.repeats)
        env = base_env(scratch)
        pythons = [("this environment", sys.executable)]
        if args.core_python:
            pythons.append(("core install", str(Path(args.core_python).absolute())))
        trees = [("this checkout", ROOT)] + ([("baseline", args.baseline_sdk)] if args.baseline_sdk else [])
        modules = ("sdk", "sdk.runtime.model", "sdk.client")
        print(f"\n`-X importtime`, ms (top-level imports of the statement, cumulative), median of {args.repeats}")
        print("| python | sdk | import sdk | import sdk.runtime.model (what sdk.load imports) | import sdk.client |")
        print("|---|---|---|---|---|")
        for label, python in pythons:
            for tree, path in trees:
                path_env = {**env, "PYTHONPATH": str(path)}
                for module in modules:
                    import_time(python, module, path_env)  # bytecode written once
                cells = [
                    statistics.median(import_time(python, module, path_env) for _ in range(args.repeats))
                    for module in modules
                ]
                print(f"| {label} | {tree} | " + " | ".join(f"{c / 1000:.1f}" for c in cells) + " |")


if __name__ == "__main__":
    main()
