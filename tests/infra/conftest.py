"""Fixtures for the infrastructure tests: offline Terraform, a throwaway copy of infra/, and a moto server.

Everything here runs without network access. Terraform installs hashicorp/aws from the filesystem mirror that ships
with the machine (found, not hard-coded), through a CLI config file written for the session, and works on a copy of
infra/ so no .terraform folder or lock file lands in the repository.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA_DIR = REPO_ROOT / "infra"
MODULES = ("model-store", "inference-function", "gpu-endpoint")
ENVS = ("dev",)
ROOTS = tuple(f"modules/{m}" for m in MODULES) + tuple(f"envs/{e}" for e in ENVS)

# Set this to a mirror root (the folder that holds registry.terraform.io/) to skip the search.
MIRROR_ENV_VAR = "AIAAS_TF_PROVIDER_MIRROR"
# Where filesystem mirrors usually live; searched before the whole disk.
LIKELY_MIRROR_PARENTS = (
    "/opt",
    "/usr/local/share/terraform",
    "/usr/share/terraform",
    "~/.terraform.d",
    "~/.local/share/terraform",
    "/usr/local",
    "/srv",
)
PROVIDER_GLOB = "terraform-provider-aws_*"

log = logging.getLogger("tests.infra")


def _mirror_root_of(provider_file: Path) -> Path | None:
    for parent in provider_file.parents:
        if parent.name == "registry.terraform.io":
            return parent.parent
    return None


def _find_provider(root: str, maxdepth: int) -> Path | None:
    """First hashicorp/aws provider under root (find -quit stops at the first hit, so this is fast)."""
    cmd = [
        "find", root, "-maxdepth", str(maxdepth),
        "(", "-path", "/proc", "-o", "-path", "/sys", "-o", "-path", "*/.terraform", ")", "-prune",
        "-o", "-name", PROVIDER_GLOB, "-path", "*registry.terraform.io/hashicorp/aws/*", "-print", "-quit",
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False).stdout.strip()
    return Path(out.splitlines()[0]) if out else None


def _holds_aws_provider(root: Path) -> bool:
    return (root / "registry.terraform.io" / "hashicorp" / "aws").is_dir()


def find_provider_mirror(cache_file: Path | None = None) -> Path:
    """Mirror root holding registry.terraform.io/hashicorp/aws, or raise with what was searched.

    An explicit AIAAS_TF_PROVIDER_MIRROR wins; then the root remembered in cache_file (if it still holds the
    provider); then a search of the usual places, and of the whole disk last. A found root is written to cache_file.
    """
    configured = os.environ.get(MIRROR_ENV_VAR)
    if configured:
        root = Path(configured).expanduser()
        if _holds_aws_provider(root):
            return root
        raise FileNotFoundError(f"{MIRROR_ENV_VAR}={configured} holds no registry.terraform.io/hashicorp/aws")
    if cache_file is not None and cache_file.is_file():
        cached = Path(cache_file.read_text().strip())
        if _holds_aws_provider(cached):
            return cached
    searched = []
    for parent in [*(os.path.expanduser(p) for p in LIKELY_MIRROR_PARENTS), "/"]:
        if not os.path.isdir(parent):
            continue
        searched.append(parent)
        hit = _find_provider(parent, maxdepth=8)
        found = _mirror_root_of(hit) if hit else None
        if found is not None:
            if cache_file is not None:
                cache_file.write_text(f"{found}\n")
            return found
    raise FileNotFoundError(
        f"No {PROVIDER_GLOB} below registry.terraform.io/hashicorp/aws in {searched}; "
        f"set {MIRROR_ENV_VAR} to the mirror root"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize `tf_module` over the modules and `tf_root` over every root module (modules and envs)."""
    if "tf_module" in metafunc.fixturenames:
        metafunc.parametrize("tf_module", MODULES)
    if "tf_tested_root" in metafunc.fixturenames:
        metafunc.parametrize("tf_tested_root", [r for r in ROOTS if (INFRA_DIR / r / "tests").is_dir()])
    if "tf_root" in metafunc.fixturenames:
        metafunc.parametrize("tf_root", ROOTS)


@pytest.fixture(scope="session")
def infra_dir() -> Path:
    """infra/ in the repository (read-only use: init and apply happen in infra_copy)."""
    return INFRA_DIR


