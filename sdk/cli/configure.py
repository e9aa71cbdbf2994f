"""`sdk configure`: where the cloud is, and the defaults of every call, saved once for this user."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from sdk.cli._base import console
from sdk.client import Mode, Privacy
from sdk.client.config import ClientConfig, config_path, read_config_file, write_config_file
from sdk.deploy.environments import environment_from_terraform


def configure(
    endpoint: str | None = typer.Option(None, help="Cloud endpoint: an OIP v2 base URL or a Lambda function URL."),
    endpoint_kind: str | None = typer.Option(None, help="oip | lambda-url | sagemaker"),
    region: str | None = typer.Option(None, help="AWS region (SigV4 signing, SageMaker)."),
    privacy: Privacy | None = typer.Option(None, help="Default privacy of a call."),
    mode: Mode | None = typer.Option(None, help="Default routing mode."),
    token: str | None = typer.Option(None, help="Bearer token for an `sdk serve --auth-token` endpoint."),
    from_terraform: Path | None = typer.Option(
        None, "--from-terraform", help="Read `terraform output -json` of an applied env (e.g. infra/envs/dev)."
    ),
    env: str = typer.Option("dev", help="Name to save the Terraform environment under (for `sdk deploy --env`)."),
    aws_endpoint_url: str | None = typer.Option(
        None, envvar="AWS_ENDPOINT_URL", help="AWS API endpoint when not AWS itself (a local moto server)."
    ),
    show: bool = typer.Option(False, "--show", help="Print the saved settings (tokens masked) and exit."),
) -> None:
    """Save the client's settings (endpoint, auth, default privacy and mode) to the user's config file.

    Values resolve as: argument to Client(...), then environment variable (AIAAS_*), then this file, then defaults.

    Examples:
      sdk configure --from-terraform infra/envs/dev
      sdk configure --endpoint http://127.0.0.1:8080 --privacy private
      sdk configure --show
    """
    path = config_path()
    if show:
        saved = {k: ("***" if k == "token" else v) for k, v in read_config_file(path).items()}
        console.print_json(json.dumps({"file": str(path), "settings": saved}))
        return
    values: dict[str, Any] = {
        "endpoint": endpoint,
        "endpoint_kind": endpoint_kind,
        "region": region,
        "privacy": privacy.value if privacy else None,
        "mode": mode.value if mode else None,
        "token": token,
    }
    if from_terraform is not None:
        environment = environment_from_terraform(from_terraform, env, aws_endpoint_url=aws_endpoint_url)
        env_file = environment.save()
        console.print(f"environment {escape(env)} saved to {env_file} (from {escape(environment.source)})")
        if environment.function_url:
            values.update(endpoint=environment.function_url, endpoint_kind="lambda-url", region=environment.region)
        elif environment.sagemaker_endpoint:
            values.update(
                endpoint_kind="sagemaker", sagemaker_endpoint=environment.sagemaker_endpoint, region=environment.region
            )
    changes = {k: v for k, v in values.items() if v is not None}
    if not changes:
        raise typer.BadParameter("nothing to configure: pass settings, --from-terraform, or --show")
    written = write_config_file(changes, path)
    shown = ", ".join(f"{k}={'***' if k == 'token' else v}" for k, v in changes.items())
    console.print(f"saved to {written}: {escape(shown)}")
    ClientConfig.from_env()  # the merged settings must load
