"""boto3 clients for an environment (botocore's errors become ours in ``sdk.artifacts.aws_errors``).

boto3 is imported on first use (the ``aws`` extra). Every client can be injected (Powertools style), which is how the
tests bind them to a moto server and how a caller reuses its own session.
"""

from __future__ import annotations

from dataclasses import field, replace
from typing import Any

from sdk._record import record
from sdk.deploy.environments import Environment
from sdk.errors import ConfigError
from sdk.extras import require


@record(frozen=False)
class AwsClients:
    """The clients a deploy needs, made on first use from the environment unless injected."""

    environment: Environment
    injected: dict[str, Any] = field(default_factory=dict)

    def get(self, service: str) -> Any:
        if service not in self.injected:
            self.injected[service] = make_client(service, self.environment)
        return self.injected[service]

    @property
    def s3(self) -> Any:
        return self.get("s3")

    @property
    def lambda_(self) -> Any:
        return self.get("lambda")

    @property
    def sagemaker(self) -> Any:
        return self.get("sagemaker")

    @property
    def ecr(self) -> Any:
        return self.get("ecr")


def make_client(service: str, environment: Environment) -> Any:
    """A boto3 client in the environment's region, at its ``aws_endpoint_url`` when set (a moto server)."""
    boto3 = require("boto3", purpose="deploying to AWS")
    session = boto3.session.Session(region_name=environment.region)
    return session.client(service, endpoint_url=environment.aws_endpoint_url)


def environment_for(
    name: str | None,
    *,
    model_store_uri: str | None = None,
    region: str | None = None,
    function_name: str | None = None,
    function_alias: str | None = None,
    sagemaker_endpoint: str | None = None,
    aws_endpoint_url: str | None = None,
) -> Environment:
    """The saved environment ``name`` with the given settings on top; without a saved one, the settings alone."""
    overrides = {
        "model_store_uri": model_store_uri,
        "region": region,
        "function_name": function_name,
        "function_alias": function_alias,
        "sagemaker_endpoint": sagemaker_endpoint,
        "aws_endpoint_url": aws_endpoint_url,
    }
    given = {k: v for k, v in overrides.items() if v}
    try:
        base = Environment.load(name or "dev")
    except ConfigError:
        if not (model_store_uri and region):
            raise
        return Environment.from_mapping(name or "flags", given, source="command-line flags")
    return replace(base, **given) if given else base
