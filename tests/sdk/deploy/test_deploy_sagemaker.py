"""The SageMaker target against moto: new model + endpoint config + UpdateEndpoint (emulated: moto lacks it), the
previous configuration serving on failure, canary variants, rollback to the previous configuration."""

from __future__ import annotations

import pytest

from sdk.errors import CloudUnavailable
from tests.sdk.deploy.conftest import ENDPOINT, GPU_IMAGE, STORE_URI, Cloud, EndpointUpdates, count_calls

pytestmark = pytest.mark.integration


def _serving(cloud: Cloud) -> tuple[str, list[tuple[str, str, float]]]:
    """(endpoint config, [(variant, MODEL_URI, weight)]) the endpoint runs now."""
    sm = cloud.sagemaker
    config = sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]
    variants = []
    for v in sm.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"]:
        env = sm.describe_model(ModelName=v["ModelName"])["PrimaryContainer"]["Environment"]
        variants.append((v["VariantName"], env["MODEL_URI"], v.get("InitialVariantWeight", 1.0)))
    return config, variants


def test_deploy_creates_a_model_and_config_and_switches_the_endpoint(
    cloud: Cloud, gpu_endpoint: EndpointUpdates, make_artifact
) -> None:
    report = cloud.deployer().deploy(make_artifact("1"), target="sagemaker")
    assert report.ok, report.error
    assert [s.name for s in report.steps] == [
        "verify artifact",
        "plan",
        "upload",
        "create SageMaker model",
        "create endpoint configuration",
        "update endpoint",
        "write alias object",
    ]
    config, variants = _serving(cloud)
    assert variants == [("primary", f"{STORE_URI}digits-cnn/1/", 1.0)]
    assert report.alias_record is not None
    model = cloud.sagemaker.describe_model(ModelName=report.alias_record["target"]["model"])
    assert model["PrimaryContainer"]["Image"] == GPU_IMAGE
    assert model["PrimaryContainer"]["Environment"]["AIAAS_PROVIDERS"] == "auto"  # other variables kept
    instance = cloud.sagemaker.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"][0]
    assert instance["InstanceType"] == "ml.g4dn.xlarge" and instance["InitialInstanceCount"] == 1
    record = cloud.alias_object()
    assert record["version"] == "1" and record["target"]["kind"] == "sagemaker"
    assert record["target"]["endpoint_config"] == config
    # The same deploy again changes nothing.
    calls = count_calls(cloud.sagemaker, "CreateModel", "CreateEndpointConfig")
    updates = gpu_endpoint.calls
    again = cloud.deployer().deploy(make_artifact("1"), target="sagemaker")
    assert again.ok and set(calls.values()) == {0} and gpu_endpoint.calls == updates


def test_a_failed_endpoint_update_keeps_the_previous_config_serving(
    cloud: Cloud, gpu_endpoint: EndpointUpdates, make_artifact
) -> None:
    assert cloud.deployer().deploy(make_artifact("1"), target="sagemaker").ok
    before = _serving(cloud)
    gpu_endpoint.fail = True  # SageMaker goes back to the old config
    models = {m["ModelName"] for m in cloud.sagemaker.list_models()["Models"]}
    report = cloud.deployer().deploy(make_artifact("2"), target="sagemaker")
    assert isinstance(report.error, CloudUnavailable) and "did not switch to" in report.error.message
    statuses = {s.name: s.status for s in report.steps}
    assert statuses["update endpoint"] == "failed"
    assert statuses["create endpoint configuration"] == statuses["create SageMaker model"] == "rolled back"
    assert _serving(cloud) == before
    assert {m["ModelName"] for m in cloud.sagemaker.list_models()["Models"]} == models  # the new one was deleted
    assert cloud.alias_object()["version"] == "1"


def test_canary_adds_a_weighted_variant_and_rollback_returns_to_the_previous_config(
    cloud: Cloud, gpu_endpoint: EndpointUpdates, make_artifact
) -> None:
    assert cloud.deployer().deploy(make_artifact("1"), target="sagemaker").ok
    first_config, _ = _serving(cloud)
    report = cloud.deployer().deploy(make_artifact("2"), target="sagemaker", canary=20)
    assert report.ok, report.error
    _, variants = _serving(cloud)
    assert variants == [
        ("primary", f"{STORE_URI}digits-cnn/1/", 0.8),
        ("canary", f"{STORE_URI}digits-cnn/2/", 0.2),
    ]
    assert cloud.alias_object()["canary"] == {"version": "2", "weight": 0.2}
    calls = count_calls(cloud.sagemaker, "CreateModel", "CreateEndpointConfig")
    report = cloud.deployer().rollback("digits-cnn")  # the alias object says sagemaker: no --target needed
    assert report.ok, report.error and report.target == "sagemaker"
    assert set(calls.values()) == {0}  # the previous configuration is reused
    assert _serving(cloud) == (first_config, [("primary", f"{STORE_URI}digits-cnn/1/", 1.0)])
