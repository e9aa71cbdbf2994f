from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sdk.cli import app
from sdk.client.config import ClientConfig, config_path
from sdk.deploy.environments import Environment

runner = CliRunner()

OUTPUTS_TF = """
output "sdk_config" {
  value = {
    region             = "eu-west-1"
    model_store_uri    = "s3://aiaas-dev-models/models/"
    function_url       = "https://abc123.lambda-url.eu-west-1.on.aws/"
    function_name      = "aiaas-dev-inference"
    function_alias     = "live"
    sagemaker_endpoint = null
  }
}
"""


@pytest.fixture
def applied_outputs(tmp_path: Path) -> Path:
    """A real (resource-free) Terraform configuration, applied, whose outputs mirror infra/envs/dev."""
    if shutil.which("terraform") is None:
        pytest.skip("terraform is not on PATH")
    folder = tmp_path / "env"
    folder.mkdir()
    (folder / "main.tf").write_text(OUTPUTS_TF)
    for args in (["init", "-input=false", "-no-color"], ["apply", "-auto-approve", "-input=false", "-no-color"]):
        subprocess.run(["terraform", f"-chdir={folder}", *args], check=True, capture_output=True, timeout=120)
    return folder


def test_settings_are_saved_and_read_back_with_the_token_masked() -> None:
    result = runner.invoke(
        app, ["configure", "--endpoint", "http://127.0.0.1:9000", "--privacy", "private", "--token", "s3cret"]
    )
    assert result.exit_code == 0, result.output
    assert "s3cret" not in result.stdout
    config = ClientConfig.from_env()
    assert (config.endpoint, config.privacy, config.token) == ("http://127.0.0.1:9000", "private", "s3cret")
    assert "s3cret" not in repr(config)
    assert config_path().stat().st_mode & 0o077 == 0  # owner-only: it holds a token
    shown = runner.invoke(app, ["configure", "--show"])
    assert json.loads(shown.stdout)["settings"]["token"] == "***"


def test_environment_beats_the_config_file_and_arguments_beat_both(monkeypatch: pytest.MonkeyPatch) -> None:
    runner.invoke(app, ["configure", "--mode", "prefer_local"])
    assert ClientConfig.from_env().mode == "prefer_local"
    monkeypatch.setenv("AIAAS_MODE", "prefer_cloud")
    assert ClientConfig.from_env().mode == "prefer_cloud"
    assert ClientConfig.from_env(mode="local_only").mode == "local_only"


def test_invalid_setting_is_refused_with_a_readable_error() -> None:
    result = runner.invoke(app, ["configure", "--endpoint-kind", "grpc"])
    assert result.exit_code == 1
    assert "endpoint_kind='grpc'" in result.stderr and not config_path().exists()


def test_from_terraform_saves_the_environment_and_the_endpoint(applied_outputs: Path) -> None:
    result = runner.invoke(app, ["configure", "--from-terraform", str(applied_outputs), "--env", "dev"])
    assert result.exit_code == 0, result.output
    env = Environment.load("dev")
    assert env.model_store_uri == "s3://aiaas-dev-models/models/" and env.function_alias == "live"
    config = ClientConfig.from_env()
    assert config.endpoint == "https://abc123.lambda-url.eu-west-1.on.aws/"
    assert config.endpoint_kind == "lambda-url" and config.auth_kind == "sigv4" and config.region == "eu-west-1"


def test_from_terraform_on_an_unapplied_folder_says_what_to_do(tmp_path: Path) -> None:
    if shutil.which("terraform") is None:
        pytest.skip("terraform is not on PATH")
    (tmp_path / "main.tf").write_text(OUTPUTS_TF)
    result = runner.invoke(app, ["configure", "--from-terraform", str(tmp_path)])
    assert result.exit_code == 1
    assert "terraform" in result.stderr and "apply" in result.stderr


def test_unknown_environment_names_the_command_to_run() -> None:
    from sdk.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        Environment.load("prod")
    assert "sdk configure --from-terraform infra/envs/prod --env prod" in (info.value.hint or "")
