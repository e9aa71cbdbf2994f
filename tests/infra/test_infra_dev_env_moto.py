"""infra/envs/dev applied for real against a moto server: apply, check what exists, plan again, destroy.

moto stands in for AWS with a few gaps; tests/infra/fixtures/moto.tfvars switches off only what moto cannot do
(provisioned concurrency, Application Auto Scaling, g5 instance types). A second plan must be empty except for the
drift that moto itself causes, listed in KNOWN_MOTO_DRIFT below; anything else fails.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from tests.infra.conftest import Terraform

pytestmark = pytest.mark.infra

log = logging.getLogger("tests.infra")

MOTO_TFVARS = Path(__file__).parent / "fixtures" / "moto.tfvars"

# Attributes that moto 5.2 reports differently from what it was given, so a second plan wants to change them
# although nothing changed. Keyed by resource type: the root attributes whose diff is moto's doing.
KNOWN_MOTO_DRIFT: dict[str, set[str]] = {
    # moto returns empty image_config / dead_letter_config blocks the function was created without.
    "aws_lambda_function": {"image_config", "dead_letter_config"},
    # moto returns an empty vpc_config block (forces replacement).
    "aws_sagemaker_model": {"vpc_config"},
    # moto returns an empty data_capture_config block (forces replacement).
    "aws_sagemaker_endpoint_configuration": {"data_capture_config"},
}
# Computed attributes that follow from that drift: publish = true publishes a new version on any function
# update, and the alias follows the new version.
CONSEQUENCES: dict[str, set[str]] = {
    "aws_lambda_function": {"version", "qualified_arn", "qualified_invoke_arn", "last_modified"},
    "aws_lambda_alias": {"function_version"},
}
SDK_CONFIG_KEYS = {"region", "model_store_uri", "function_url", "function_name", "function_alias", "sagemaker_endpoint"}


@dataclass
class DevEnv:
    root: Path
    terraform: Terraform
    aws_env: dict[str, str]
    outputs: dict[str, Any] = field(default_factory=dict)
    destroyed: bool = False

    def tf(self, *args: str, **kwargs: Any) -> Any:
        return self.terraform.run(*args, cwd=self.root, extra_env=self.aws_env, **kwargs)

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.aws_env["AWS_ENDPOINT_URL"],
            region_name=self.aws_env["AWS_REGION"],
            aws_access_key_id=self.aws_env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.aws_env["AWS_SECRET_ACCESS_KEY"],
        )

    def destroy(self) -> None:
        self.tf(
            "destroy", "-auto-approve", "-no-color", f"-var-file={MOTO_TFVARS}", timeout=300, label="destroy envs/dev"
        )
        self.destroyed = True


@pytest.fixture(scope="module")
def dev_env(terraform: Terraform, infra_copy: Path, moto_aws_env: dict[str, str]) -> Iterator[DevEnv]:
    env = DevEnv(root=infra_copy / "envs" / "dev", terraform=terraform, aws_env=moto_aws_env)
    env.terraform.init(env.root, extra_env=moto_aws_env, label="init envs/dev (moto)")
    try:
        env.tf("apply", "-auto-approve", "-no-color", f"-var-file={MOTO_TFVARS}", timeout=420, label="apply envs/dev")
        out = env.tf("output", "-json", "-no-color", label="output envs/dev")
        env.outputs = {name: o["value"] for name, o in json.loads(out.stdout).items()}
        yield env
    finally:
        if not env.destroyed:
            env.destroy()


def test_outputs_give_the_sdk_everything_it_needs(dev_env: DevEnv) -> None:
    out = dev_env.outputs
    sdk = out["sdk_config"]
    assert set(sdk) == SDK_CONFIG_KEYS
    assert sdk["function_url"].startswith("https://") and sdk["function_url"] == out["function_url"]
    assert sdk["function_alias"] == out["function_alias"] == "live"
    assert sdk["function_name"] == out["function_name"] == "aiaas-test-inference"
    assert sdk["sagemaker_endpoint"] == out["sagemaker_endpoint"] == "aiaas-test-gpu"
    assert sdk["region"] == out["region"] == "us-east-1"
    assert sdk["model_store_uri"] == f"s3://{out['model_store_bucket']}/{out['model_prefix']}"
    assert out["model_prefix"] == "models/"
    assert out["ecr_repository_url"].endswith("/aiaas-test-inference")


def test_model_store_is_versioned_encrypted_and_private(dev_env: DevEnv) -> None:
    s3 = dev_env.client("s3")
    bucket = dev_env.outputs["model_store_bucket"]
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    lifecycle = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"][0]
    assert lifecycle["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30
    assert lifecycle["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 7


def test_model_store_refuses_requests_without_tls(dev_env: DevEnv) -> None:
    s3 = dev_env.client("s3")
    bucket = dev_env.outputs["model_store_bucket"]
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    assert any(
        st["Effect"] == "Deny" and st["Condition"]["Bool"]["aws:SecureTransport"] == "false"
        for st in policy["Statement"]
    )
    # moto evaluates bucket policies, and the test talks plain HTTP to it: the upload must be refused.
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket=bucket, Key=f"{dev_env.outputs['model_prefix']}demo/model.onnx", Body=b"onnx")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_function_runs_the_image_behind_an_iam_function_url(dev_env: DevEnv) -> None:
    lam = dev_env.client("lambda")
    name, alias = dev_env.outputs["function_name"], dev_env.outputs["function_alias"]
    config = lam.get_function_configuration(FunctionName=name, Qualifier=alias)
    assert config["PackageType"] == "Image"
    assert config["Environment"]["Variables"]["MODEL_URI"] == dev_env.outputs["model_store_uri"]
    assert config["TracingConfig"]["Mode"] == "Active"
    url_config = lam.get_function_url_config(FunctionName=name, Qualifier=alias)
    assert url_config["AuthType"] == "AWS_IAM"
    assert url_config["Cors"]["AllowOrigins"] == ["https://app.example.com"]
    alarms = dev_env.client("cloudwatch").describe_alarms(AlarmNamePrefix=name)["MetricAlarms"]
    assert {a["AlarmName"] for a in alarms} == {f"{name}-errors", f"{name}-throttles", f"{name}-p99-duration"}


def test_gpu_endpoint_serves_the_model_on_the_requested_instance_type(dev_env: DevEnv) -> None:
    sm = dev_env.client("sagemaker")
    endpoint = sm.describe_endpoint(EndpointName=dev_env.outputs["sagemaker_endpoint"])
    config = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    variant = config["ProductionVariants"][0]
    assert variant["InstanceType"] == "ml.g4dn.xlarge"
    model = sm.describe_model(ModelName=variant["ModelName"])
    assert model["PrimaryContainer"]["Environment"]["MODEL_URI"] == dev_env.outputs["model_store_uri"]


def _strip_unknown(value: Any, unknown: Any) -> Any:
    """value without the parts the plan marks unknown (they are computed on replacement, not configured)."""
    if unknown is True:
        return None
    if isinstance(value, dict) and isinstance(unknown, dict):
        return {k: _strip_unknown(v, unknown.get(k)) for k, v in value.items()}
    if isinstance(value, list) and isinstance(unknown, list):
        return [_strip_unknown(v, unknown[i] if i < len(unknown) else None) for i, v in enumerate(value)]
    return value


def _normalize(value: Any) -> Any:
    """Treat empty and zero values like null: the provider writes unset optional attributes either way."""
    if isinstance(value, dict):
        value = {k: n for k, v in value.items() if (n := _normalize(v)) is not None}
    elif isinstance(value, list):
        value = [n for v in value if (n := _normalize(v)) is not None]
    return None if value in (None, "", 0, False, [], {}) else value


def _unexplained_changes(plan: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(changes moto explains, changes it does not) in a `terraform show -json` plan."""
    explained: list[str] = []
    unexplained: list[str] = []
    for rc in plan.get("resource_changes", []):
        change = rc["change"]
        if change["actions"] in (["no-op"], ["read"]):
            continue
        where = f"{rc['address']} {'/'.join(change['actions'])}"
        drift = KNOWN_MOTO_DRIFT.get(rc["type"], set())
        consequences = CONSEQUENCES.get(rc["type"], set())
        if "delete" in change["actions"] and "create" not in change["actions"]:
            unexplained.append(f"{where}: would be destroyed")
            continue
        if change["actions"] == ["create"]:
            unexplained.append(f"{where}: would be created")
            continue
        reasons = {path[0] for path in change.get("replace_paths") or []}
        if not reasons <= drift:
            unexplained.append(f"{where}: replaced because of {sorted(reasons - drift)}")
        before, after = change.get("before") or {}, change.get("after") or {}
        unknown = change.get("after_unknown") or {}
        replaced = "delete" in change["actions"]
        for attr in sorted(set(before) | set(after)):
            if attr in drift:
                if before.get(attr) != after.get(attr):
                    explained.append(f"{where}: {attr}")
                continue
            if attr in consequences and unknown.get(attr) is True:
                continue
            if unknown.get(attr) is True and replaced:
                continue  # ids and ARNs are recomputed on a replacement
            old = _normalize(_strip_unknown(before.get(attr), unknown.get(attr) if replaced else None))
            new = _normalize(_strip_unknown(after.get(attr), unknown.get(attr) if replaced else None))
            if unknown.get(attr) is True:
                unexplained.append(f"{where}: {attr} becomes unknown")
            elif old != new:
                unexplained.append(f"{where}: {attr} {json.dumps(before.get(attr))} -> {json.dumps(after.get(attr))}")
    return explained, unexplained


