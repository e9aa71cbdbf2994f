"""boto3 clients for an environment, and botocore's errors translated into ours at this boundary.

boto3 is imported on first use (the ``aws`` extra). Every client can be injected (Powertools style), which is how the
tests bind them to a moto server and how a caller reuses its own session.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from sdk.artifacts.s3 import botocore_errors, translate_error
from sdk.environments import Environment
from sdk.errors import AiaasError, CloudUnavailable, ConfigError, MissingDependency

_ACCESS = {
    "AccessDenied",
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
}
_NOT_FOUND = {"ResourceNotFoundException", "ResourceNotFound", "NoSuchEntity", "RepositoryNotFoundException"}
_CONFLICT = {"ResourceConflictException", "PreconditionFailed", "PreconditionFailedException", "ResourceInUse"}
_UNREACHABLE = {"EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError"}


def translate(exc: Exception, what: str, *, service: str = "") -> AiaasError:
    """A botocore exception raised while doing ``what``, as one of ours (naming the problem and the fix)."""
    response = getattr(exc, "response", None) or {}
    error = response.get("Error", {})
    code = str(error.get("Code", ""))
    message = str(error.get("Message", "")) or str(exc)
    name = type(exc).__name__
    if code in _CONFLICT:
        return CloudUnavailable(f"{what}: changed by someone else meanwhile ({code}: {message})", hint="run it again")
    if service == "s3":
        return translate_error(exc, what)
    if code in _ACCESS:
        return ConfigError(
            f"{what}: access denied ({code})", hint="check the credentials and the deploying role's policy"
        )
    if name in ("NoCredentialsError", "PartialCredentialsError"):
        return ConfigError(f"{what}: no AWS credentials found", hint="configure credentials (env, profile or role)")
    if code in _NOT_FOUND or (code == "ValidationException" and "could not find" in message.lower()):
        return ConfigError(
            f"{what}: {message}",
            hint="is the environment applied (terraform apply) and saved (`sdk configure --from-terraform`)?",
        )
    if name in _UNREACHABLE:
        return CloudUnavailable(f"{what}: AWS is unreachable ({name})", hint="check the network or aws_endpoint_url")
    if name == "WaiterError":
        return CloudUnavailable(f"{what}: did not finish ({exc})")
    return CloudUnavailable(f"{what} failed ({code or name}: {message})")


@contextmanager
def aws_errors(what: str, *, service: str = "") -> Iterator[None]:
    """Run AWS calls, turning botocore's exceptions into ours; our own errors pass through."""
    try:
        yield
    except AiaasError:
        raise
    except botocore_errors() as exc:
        raise translate(exc, what, service=service) from exc


def is_not_found(exc: BaseException) -> bool:
    """True for a botocore error that says the resource does not exist (S3 404s included)."""
    error = (getattr(exc, "response", None) or {}).get("Error", {})
    code = str(error.get("Code", ""))
    message = str(error.get("Message", "")).lower()
    return code in (*_NOT_FOUND, "NoSuchKey", "404", "NotFound") or (
        code == "ValidationException" and "could not find" in message
    )


@dataclass
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
    try:
        import boto3
    except ImportError as exc:
        raise MissingDependency("boto3", "aws", purpose="deploying to AWS") from exc
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
