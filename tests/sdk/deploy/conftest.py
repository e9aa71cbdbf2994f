"""Deploy fixtures: one moto server for the session (reset before each test), the AWS resources a deploy needs
created with boto3 (faster than terraform), a saved environment pointing at them, and artifact folders to ship."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from sdk.artifacts import ExtraFile, Parity, describe_file, read_manifest, write_manifest
from sdk.artifacts.store import BUILTIN_ROOT
from sdk.deploy import Deployer, DeployReport, Step, TransferSettings
from sdk.deploy.environments import Environment
from tests.partial_install import need
from tests.sdk.serving.moto_server import MOTO_ENV, moto_server

need("boto3", "moto")  # every test here deploys to a moto server with boto3: skip the folder when they are absent
import boto3  # noqa: E402
from botocore.awsrequest import AWSResponse  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

BUCKET = "aiaas-dev-models"
STORE_URI = f"s3://{BUCKET}/models/"
FUNCTION = "aiaas-dev-inference"
ENDPOINT = "aiaas-dev-gpu"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/aiaas-inference:0.1.0"
GPU_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/aiaas-gpu:0.1.0"
BOOTSTRAP_URI = f"{STORE_URI}bootstrap/0/"
TRUST = {"Version": "2012-10-17", "Statement": []}


@pytest.fixture(scope="session")
def moto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as url:
        yield url


@dataclass
class Cloud:
    """The dev environment inside moto, and clients bound to it."""

    url: str
    environment: Environment
    s3: Any
    lambda_: Any
    sagemaker: Any

    def deployer(self, **kwargs: Any) -> Deployer:
        clients = {"s3": self.s3, "lambda_client": self.lambda_, "sagemaker": self.sagemaker}
        waits = {"poll_s": 0.05, "timeout_s": 5.0, "endpoint_poll_s": 0.05, "endpoint_timeout_s": 5.0}
        settings = {**waits, **clients, **kwargs}
        return Deployer(self.environment, **settings)

    def model_uri(self, qualifier: str = "$LATEST") -> str:
        config = self.lambda_.get_function_configuration(FunctionName=FUNCTION, Qualifier=qualifier)
        return config["Environment"]["Variables"]["MODEL_URI"]

    def alias(self) -> dict[str, Any]:
        return self.lambda_.get_alias(FunctionName=FUNCTION, Name="live")

    def versions(self) -> list[str]:
        listed = self.lambda_.list_versions_by_function(FunctionName=FUNCTION)["Versions"]
        return [v["Version"] for v in listed if v["Version"] != "$LATEST"]

    def alias_object(self, name: str = "digits-cnn", alias: str = "live") -> dict[str, Any]:
        body = self.s3.get_object(Bucket=BUCKET, Key=f"models/{name}/aliases/{alias}.json")["Body"].read()
        return json.loads(body)

    def keys(self, prefix: str = "models/") -> list[str]:
        listed = self.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        return sorted(o["Key"] for o in listed.get("Contents", []))


@pytest.fixture
def cloud(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Cloud:
    """A fresh moto: the model store bucket, a role, the inference function (version 1 behind alias 'live',
    serving a bootstrap MODEL_URI), and the environment saved as 'dev' like `sdk configure --from-terraform`."""
    httpx.post(f"{moto_url}/moto-api/reset", timeout=10).raise_for_status()
    for key, value in MOTO_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AIAAS_ENV", raising=False)
    kw = {"endpoint_url": moto_url, "region_name": "us-east-1"}
    s3, lam, iam = boto3.client("s3", **kw), boto3.client("lambda", **kw), boto3.client("iam", **kw)
    sagemaker = boto3.client("sagemaker", **kw)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    role = iam.create_role(RoleName="aiaas-dev", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    lam.create_function(
        FunctionName=FUNCTION,
        Role=role,
        PackageType="Image",
        Code={"ImageUri": IMAGE},
        Environment={"Variables": {"MODEL_URI": BOOTSTRAP_URI, "POWERTOOLS_SERVICE_NAME": "aiaas-inference"}},
        Publish=True,
    )
    lam.create_alias(FunctionName=FUNCTION, Name="live", FunctionVersion="1")
    environment = Environment(
        name="dev",
        region="us-east-1",
        model_store_uri=STORE_URI,
        function_name=FUNCTION,
        function_alias="live",
        sagemaker_endpoint=ENDPOINT,
        aws_endpoint_url=moto_url,
    )
    environment.save()
    return Cloud(moto_url, environment, s3, lam, sagemaker)


@pytest.fixture
def gpu_endpoint(cloud: Cloud) -> EndpointUpdates:
    """A SageMaker endpoint serving the bootstrap URI, with UpdateEndpoint emulated (moto lacks it)."""
    sm = cloud.sagemaker
    sm.create_model(
        ModelName="aiaas-dev-gpu-boot",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/aiaas-dev",
        PrimaryContainer={"Image": GPU_IMAGE, "Environment": {"MODEL_URI": BOOTSTRAP_URI, "AIAAS_PROVIDERS": "auto"}},
    )
    variant = {
        "VariantName": "primary",
        "ModelName": "aiaas-dev-gpu-boot",
        "InstanceType": "ml.g4dn.xlarge",
        "InitialInstanceCount": 1,
    }
    sm.create_endpoint_config(EndpointConfigName="aiaas-dev-gpu-boot", ProductionVariants=[variant])
    sm.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="aiaas-dev-gpu-boot")
    return emulate_update_endpoint(sm)


@dataclass
class EndpointUpdates:
    """The stand-in for UpdateEndpoint; ``fail`` True makes the next updates fail (the endpoint stays put)."""

    fail: bool = False
    calls: int = 0


def emulate_update_endpoint(client: Any) -> EndpointUpdates:
    """moto 5.2 answers UpdateEndpoint with 500 (not implemented). Stand in for it through botocore's own
    before-call hook: recreate the endpoint on the new configuration, as a successful update ends; with ``fail``
    set, leave it on its old configuration, as SageMaker does after a failed update."""
    updates = EndpointUpdates()

    def handler(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        request = json.loads(params["body"])  # the serialized request: SageMaker speaks JSON
        name, config = request["EndpointName"], request["EndpointConfigName"]
        updates.calls += 1
        if not updates.fail:
            client.delete_endpoint(EndpointName=name)
            client.create_endpoint(EndpointName=name, EndpointConfigName=config)
        arn = f"arn:aws:sagemaker:us-east-1:123456789012:endpoint/{name}"
        return AWSResponse("", 200, {}, None), {"EndpointArn": arn}

    client.meta.events.register("before-call.sagemaker.UpdateEndpoint", handler)
    return updates


def inject_fault(client: Any, operation: str, *, code: str = "ServiceException", times: int = 1) -> list[int]:
    """Make ``operation`` fail ``times`` times with an AWS error (a fault moto cannot cause); returns a call counter."""
    calls = [0]

    def handler(model: Any, **_: Any) -> None:
        calls[0] += 1
        if calls[0] <= times:
            raise ClientError({"Error": {"Code": code, "Message": f"injected {code}"}}, model.name)

    service = client.meta.service_model.service_name
    client.meta.events.register(f"before-call.{service}.{operation}", handler)
    return calls


def count_calls(client: Any, *operations: str) -> dict[str, int]:
    """A live count of the given operations made through ``client``."""
    counts = dict.fromkeys(operations, 0)

    def handler(model: Any, **_: Any) -> None:
        counts[model.name] += 1

    service = client.meta.service_model.service_name
    for op in operations:
        client.meta.events.register(f"before-call.{service}.{op}", handler)
    return counts


@pytest.fixture
def make_artifact(tmp_path: Path) -> Callable[..., Path]:
    """An artifact folder: the built-in digits CNN as ``version``, with optional extra files and parity."""

    def make(
        version: str = "1",
        *,
        extra: dict[str, bytes] | None = None,
        parity: Parity | str | None = "keep",
        name: str = "digits-cnn",
    ) -> Path:
        folder = tmp_path / "artifacts" / f"{name}-{version}"
        if folder.exists():
            shutil.rmtree(folder)
        shutil.copytree(BUILTIN_ROOT / "digits-cnn" / "1", folder)
        manifest = read_manifest(folder)
        files = []
        for file, data in (extra or {}).items():
            (folder / file).write_bytes(data)
            sha256, size = describe_file(folder / file)
            files.append(ExtraFile(file=file, sha256=sha256, bytes=size, purpose="test"))
        artifacts = manifest.artifacts
        if parity != "keep":
            artifacts = tuple(dataclasses.replace(a, parity=parity) for a in artifacts)  # type: ignore[arg-type]
        write_manifest(
            folder,
            dataclasses.replace(manifest, name=name, version=version, files=tuple(files), artifacts=artifacts),
        )
        return folder

    return make


def step(report: DeployReport, name: str) -> Step:
    """The step called ``name`` in a report's log."""
    return next(s for s in report.steps if s.name == name)


# A stand-in for the docker client (no Docker engine here): logs its arguments, "builds" a fixed image ID.
FAKE_DOCKER = """#!/bin/sh
echo "$@" >> "{log}"
case "$1" in
  info) echo 27.0.0 ;;
  build) while [ $# -gt 0 ]; do [ "$1" = --iidfile ] && printf 'sha256:0123456789abcdef0123' > "$2"; shift; done ;;
  login) cat > /dev/null ;;
esac
"""

SMALL_PARTS = TransferSettings(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