@dataclass
class Terraform:
    """Runs terraform offline against the session's CLI config and records how long each command took."""

    binary: str
    env: dict[str, str]
    timings: dict[str, float] = field(default_factory=dict)

    def run(
        self,
        *args: str,
        cwd: Path,
        extra_env: Mapping[str, str] | None = None,
        timeout: float = 300,
        ok_codes: tuple[int, ...] = (0,),
        label: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        env = {**self.env, **(extra_env or {})}
        start = time.monotonic()
        proc = subprocess.run(
            [self.binary, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
        elapsed = time.monotonic() - start
        name = label or f"{args[0]} {cwd.name}"
        self.timings[name] = elapsed
        log.info("terraform %s: %.1f s (exit %d)", name, elapsed, proc.returncode)
        if proc.returncode not in ok_codes:
            raise AssertionError(
                f"terraform {' '.join(args)} in {cwd} exited {proc.returncode}\n"
                f"--- stdout (tail) ---\n{proc.stdout[-6000:]}\n--- stderr (tail) ---\n{proc.stderr[-6000:]}"
            )
        return proc

    def init(
        self, cwd: Path, extra_env: Mapping[str, str] | None = None, label: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.run(
            "init", "-input=false", "-no-color", cwd=cwd, extra_env=extra_env, label=label or f"init {cwd.name}"
        )


@pytest.fixture(scope="session")
def provider_mirror() -> Path:
    # Remembered across sessions beside pytest's own temp folders, so the slow whole-disk search runs once.
    cache_file = Path(tempfile.gettempdir()) / f"aiaas-tf-provider-mirror-{os.getuid()}.txt"
    try:
        return find_provider_mirror(cache_file)
    except FileNotFoundError as exc:
        pytest.fail(f"hashicorp/aws provider mirror not found: {exc}")


@pytest.fixture(scope="session")
def terraform(provider_mirror: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Terraform]:
    """Terraform runner for the session; prints (pytest -s) and logs how long each command took at the end."""
    binary = shutil.which("terraform")
    if binary is None:
        pytest.fail("terraform is not on PATH (the infra tests need Terraform >= 1.7 for mock providers)")
    config_dir = tmp_path_factory.mktemp("terraform-cli")
    cli_config = config_dir / "terraform.rc"
    cli_config.write_text(
        f'provider_installation {{\n  filesystem_mirror {{\n    path = "{provider_mirror}"\n  }}\n}}\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "AWS_"))}
    env.update(
        TF_CLI_CONFIG_FILE=str(cli_config),
        TF_IN_AUTOMATION="1",
        TF_INPUT="0",
        CHECKPOINT_DISABLE="1",
        # Never read a developer's AWS profile or credentials by accident.
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )
    runner = Terraform(binary=binary, env=env)
    yield runner
    if runner.timings:
        report = "terraform timings:\n" + "\n".join(
            f"  {name:<36} {seconds:6.1f} s" for name, seconds in runner.timings.items()
        )
        print(f"\n{report}")
        log.info(report)


@pytest.fixture(scope="session")
def infra_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of infra/ to init and apply in; relative module sources keep working."""
    dest = tmp_path_factory.mktemp("infra") / "infra"
    shutil.copytree(
        INFRA_DIR,
        dest,
        ignore=shutil.ignore_patterns(
            ".terraform", ".terraform.lock.hcl", "*.tfstate*", "terraform.tfvars", "*.tfplan"
        ),
    )
    return dest


@pytest.fixture(scope="session")
def offline_checks(terraform: Terraform, infra_copy: Path) -> dict[str, dict[str, Any]]:
    """init + validate of every root, and `terraform test` where it has tests/, in parallel once per session.

    Returns {root: {"validate": result, "test": result}} where a result is the CompletedProcess, or the
    AssertionError that Terraform.run raised; the tests that read a result re-raise it.
    """

    def check(root: str) -> dict[str, Any]:
        results: dict[str, Any] = {}
        folder = infra_copy / root
        try:
            terraform.init(folder, label=f"init {root}")
            results["validate"] = terraform.run("validate", "-no-color", cwd=folder, label=f"validate {root}")
            if (folder / "tests").is_dir():
                results["test"] = terraform.run("test", "-no-color", cwd=folder, timeout=300, label=f"test {root}")
        except AssertionError as exc:
            results.setdefault("validate", exc)
            results.setdefault("test", exc)
        return results

    # Each terraform process is CPU-bound (the AWS provider schema is large): one per core.
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        return dict(zip(ROOTS, pool.map(check, ROOTS), strict=True))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_answering(url: str, proc: subprocess.Popen[bytes], deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto server exited with {proc.returncode} before answering")
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=1) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise RuntimeError(f"moto server at {url} did not answer within {deadline_s:.0f} s")


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto server (every AWS service on one port) on a free loopback port; yields its endpoint URL."""
    try:
        import moto.server  # noqa: F401
    except ImportError as exc:
        pytest.fail(f"moto[server] is not installed in this environment ({exc}): pip install 'moto[server]'")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp("moto") / "moto_server.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            try:
                _wait_until_answering(url, proc, deadline_s=30)
            except RuntimeError as exc:
                pytest.fail(f"{exc}\n{log_path.read_text(errors='replace')[-3000:]}")
            log.info("moto server on %s (log: %s)", url, log_path)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@pytest.fixture(scope="session")
def moto_aws_env(moto_server: str) -> dict[str, str]:
    """Environment that points the AWS provider (and boto3) at the moto server."""
    return {
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
