"""The install a user makes first: `pip install aiaas-sdk`, nothing else (httpx, numpy, typer and what they need).

The suite otherwise runs in the full test environment, where every extra is present and a missing dependency (click,
which typer >= 0.26 no longer brings) goes unnoticed. Here a wheel of the project is built and installed into an
environment of its own, with the releases constraints.txt pins, and the CLI and the client are used from there:
every command's --help, `import sdk`, a cloud call through the client to a real `sdk serve`, and the one-line
`MissingDependency` error (with the pip command) for every command that needs an extra.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

from sdk.demo.stack import Server, start_serve
from tests.partial_install import strict

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CORE = {"httpx", "numpy", "typer"}
HEAVY = ("onnxruntime", "torch", "tensorflow", "tensorrt", "boto3", "botocore", "onnx", "uvicorn", "cryptography")


class CoreEnv:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.python = root / "bin" / "python"
        self.sdk = root / "bin" / "sdk"

    def run(self, *args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None):
        environment = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        environment.update({"COLUMNS": "100", "TERM": "dumb", **(env or {})})
        return subprocess.run(
            [str(a) for a in args], capture_output=True, text=True, cwd=cwd or self.root, env=environment, timeout=120
        )


def wheel_env(name: str, extras: str, wheels: Path) -> CoreEnv:
    """A venv (reused across runs under .venvs/NAME) holding this checkout's wheel with ``extras`` ("" for the core
    dependencies only), installed as the wheel declares them, pinned to what CI tested."""
    # Built with this environment's setuptools (no build isolation: no download), which pyproject's build-system
    # asks to be >= 77 (the license as an SPDX string); a plain `python -m venv` of Python 3.11 has 65.
    try:
        setuptools = metadata.version("setuptools")
    except metadata.PackageNotFoundError:
        setuptools = "none"
    major = setuptools.split(".")[0]
    if not strict() and not (major.isdigit() and int(major) >= 77):
        pytest.skip(f"the wheel build needs setuptools>=77, here: {setuptools} (pip install -U setuptools)")
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheels),
            str(REPO),
        ],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = wheels.glob("aiaas_sdk-*.whl")
    root = REPO / ".venvs" / name
    if not (root / "bin" / "python").exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(root)
    env = CoreEnv(root)
    pip: list[str | Path] = [env.python, "-m", "pip", "--disable-pip-version-check", "-q"]
    # Dependencies as the wheel declares them (pinned to what CI tested); then this checkout's wheel over any older one.
    for step in (
        [*pip, "install", "-c", REPO / "constraints.txt", f"{wheel}[{extras}]" if extras else wheel],
        [*pip, "install", "--no-deps", "--force-reinstall", wheel],
    ):
        done = env.run(*step)
        assert done.returncode == 0, done.stderr[-2000:]
    return env


@pytest.fixture(scope="session")
def core_env(tmp_path_factory: pytest.TempPathFactory) -> CoreEnv:
    """A venv (reused across runs under .venvs/core) holding the project's wheel and its core dependencies only."""
    return wheel_env("core", "", tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="session")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real `sdk serve` of the built-in digits model, from the full environment."""
    server = start_serve(str(tmp_path_factory.mktemp("empty-store")), tmp_path_factory.mktemp("logs") / "serve.log")
    try:
        yield server
    finally:
        server.stop()


def installed(env: CoreEnv) -> set[str]:
    listing = env.run(env.python, "-m", "pip", "list", "--format", "json", "--disable-pip-version-check")
    return {p["name"].lower() for p in json.loads(listing.stdout)}


def test_core_install_holds_only_the_core_dependencies(core_env: CoreEnv) -> None:
    names = installed(core_env)
    assert CORE | {"aiaas-sdk"} <= names
    assert not names & {h.replace("_", "-") for h in HEAVY}, names & set(HEAVY)


def test_every_command_help_runs_on_a_core_install(core_env: CoreEnv) -> None:
    walk = (
        "import json, typer; from sdk.cli import app\n"
        "def walk(p, c):\n"
        "    yield p\n"
        "    for n, s in sorted(getattr(c, 'commands', {}).items()): yield from walk([*p, n], s)\n"
        "print(json.dumps(list(walk([], typer.main.get_command(app)))))"
    )
    listed = core_env.run(core_env.python, "-c", walk)
    assert listed.returncode == 0, listed.stderr
    paths = json.loads(listed.stdout)
    assert ["serve"] in paths and ["models", "list"] in paths
    for path in paths:
        done = core_env.run(core_env.sdk, *path, "--help")
        assert done.returncode == 0, f"sdk {' '.join(path)} --help: {done.stderr[-1500:]}"
        assert "Usage: sdk" in done.stdout
        assert "Traceback" not in done.stderr


def test_import_sdk_on_a_core_install_loads_nothing_heavy(core_env: CoreEnv) -> None:
    code = f"import sys, json, sdk; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    done = core_env.run(core_env.python, "-c", code)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_client_calls_the_cloud_from_a_core_install(core_env: CoreEnv, cloud: Server, digit_7) -> None:
    code = (
        "import json, numpy as np, sdk\n"
        f"with sdk.Client({cloud.url!r}) as c:\n"
        "    r = c.predict('digits-cnn', {'image': np.load('digit.npy')}, mode='cloud_only')\n"
        "print(json.dumps([r.decision.route.value, int(r.outputs['probabilities'].argmax())]))"
    )
    folder = core_env.root / "work"
    folder.mkdir(exist_ok=True)
    import numpy as np

    np.save(folder / "digit.npy", digit_7)
    done = core_env.run(core_env.python, "-c", code, cwd=folder)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["cloud", 7]


@pytest.mark.parametrize(
    ("args", "install"),
    [
        (["predict", "digits-cnn", "--input", "{sample}"], 'pip install "aiaas-sdk[edge]"'),
        (["compile", "digits-cnn", "--out", "{tmp}/out"], 'pip install torch==2.13.0 "aiaas-sdk[compile]"'),
        (["serve", "--port", "0"], 'pip install "aiaas-sdk[serve]"'),
        (["deploy", "{tmp}/out", "--env", "dev"], 'pip install "aiaas-sdk[aws]"'),
        (["keys", "create", "--out", "{tmp}", "--name", "release"], 'pip install "aiaas-sdk[sign]"'),
        (["sign", "{builtin}", "--key", "{tmp}/release.key"], 'pip install "aiaas-sdk[sign]"'),
        (["train", "sunspots-lstm", "--out", "{tmp}/out"], 'pip install torch==2.13.0 "aiaas-sdk[compile]"'),
        (["models", "pull", "digits-cnn", "--env", "dev"], 'pip install "aiaas-sdk[aws]"'),
        (["adapt", "digits-cnn", "--data", "{sample}", "--out", "{tmp}/adapted"], 'pip install "aiaas-sdk[edge]"'),
    ],
    ids=["predict", "compile", "serve", "deploy", "keys", "sign", "train", "pull", "adapt"],
)
def test_a_missing_extra_is_one_line_with_the_pip_command(
    core_env: CoreEnv, tmp_path: Path, args: list[str], install: str
) -> None:
    sample = REPO / "models" / "digits_cnn" / "samples" / "digit_7.npy"
    builtin = REPO / "sdk" / "_embedded" / "digits-cnn" / "1"
    argv = [a.format(sample=sample, tmp=tmp_path, builtin=builtin) for a in args]
    done = core_env.run(core_env.sdk, *argv, cwd=REPO, env={"AIAAS_STORE": str(tmp_path / "store")})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "MissingDependency" in done.stderr
    assert install in done.stderr
    assert "Traceback" not in done.stderr
