"""Deployment environments: where a named environment's model store, function and endpoint live.

`sdk configure --from-terraform infra/envs/dev` reads the `sdk_config` output of `terraform output -json` and saves it
as ``$XDG_CONFIG_HOME/aiaas/envs/<name>.json``; `sdk deploy --env NAME` and the client read it back.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from sdk._record import record
from sdk.errors import ConfigError
from sdk.settings import xdg_config_home

TERRAFORM_OUTPUT = "sdk_config"


@record(kw_only=True)
class Environment:
    name: str
    region: str
    model_store_uri: str
    function_url: str | None = None
    function_name: str | None = None
    function_alias: str | None = None
    sagemaker_endpoint: str | None = None
    # Where the AWS APIs are reached when not at AWS itself (a local emulator such as moto's server).
    aws_endpoint_url: str | None = None
    source: str = ""

    def __post_init__(self) -> None:
        if not self.model_store_uri.startswith("s3://"):
            raise ConfigError(f"environment {self.name}: model_store_uri {self.model_store_uri!r} is not an s3:// URI")
        if not self.region:
            raise ConfigError(f"environment {self.name}: region is empty")

    @classmethod
    def from_mapping(cls, name: str, data: dict[str, Any], *, source: str = "") -> Environment:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known and v not in (None, "")}
        missing = [k for k in ("region", "model_store_uri") if k not in values]
        if missing:
            raise ConfigError(f"environment {name}: {source or 'settings'} lack {', '.join(missing)}")
        values.update(name=name, source=source or values.get("source", ""))
        return cls(**values)

    def path(self, root: Path | None = None) -> Path:
        return (root or xdg_config_home()) / "envs" / f"{self.name}.json"

    def save(self, root: Path | None = None) -> Path:
        """Write to ``<root>/envs/<name>.json``; ``root`` defaults to the user's aiaas config folder."""
        path = self.path(root)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, name: str) -> Environment:
        path = xdg_config_home() / "envs" / f"{name}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(
                f"no environment named {name!r} is configured",
                hint=f"run `sdk configure --from-terraform infra/envs/{name} --env {name}`",
            ) from exc
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"environment file {path} is unreadable: {exc}") from exc
        return cls.from_mapping(name, data, source=str(path))


def terraform_outputs(folder: str | Path, *, terraform: str = "terraform") -> dict[str, Any]:
    """``terraform output -json`` of an applied configuration, as name -> value."""
    binary = shutil.which(terraform)
    if binary is None:
        raise ConfigError("terraform is not on PATH", hint="install Terraform >= 1.5, or pass the settings as flags")
    if not Path(folder).is_dir():
        raise ConfigError(f"{folder} is not a folder")
    done = subprocess.run(
        [binary, f"-chdir={folder}", "output", "-json", "-no-color"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise ConfigError(
            f"`terraform output` failed in {folder}: {detail[-1] if detail else 'no output'}",
            hint="run `terraform init` and `terraform apply` there first",
        )
    raw = json.loads(done.stdout or "{}")
    if not raw:
        raise ConfigError(f"{folder} has no terraform outputs", hint="has `terraform apply` run there?")
    return {name: item.get("value") for name, item in raw.items()}


def environment_from_terraform(folder: str | Path, name: str, *, aws_endpoint_url: str | None = None) -> Environment:
    outputs = terraform_outputs(folder)
    values = outputs.get(TERRAFORM_OUTPUT)
    if not isinstance(values, dict):
        values = outputs  # older stacks: the same names as top-level outputs
    return Environment.from_mapping(
        name, {**values, "aws_endpoint_url": aws_endpoint_url}, source=f"terraform output in {folder}"
    )
