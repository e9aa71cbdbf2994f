"""Fixtures for the infrastructure tests: offline Terraform, a throwaway copy of infra/, and a moto server.

Everything here runs without network access. Terraform installs hashicorp/aws from the filesystem mirror that ships
with the machine (found, not hard-coded), through a CLI config file written for the session, and works on a copy of
infra/ so no .terraform folder or lock file lands in the repository.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sdk.demo.stack import find_provider_mirror, offline_terraform_env
from sdk.demo.stack import moto_server as start_moto_server
from sdk.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA_DIR = REPO_ROOT / "infra"
MODULES = ("model-store", "inference-function", "gpu-endpoint")
ENVS = ("dev",)
ROOTS = tuple(f"modules/{m}" for m in MODULES) + tuple(f"envs/{e}" for e in ENVS)


log = logging.getLogger("tests.infra")


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
    except ConfigError as exc:
        pytest.fail(f"hashicorp/aws provider mirror not found: {exc}")


@pytest.fixture(scope="session")
def terraform(provider_mirror: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Terraform]:
    """Terraform runner for the session; prints (pytest -s) and logs how long each command took at the end."""
    binary = shutil.which("terraform")
    if binary is None:
        pytest.fail("terraform is not on PATH (the infra tests need Terraform >= 1.7 for mock providers)")
    env = offline_terraform_env(provider_mirror, tmp_path_factory.mktemp("terraform-cli"))
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


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto server (every AWS service on one port) on a free loopback port; yields its endpoint URL."""
    with start_moto_server(tmp_path_factory.mktemp("moto") / "moto_server.log") as url:
        log.info("moto server on %s", url)
        yield url


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
