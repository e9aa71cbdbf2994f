"""Rollback (to the previous version, to --to, withdrawing a canary) and status (the truth, drift included)."""

from __future__ import annotations

import pytest

from sdk.artifacts import read_manifest
from sdk.deploy import AwsClients, collect_status
from sdk.deploy.upload import Uploader
from sdk.errors import ConfigError, IntegrityError, ModelNotFound
from tests.sdk.deploy.conftest import BUCKET, FUNCTION, STORE_URI, Cloud, count_calls

pytestmark = pytest.mark.integration


@pytest.fixture
def three_versions(cloud: Cloud, make_artifact) -> Cloud:
    """digits-cnn 1, 2, 3 deployed in turn: function versions 2, 3, 4; the alias on 4 (model 3)."""
    for version in ("1", "2", "3"):
        assert cloud.deployer().deploy(make_artifact(version)).ok
    return cloud


def test_rollback_returns_to_the_previous_version_without_publishing(three_versions: Cloud) -> None:
    cloud = three_versions
    publishes = count_calls(cloud.lambda_, "PublishVersion", "UpdateFunctionConfiguration")
    report = cloud.deployer().rollback("digits-cnn")
    assert report.ok, report.error
    assert report.version == "2" and report.target == "lambda"
    assert [(s.name, s.status) for s in report.steps] == [
        ("plan", "done"),
        ("verify stored version", "done"),
        ("publish function version", "skipped"),
        ("move function alias", "done"),
        ("write alias object", "done"),
    ]
    assert set(publishes.values()) == {0}
    assert cloud.alias()["FunctionVersion"] == "3" and cloud.model_uri("3") == f"{STORE_URI}digits-cnn/2/"
    record = cloud.alias_object()
    assert record["version"] == "2" and [h["version"] for h in record["history"]] == ["1", "2", "3"]


def test_rollback_to_a_named_version(three_versions: Cloud) -> None:
    cloud = three_versions
    report = cloud.deployer().rollback("digits-cnn", to="1")
    assert report.ok, report.error
    assert cloud.alias()["FunctionVersion"] == "2" and cloud.alias_object()["version"] == "1"
    report = cloud.deployer().rollback("digits-cnn", to="7")
    assert isinstance(report.error, ModelNotFound) and "has no version '7'" in report.error.message
    assert report.error.hint == "versions there: 1, 2, 3"


def test_rollback_to_a_stored_version_that_never_served_publishes_it(cloud: Cloud, make_artifact) -> None:
    folder = make_artifact("0")
    uploader = Uploader(cloud.s3, BUCKET, "models/")
    uploader.execute(folder, uploader.plan(folder, read_manifest(folder)))  # in the store, never released
    assert cloud.deployer().deploy(make_artifact("1")).ok
    report = cloud.deployer().rollback("digits-cnn", to="0")
    assert report.ok, report.error
    assert {s.name: s.status for s in report.steps}["publish function version"] == "done"
    assert cloud.alias()["FunctionVersion"] == "3" and cloud.model_uri("3") == f"{STORE_URI}digits-cnn/0/"


def test_rollback_withdraws_a_canary(cloud: Cloud, make_artifact) -> None:
    assert cloud.deployer().deploy(make_artifact("1")).ok
    assert cloud.deployer().deploy(make_artifact("2"), canary=25).ok
    assert cloud.alias()["RoutingConfig"]["AdditionalVersionWeights"] == {"3": 0.25}
    report = cloud.deployer().rollback("digits-cnn")
    assert report.ok, report.error and report.version == "1"
    alias = cloud.alias()
    assert alias["FunctionVersion"] == "2" and not alias["RoutingConfig"]["AdditionalVersionWeights"]
    assert cloud.alias_object()["canary"] is None and cloud.alias_object()["version"] == "1"


def test_rollback_refuses_what_it_cannot_do(cloud: Cloud, make_artifact) -> None:
    report = cloud.deployer().rollback("digits-cnn")
    assert isinstance(report.error, ModelNotFound) and "was never deployed to dev" in report.error.message
    assert cloud.deployer().deploy(make_artifact("1")).ok
    report = cloud.deployer().rollback("digits-cnn")
    assert isinstance(report.error, ConfigError) and "no earlier version in its history" in report.error.message
    assert [(s.name, s.status) for s in report.steps] == [("plan", "failed")]


def test_rollback_refuses_a_stored_version_that_was_tampered_with(three_versions: Cloud) -> None:
    cloud = three_versions
    cloud.s3.put_object(Bucket=BUCKET, Key="models/digits-cnn/2/model.onnx", Body=b"not the model")
    report = cloud.deployer().rollback("digits-cnn")
    assert isinstance(report.error, IntegrityError) and "does not match the sha256" in report.error.message
    assert [(s.name, s.status) for s in report.steps] == [("plan", "done"), ("verify stored version", "failed")]
    assert cloud.alias()["FunctionVersion"] == "4"


def test_status_shows_the_store_the_aliases_and_what_the_function_serves(three_versions: Cloud) -> None:
    cloud = three_versions
    status = collect_status(cloud.environment, AwsClients(cloud.environment, {"s3": cloud.s3, "lambda": cloud.lambda_}))
    assert status["store"] == STORE_URI
    assert [(m["name"], m["versions"]) for m in status["models"]] == [("digits-cnn", ["1", "2", "3"])]
    live = status["models"][0]["aliases"]["live"]
    assert live["version"] == "3" and live["history"] == ["1", "2"]
    function = status["function"]
    assert function["state"] == "Active" and function["last_update_status"] == "Successful"
    assert function["routes"] == {
        "4": {"weight": 1.0, "model_uri": f"{STORE_URI}digits-cnn/3/", "serves": "digits-cnn@3"}
    }
    assert status["drift"] == [] and status["endpoint"]["error"]  # no endpoint in this environment
    # Moved behind our back: status tells, rather than repeating the alias object.
    cloud.lambda_.update_alias(FunctionName=FUNCTION, Name="live", FunctionVersion="2")
    status = collect_status(cloud.environment, AwsClients(cloud.environment, {"s3": cloud.s3, "lambda": cloud.lambda_}))
    assert status["drift"] == ["digits-cnn@live records digits-cnn@3, but function alias live serves digits-cnn@1"]


def test_status_of_an_unknown_model_names_the_known_ones(three_versions: Cloud) -> None:
    clients = AwsClients(three_versions.environment, {"s3": three_versions.s3})
    with pytest.raises(ModelNotFound, match="no model named 'resnet'") as caught:
        collect_status(three_versions.environment, clients, "resnet")
    assert "models there: digits-cnn" in (caught.value.hint or "")
