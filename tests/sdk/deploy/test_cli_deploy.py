"""The deploy commands end to end through the CLI (CliRunner), against moto: the release cycle, the step log of a
failure, readable errors, --build-image with and without a Docker engine, and `sdk models pull`."""

from __future__ import annotations

import json
import stat
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner

import sdk.deploy.aws
from sdk.cli import app
from tests.sdk.deploy.conftest import FAKE_DOCKER, FUNCTION, STORE_URI, Cloud, inject_fault

pytestmark = pytest.mark.integration

runner = CliRunner()


def sdk_cli(*args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_deploy_status_rollback_cycle(cloud: Cloud, make_artifact) -> None:
    first = sdk_cli("deploy", str(make_artifact("1")), "--env", "dev")
    assert first.exit_code == 0, first.output
    assert "✓ verify artifact: digits-cnn@1: manifest valid" in first.stdout
    assert "✓ move function alias: alias live: version 1 -> 2" in first.stdout
    assert "deploy digits-cnn@1 to lambda alias 'live' in dev: done" in first.stdout
    second = sdk_cli("deploy", str(make_artifact("2")), "--env", "dev", "--json")
    assert second.exit_code == 0, second.output
    log = json.loads(second.stdout)
    assert log["ok"] and log["version"] == "2" and log["rolled_back"] == []
    assert [s["step"] for s in log["steps"]][-1] == "write alias object"
    status = sdk_cli("status", "--env", "dev")
    assert status.exit_code == 0, status.output
    assert "version 3 (100%) serves digits-cnn@2" in status.stdout
    assert "state Active, last update Successful" in status.stdout
    data = json.loads(sdk_cli("status", "digits-cnn", "--env", "dev", "--json").stdout)
    assert data["models"][0]["aliases"]["live"]["version"] == "2" and data["drift"] == []
    back = sdk_cli("rollback", "digits-cnn", "--env", "dev")
    assert back.exit_code == 0, back.output
    assert "- publish function version: skipped: reusing version 2" in back.stdout
    assert "rollback digits-cnn@1 to lambda alias 'live' in dev: done" in back.stdout
    remote = json.loads(sdk_cli("models", "list", "--remote", "--env", "dev", "--json").stdout)
    assert [(r["version"], r["aliases"], r["store"]) for r in remote] == [
        ("1", ["live"], STORE_URI),
        ("2", [], STORE_URI),
    ]


def test_a_failure_prints_what_was_done_and_what_was_rolled_back(
    cloud: Cloud, make_artifact, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert sdk_cli("deploy", str(make_artifact("1")), "--env", "dev").exit_code == 0
    make_client = sdk.deploy.aws.make_client

    def faulty(service: str, environment: Any) -> Any:
        client = make_client(service, environment)
        if service == "lambda":
            inject_fault(client, "PublishVersion")
        return client

    monkeypatch.setattr(sdk.deploy.aws, "make_client", faulty)
    result = sdk_cli("deploy", str(make_artifact("2")), "--env", "dev")
    assert result.exit_code == 1
    assert "✗ publish function version: failed: publishing a version of" in result.stdout
    assert f"↺ update function configuration: rolled back: $LATEST MODEL_URI is {STORE_URI}digits-cnn/1/ again" in (
        result.stdout
    )
    assert (
        "deploy digits-cnn@2 failed at 'publish function version'; rolled back: update function configuration; "
        "the previous version still serves" in result.stdout
    )
    assert "error: CloudUnavailable: publishing a version of aiaas-dev-inference failed" in result.stderr
    assert cloud.alias()["FunctionVersion"] == "2"


def test_a_failed_step_that_had_changed_something_prints_its_undo(
    cloud: Cloud, make_artifact, monkeypatch: pytest.MonkeyPatch
) -> None:
    """$LATEST's configuration was updated, then waiting for the update failed: the failed step's change is undone
    and printed as such, right after the failure."""
    assert sdk_cli("deploy", str(make_artifact("1")), "--env", "dev").exit_code == 0
    make_client = sdk.deploy.aws.make_client
    updated, failed = [False], [False]

    def after_update(**_: Any) -> None:
        updated[0] = True

    def fail_the_wait_once(model: Any, **_: Any) -> None:
        if updated[0] and not failed[0]:
            failed[0] = True
            raise ClientError({"Error": {"Code": "ServiceException", "Message": "injected"}}, model.name)

    def faulty(service: str, environment: Any) -> Any:
        client = make_client(service, environment)
        if service == "lambda":
            client.meta.events.register("after-call.lambda.UpdateFunctionConfiguration", after_update)
            client.meta.events.register("before-call.lambda.GetFunction", fail_the_wait_once)
        return client

    monkeypatch.setattr(sdk.deploy.aws, "make_client", faulty)
    result = sdk_cli("deploy", str(make_artifact("2")), "--env", "dev")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    failure = next(i for i, line in enumerate(lines) if line.startswith("✗ update function configuration: failed:"))
    undone = f"↺ update function configuration: undone: $LATEST MODEL_URI is {STORE_URI}digits-cnn/1/ again"
    assert lines[failure + 1] == undone
    assert "failed at 'update function configuration'; rolled back: update function configuration;" in result.stdout
    assert cloud.model_uri() == f"{STORE_URI}digits-cnn/1/"


def test_errors_are_one_readable_line_with_the_fix(cloud: Cloud, make_artifact) -> None:
    result = sdk_cli("deploy", str(make_artifact("1")), "--env", "prod")
    assert result.exit_code == 1
    assert "error: ConfigError: no environment named 'prod' is configured" in result.stderr
    assert "fix: run `sdk configure --from-terraform infra/envs/prod --env prod`" in result.stderr
    assert "Traceback" not in result.output
    result = sdk_cli("rollback", "resnet", "--env", "dev")
    assert result.exit_code == 1
    assert "error: ModelNotFound: resnet@live was never deployed to dev: nothing to roll back" in result.stderr
    result = sdk_cli("status", "resnet", "--env", "dev")
    assert "error: ModelNotFound: no model named 'resnet'" in result.stderr
    result = sdk_cli("models", "pull", "resnet@live", "--env", "dev")
    assert "error: ModelNotFound: no model named 'resnet'" in result.stderr
    folder = make_artifact("1")
    (folder / "model.onnx").write_bytes(b"tampered")
    result = sdk_cli("deploy", str(folder), "--env", "dev")
    assert result.exit_code == 1 and "✗ verify artifact: failed: model.onnx is truncated" in result.stdout
    assert "error: IntegrityError: model.onnx is truncated" in result.stderr
    assert cloud.keys() == []


def test_flags_stand_in_for_a_saved_environment(cloud: Cloud, make_artifact, tmp_path: Path) -> None:
    cloud.environment.path().unlink()
    args = ["--store", STORE_URI, "--function", FUNCTION, "--region", "us-east-1"]
    result = sdk_cli("deploy", str(make_artifact("1")), *args, "--aws-endpoint-url", cloud.url, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "· upload: planned: 2 objects to" in result.stdout and "nothing was changed" in result.stdout


def test_build_image_without_a_docker_engine_is_skipped_with_the_reason(
    cloud: Cloud, make_artifact, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = sdk_cli("deploy", str(make_artifact("1")), "--env", "dev", "--build-image")
    assert result.exit_code == 0, result.output
    assert (
        "- build image: skipped: no Docker engine: `docker` is not on PATH; the function keeps its current image"
        in result.stdout
    )


def test_build_image_with_a_docker_engine_pushes_to_the_functions_repository(
    cloud: Cloud, make_artifact, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, repo: Path
) -> None:
    bin_dir, log = tmp_path / "bin", tmp_path / "docker.log"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(FAKE_DOCKER.format(log=log))
    docker.chmod(docker.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.chdir(repo)
    result = sdk_cli("deploy", str(make_artifact("1")), "--env", "dev", "--build-image")
    assert result.exit_code == 0, result.output
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/aiaas-inference:sdk-0123456789abcdef"
    assert f"✓ build image: built and pushed {image}" in result.stdout
    assert "✓ update function image:" in result.stdout
    commands = [line.split()[0] for line in log.read_text().splitlines()]
    assert commands == ["info", "build", "tag", "login", "push"]
    assert "-f functions/aws_lambda/Dockerfile" in log.read_text().replace(str(repo) + "/", "")
    function = cloud.lambda_.get_function(FunctionName=FUNCTION, Qualifier=cloud.alias()["FunctionVersion"])
    assert function["Code"]["ImageUri"] == image


def test_models_pull_through_the_cli_then_offline(cloud: Cloud, make_artifact, monkeypatch: pytest.MonkeyPatch) -> None:
    assert sdk_cli("deploy", str(make_artifact("1")), "--env", "dev").exit_code == 0
    result = sdk_cli("models", "pull", "digits-cnn@live", "--env", "dev")
    assert result.exit_code == 0, result.output
    assert "pulled digits-cnn@1 (live -> 1): 1 file(s) verified into" in result.stdout
    listed = json.loads(sdk_cli("models", "list", "--json").stdout)
    assert ("digits-cnn", "1", ["live"]) in [(r["name"], r["version"], r["aliases"]) for r in listed]
    monkeypatch.setenv("AWS_ENDPOINT_URL", cloud.url)
    result = sdk_cli("models", "pull", "digits-cnn@live", "--store", STORE_URI, "--json")
    assert json.loads(result.stdout)["status"] == "present"
    replace(cloud.environment, aws_endpoint_url="http://127.0.0.1:9").save()
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    result = sdk_cli("models", "pull", "digits-cnn@live", "--env", "dev")
    assert result.exit_code == 0, result.output
    assert "offline, already present: digits-cnn@1 (live -> 1)" in result.stdout
