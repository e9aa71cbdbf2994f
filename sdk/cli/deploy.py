"""`sdk deploy`, `sdk rollback`, `sdk status`: ship a compiled model to an environment, move it back, see the truth.

Every step prints as it finishes (✓ done, - skipped, ✗ failed, ↺ rolled back); `--json` prints the step log instead.
Byte progress goes to stderr, so stdout stays parseable.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from sdk.cli._base import console, err_console
from sdk.cli.options import JsonOption
from sdk.deploy.aws import AwsClients, environment_for
from sdk.deploy.deployer import Deployer
from sdk.deploy.environments import Environment
from sdk.deploy.report import DeployReport
from sdk.deploy.status import collect_status
from sdk.deploy.steps import DONE, FAILED, KEPT, PLANNED, ROLLED_BACK, SKIPPED, UNDO_FAILED, Step
from sdk.extras import ensure


class TargetKind(str, Enum):
    lambda_ = "lambda"
    sagemaker = "sagemaker"


EnvOption = typer.Option(
    "dev", "--env", "-e", envvar="AIAAS_ENV", help="Environment saved by `sdk configure --from-terraform`."
)
StoreUriOption = typer.Option(None, "--store", help="Model store s3://BUCKET/PREFIX (default: the environment's).")
FunctionOption = typer.Option(None, "--function", help="Lambda function name (default: the environment's).")
EndpointOption = typer.Option(None, "--endpoint", help="SageMaker endpoint name (default: the environment's).")
RegionOption = typer.Option(None, "--region", envvar="AWS_REGION", help="AWS region (default: the environment's).")
AwsEndpointOption = typer.Option(
    None, "--aws-endpoint-url", help="AWS API endpoint when not AWS itself, e.g. a moto server (default: the env's)."
)

_MARKS = {
    DONE: "[green]✓[/]",
    KEPT: "[green]✓[/]",
    SKIPPED: "[dim]-[/]",
    PLANNED: "[cyan]·[/]",
    FAILED: "[red]✗[/]",
    ROLLED_BACK: "[yellow]↺[/]",
    UNDO_FAILED: "[bold red]![/]",
}


class ConsoleTransfer:
    """A byte progress bar on stderr (thread-safe: boto3 reports from its transfer threads)."""

    def __init__(self, verb: str = "uploading") -> None:
        self.verb = verb
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def begin(self, total_bytes: int, files: int) -> None:
        if files == 0:
            return
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=err_console,
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task(f"{self.verb} {files} file(s)", total=max(total_bytes, 1))

    def file(self, name: str, size: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, description=f"{self.verb} {escape(name)}")

    def advance(self, nbytes: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, nbytes)

    def end(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def print_step(step: Step) -> None:
    mark = _MARKS.get(step.status, "?")
    if step.status in (ROLLED_BACK, UNDO_FAILED):
        console.print(f"{mark} {escape(step.name)}: [yellow]{escape(step.status)}[/]: {escape(step.undo)}")
        return
    if step.status == FAILED and step.undo:  # the failed step had changed something: printed again once undone
        console.print(f"{_MARKS[ROLLED_BACK]} {escape(step.name)}: [yellow]undone[/]: {escape(step.undo)}")
        return
    status = "" if step.status in (DONE, KEPT) else f"[dim]{escape(step.status)}:[/] "
    console.print(f"{mark} {escape(step.name)}: {status}{escape(step.detail)} [dim]({step.seconds:.1f} s)[/]")


def resolve_environment(
    env: str,
    *,
    store: str | None = None,
    function: str | None = None,
    endpoint: str | None = None,
    region: str | None = None,
    aws_endpoint_url: str | None = None,
) -> Environment:
    return environment_for(
        env,
        model_store_uri=store,
        region=region,
        function_name=function,
        sagemaker_endpoint=endpoint,
        aws_endpoint_url=aws_endpoint_url,
    )


def _finish(report: DeployReport, as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps(report.to_dict()))
    else:
        style = "green" if report.ok else "red"
        console.print(f"[{style}]{escape(report.summary())}[/]")
    report.raise_for_error()


def deploy(
    artifact_dir: Path = typer.Argument(..., help="Artifact folder written by `sdk compile` (manifest.json + files)."),
    env: str = EnvOption,
    target: TargetKind = typer.Option(TargetKind.lambda_, "--target", "-t", help="Where the model serves."),
    alias: str | None = typer.Option(
        None, "--alias", "-a", help="Alias to move (default: the env's function alias, else 'live')."
    ),
    canary: float | None = typer.Option(
        None, "--canary", help="Send only PERCENT of the alias' traffic to the new version (the rest stays)."
    ),
    build_image: bool = typer.Option(
        False, "--build-image", help="Build and push the function image first (needs a Docker engine)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Verify and plan; change nothing."),
    store: str | None = StoreUriOption,
    function: str | None = FunctionOption,
    endpoint: str | None = EndpointOption,
    region: str | None = RegionOption,
    aws_endpoint_url: str | None = AwsEndpointOption,
    as_json: bool = JsonOption,
) -> None:
    """Ship ARTIFACT_DIR to an environment and point an alias at it, never leaving a broken version serving.

    Verifies the artifact (manifest, every sha256, parity) before anything is uploaded; uploads only what the store
    lacks (S3 checksums on); publishes a function version (or a SageMaker endpoint config) for it; then moves the
    alias. A failure at any step undoes the steps before it and says what was rolled back.

    Examples:
      sdk deploy out/digits-cnn --env dev
      sdk deploy out/digits-cnn --env dev --canary 10
      sdk deploy out/digits-cnn --env dev --target sagemaker --dry-run
    """
    ensure("boto3", purpose="deploying to AWS")  # before any setting is read
    environment = resolve_environment(
        env, store=store, function=function, endpoint=endpoint, region=region, aws_endpoint_url=aws_endpoint_url
    )
    deployer = Deployer(
        environment, progress=None if as_json else ConsoleTransfer(), observer=None if as_json else print_step
    )
    report = deployer.deploy(
        artifact_dir, target=target.value, alias=alias, canary=canary, build_image=build_image, dry_run=dry_run
    )
    _finish(report, as_json)


def rollback(
    name: str = typer.Argument(..., help="Model name whose alias to move back."),
    env: str = EnvOption,
    to: str | None = typer.Option(None, "--to", help="Version to go back to (default: the previous one in history)."),
    alias: str | None = typer.Option(None, "--alias", "-a", help="Alias to move (default: as for `sdk deploy`)."),
    target: TargetKind | None = typer.Option(None, "--target", "-t", help="Default: the alias' recorded target."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would move; change nothing."),
    store: str | None = StoreUriOption,
    function: str | None = FunctionOption,
    endpoint: str | None = EndpointOption,
    region: str | None = RegionOption,
    aws_endpoint_url: str | None = AwsEndpointOption,
    as_json: bool = JsonOption,
) -> None:
    """Point NAME's alias back at the version it served before (or --to VERSION); a canary is simply withdrawn.

    The version must still be in the store (its files are checked against their sha256 first). The function's
    published version (or the endpoint configuration) that served it is reused when it still exists.

    Examples:
      sdk rollback digits-cnn --env dev
      sdk rollback digits-cnn --env dev --to 1
    """
    ensure("boto3", purpose="deploying to AWS")  # before any setting is read
    environment = resolve_environment(
        env, store=store, function=function, endpoint=endpoint, region=region, aws_endpoint_url=aws_endpoint_url
    )
    deployer = Deployer(environment, observer=None if as_json else print_step)
    report = deployer.rollback(name, alias=alias, to=to, target=target.value if target else None, dry_run=dry_run)
    _finish(report, as_json)


def status(
    name: str | None = typer.Argument(None, help="Only this model (default: every model in the store)."),
    env: str = EnvOption,
    store: str | None = StoreUriOption,
    function: str | None = FunctionOption,
    endpoint: str | None = EndpointOption,
    region: str | None = RegionOption,
    aws_endpoint_url: str | None = AwsEndpointOption,
    as_json: bool = JsonOption,
) -> None:
    """Show an environment as AWS reports it: versions in the store, where each alias points, and what the function
    and the endpoint serve (state, last update). Disagreements between the alias objects and the cloud are flagged.

    Examples:
      sdk status --env dev
      sdk status digits-cnn --env dev --json
    """
    ensure("boto3", purpose="deploying to AWS")  # before any setting is read
    environment = resolve_environment(
        env, store=store, function=function, endpoint=endpoint, region=region, aws_endpoint_url=aws_endpoint_url
    )
    data = collect_status(environment, AwsClients(environment), name)
    if as_json:
        console.print_json(json.dumps(data, default=str))
        return
    _print_status(data)


def _print_status(data: dict[str, Any]) -> None:
    console.print(f"[bold]environment {escape(data['environment'])}[/]  store {escape(data['store'])}")
    models = Table("model", "versions", "alias", "points at", "updated", title="store", title_justify="left")
    for model in data["models"]:
        aliases = model["aliases"] or {"-": {"version": "-", "updated_at": "", "canary": None}}
        for i, (alias, record) in enumerate(aliases.items()):
            canary = record.get("canary")
            points = str(record["version"]) + (f" + {canary['weight']:.0%} on {canary['version']}" if canary else "")
            first = i == 0
            versions = ", ".join(model["versions"]) or "-"
            models.add_row(
                model["name"] if first else "", versions if first else "", alias, points, record["updated_at"]
            )
    console.print(models if data["models"] else "no models in the store yet: `sdk deploy ARTIFACT_DIR`")
    function = data.get("function")
    if function:
        console.print(f"[bold]function[/] {escape(function['name'])}:{escape(function['alias'])}")
        if "error" in function:
            console.print(f"  [red]{escape(function['error'])}[/]")
        else:
            console.print(
                f"  state {function['state']}, last update {function['last_update_status']} "
                f"at {function['last_modified']}"
            )
            for version, route in function["routes"].items():
                console.print(f"  version {version} ({route['weight']:.0%}) serves {escape(str(route['serves']))}")
            if not function["routes"]:
                console.print("  [yellow]the alias does not exist: nothing is served[/]")
    endpoint = data.get("endpoint")
    if endpoint:
        console.print(f"[bold]endpoint[/] {escape(endpoint['name'])}")
        if "error" in endpoint:
            console.print(f"  [red]{escape(endpoint['error'])}[/]")
        else:
            reason = f" ({endpoint['failure_reason']})" if endpoint["failure_reason"] else ""
            console.print(
                f"  {endpoint['status']}{escape(reason)}, config {endpoint['config']}, "
                f"last update {endpoint['last_modified']}"
            )
            for v in endpoint["variants"]:
                console.print(
                    f"  variant {v['variant']} ({float(v['weight'] or 0):.0%}, {v['instance_type']} x{v['instances']}) "
                    f"serves {escape(str(v['serves']))}"
                )
    for line in data.get("drift", []):
        console.print(f"[yellow]drift[/]: {escape(line)}")