def test_second_plan_changes_nothing_but_known_moto_drift(dev_env: DevEnv, tmp_path: Path) -> None:
    plan_file = tmp_path / "second.tfplan"
    proc = dev_env.tf(
        "plan", "-detailed-exitcode", "-no-color", "-input=false", f"-var-file={MOTO_TFVARS}", f"-out={plan_file}",
        ok_codes=(0, 2), label="plan envs/dev (second)",
    )  # fmt: skip
    if proc.returncode == 0:
        return
    shown = dev_env.tf("show", "-json", "-no-color", str(plan_file), label="show plan envs/dev")
    explained, unexplained = _unexplained_changes(json.loads(shown.stdout))
    print("\ndrift from moto, tolerated:\n  " + "\n  ".join(explained or ["(none)"]))
    log.info("tolerated moto drift: %s", explained)
    assert not unexplained, "the second plan changes more than moto's known drift:\n" + "\n".join(unexplained)


def test_destroy_removes_everything(dev_env: DevEnv) -> None:
    bucket = dev_env.outputs["model_store_bucket"]
    dev_env.destroy()
    state = dev_env.tf("state", "list", "-no-color", label="state list envs/dev")
    assert state.stdout.strip() == ""
    buckets = {b["Name"] for b in dev_env.client("s3").list_buckets()["Buckets"]}
    assert bucket not in buckets
    functions = dev_env.client("lambda").list_functions()["Functions"]
    assert dev_env.outputs["function_name"] not in {f["FunctionName"] for f in functions}
