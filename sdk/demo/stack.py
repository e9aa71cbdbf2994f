"""The local stand-ins for the cloud: a moto server for the AWS APIs, Terraform run offline against it, and
`sdk serve` as the function. Each is a context manager that stops what it started, on errors and Ctrl-C too.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import field
from pathlib import Path
from typing import Any

from sdk._record import record
from sdk.errors import ConfigError
from sdk.extras import require
from sdk.settings import env, env_text, env_var

MOTO_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@record(kw_only=True)
class StackSettings:
    """The local stack's own settings."""

    provider_mirror: str | None = env(
        "AIAAS_TF_PROVIDER_MIRROR", None, help="folder holding registry.terraform.io/ (Terraform's providers, offline)"
    )


MIRROR_ENV_VAR = env_var(StackSettings, "provider_mirror")
_LIKELY_MIRROR_PARENTS = ("/opt", "/usr/local/share/terraform", "/usr/share/terraform", "~/.terraform.d",
                          "~/.local/share/terraform", "/usr/local", "/srv")  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 15) -> int:
    """Ask the process to stop (SIGTERM: a graceful shutdown), kill it if it does not; its exit status."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait(timeout=timeout)


@contextmanager
def moto_server(log: Path) -> Iterator[str]:
    """A moto server (every AWS API on one port) on a free loopback port; yields its endpoint URL."""
    require("moto.server", purpose="the local AWS stand-in")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise ConfigError(f"the moto server did not start: {log.read_text()[-1000:]}") from None
                time.sleep(0.1)
        yield url
    finally:
        _stop(process)


@record(frozen=False)
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        return _stop(self.process, sig, timeout)

    @property
    def running(self) -> bool:
        return self.process.poll() is None


def start_serve(store: str, log: Path, *args: str, env: Mapping[str, str] | None = None) -> Server:
    """`sdk serve --store STORE --port 0` in its own process; returns once it printed its URL (models loaded)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-c", "from sdk.cli import main; main()", "serve", "--store", store, "--port", "0"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, *args], stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )  # the whole environment, passed on to a process of our own: not a setting read here
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if " at http://" in line:
                return Server(line.split(" at ", 1)[1].split()[0], process, log)
        if process.poll() is not None:
            raise ConfigError(f"sdk serve exited with {process.returncode}: {log.read_text()[-1500:]}")
        time.sleep(0.05)
    _stop(process)
    raise ConfigError(f"sdk serve did not start within 120 s: {log.read_text()[-1500:]}")


# --- Terraform, offline ----------------------------------------------------------------------------------------


def _holds_aws_provider(root: Path) -> bool:
    return (root / "registry.terraform.io" / "hashicorp" / "aws").is_dir()


def find_provider_mirror(cache_file: Path | None = None) -> Path:
    """The filesystem mirror root holding registry.terraform.io/hashicorp/aws: ``AIAAS_TF_PROVIDER_MIRROR``, a
    remembered root, the usual places, then the whole disk (once; the result is remembered in ``cache_file``)."""
    configured = env_text(StackSettings, "provider_mirror")
    if configured:
        if _holds_aws_provider(Path(configured).expanduser()):
            return Path(configured).expanduser()
        raise ConfigError(f"{MIRROR_ENV_VAR}={configured} holds no registry.terraform.io/hashicorp/aws")
    cache_file = cache_file or Path(tempfile.gettempdir()) / f"aiaas-tf-provider-mirror-{os.getuid()}.txt"
    if cache_file.is_file():
        cached = Path(cache_file.read_text().strip())
        if _holds_aws_provider(cached):
            return cached
    searched = []
    for parent in [*(os.path.expanduser(p) for p in _LIKELY_MIRROR_PARENTS), "/"]:
        if not os.path.isdir(parent):
            continue
        searched.append(parent)
        found = subprocess.run(
            ["find", parent, "-maxdepth", "8", "(", "-path", "/proc", "-o", "-path", "/sys", "-o", "-path",
             "*/.terraform", ")", "-prune", "-o", "-name", "terraform-provider-aws_*", "-path",
             "*registry.terraform.io/hashicorp/aws/*", "-print", "-quit"],
            capture_output=True, text=True, timeout=180, check=False,
        ).stdout.strip()  # fmt: skip
        for candidate in Path(found.splitlines()[0]).parents if found else ():
            if candidate.name == "registry.terraform.io":
                cache_file.write_text(f"{candidate.parent}\n")
                return candidate.parent
    raise ConfigError(
        f"no offline hashicorp/aws provider found (searched {', '.join(searched)})",
        hint=f"set {MIRROR_ENV_VAR} to the folder that holds registry.terraform.io/, or run terraform online",
    )


def offline_terraform_env(mirror: Path, workdir: Path) -> dict[str, str]:
    """The environment for terraform offline: providers from ``mirror`` (a CLI config written into ``workdir``), no
    prompts or update checks, and never a developer's own AWS profile or credentials by accident."""
    cli_config = workdir / "terraform.rc"
    cli_config.write_text(f'provider_installation {{\n  filesystem_mirror {{\n    path = "{mirror}"\n  }}\n}}\n')
    # The whole environment, passed on to terraform less what must not leak into it: not a setting read here.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "AWS_"))}
    env.update(
        TF_CLI_CONFIG_FILE=str(cli_config),
        TF_IN_AUTOMATION="1",
        TF_INPUT="0",
        CHECKPOINT_DISABLE="1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


@record(frozen=False)
class Terraform:
    """Terraform on a copy of a configuration, with the provider from the offline mirror and AWS at ``endpoint``."""

    folder: Path
    env: dict[str, str]
    binary: str
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def offline(cls, source: Path, workdir: Path, *, aws_endpoint: str) -> Terraform:
        binary = shutil.which("terraform")
        if binary is None:
            raise ConfigError("terraform is not on PATH", hint="install Terraform >= 1.5")
        copy = workdir / "infra"
        if copy.exists():
            shutil.rmtree(copy)
        shutil.copytree(
            source,
            copy,
            ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*", "terraform.tfvars"),
        )
        env = offline_terraform_env(find_provider_mirror(), workdir)
        env.update(AWS_ENDPOINT_URL=aws_endpoint, **MOTO_CREDENTIALS)
        return cls(copy, env, binary)

    def run(self, root: str, *args: str, timeout: float = 600) -> str:
        start = time.monotonic()
        done = subprocess.run(
            [self.binary, f"-chdir={self.folder / root}", *args, "-no-color"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        self.timings[f"{args[0]} {root}"] = time.monotonic() - start
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-12:]
            raise ConfigError(f"terraform {args[0]} in {root} failed:\n" + "\n".join(tail))
        return done.stdout

    def apply(self, root: str, variables: Mapping[str, Any]) -> None:
        var_file = self.folder / root / "demo.auto.tfvars.json"
        import json

        var_file.write_text(json.dumps(dict(variables), indent=2))
        self.run(root, "init", "-input=false")
        self.run(root, "apply", "-auto-approve", "-input=false")

    def destroy(self, root: str) -> None:
        self.run(root, "destroy", "-auto-approve", "-input=false")
