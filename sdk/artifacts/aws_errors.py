"""botocore's exceptions as ours: one boundary table and one context manager (as httpx maps httpcore's exceptions).

Every AWS call of the SDK (the S3 store here, the deploy's Lambda, SageMaker, ECR and S3 calls in ``sdk.deploy``) runs
inside ``aws_errors(what, service=...)``. A botocore error is sorted by its error code or class name into one of the
kinds of ``BOUNDARY`` and raised as the class that kind maps to, naming ``what`` was being done and the fix; the S3
store words a few kinds its own way (a missing object is ``ModelNotFound``: the model is not there). Our own errors
pass through. botocore is never imported here unless it is installed (an injected stand-in client has none).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sdk._record import record
from sdk.errors import AiaasError, CloudUnavailable, ConfigError, ModelNotFound
from sdk.extras import optional

T = TypeVar("T")

CONFLICT, NOT_FOUND, NO_BUCKET, ACCESS, NO_CREDENTIALS, UNREACHABLE, UNFINISHED, OTHER = (
    "conflict",
    "not found",
    "no bucket",
    "access",
    "no credentials",
    "unreachable",
    "unfinished",
    "other",
)

# Error codes (``response["Error"]["Code"]``) and exception class names, by what they mean to us.
BOUNDARY: dict[str, frozenset[str]] = {
    CONFLICT: frozenset(
        {"ResourceConflictException", "PreconditionFailed", "PreconditionFailedException", "ResourceInUse"}
    ),
    NOT_FOUND: frozenset(
        {
            "NoSuchKey",
            "404",
            "NotFound",
            "ResourceNotFoundException",
            "ResourceNotFound",
            "NoSuchEntity",
            "RepositoryNotFoundException",
            "ImageNotFoundException",
        }
    ),
    NO_BUCKET: frozenset({"NoSuchBucket"}),
    ACCESS: frozenset(
        {
            "AccessDenied",
            "AccessDeniedException",
            "403",
            "InvalidAccessKeyId",
            "SignatureDoesNotMatch",
            "UnrecognizedClientException",
            "InvalidSignatureException",
            "ExpiredToken",
            "ExpiredTokenException",
            "InvalidClientTokenId",
        }
    ),
    NO_CREDENTIALS: frozenset({"NoCredentialsError", "PartialCredentialsError"}),
    UNREACHABLE: frozenset(
        {"EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError"}
    ),
    UNFINISHED: frozenset({"WaiterError"}),
}


@record
class _Ours:
    """The error a kind becomes: its class, its message and hint (``str.format`` fields: what, code, name, message)."""

    error: type[AiaasError]
    message: str
    hint: str | None = None


_ENVIRONMENT_HINT = "is the environment applied (terraform apply) and saved (`sdk configure --from-terraform`)?"
_CREDENTIALS = _Ours(ConfigError, "{what}: no AWS credentials found", "configure credentials (env, profile or role)")

# What each kind becomes, for any service ("") and where the S3 store words it its own way ("s3").
OURS: dict[str, dict[str, _Ours]] = {
    CONFLICT: {
        "": _Ours(CloudUnavailable, "{what}: changed by someone else meanwhile ({code}: {message})", "run it again")
    },
    NOT_FOUND: {
        "": _Ours(ConfigError, "{what}: {message}", _ENVIRONMENT_HINT),
        "s3": _Ours(ModelNotFound, "{what} does not exist"),
    },
    NO_BUCKET: {"": _Ours(ConfigError, "{what}: the bucket does not exist")},
    ACCESS: {
        "": _Ours(
            ConfigError, "{what}: access denied ({code})", "check the credentials and the deploying role's policy"
        ),
        "s3": _Ours(ConfigError, "{what}: access denied ({code})", "check the credentials and the role's S3 policy"),
    },
    NO_CREDENTIALS: {"": _CREDENTIALS},
    UNREACHABLE: {
        "": _Ours(CloudUnavailable, "{what}: AWS is unreachable ({name})", "check the network or aws_endpoint_url"),
        "s3": _Ours(CloudUnavailable, "{what}: S3 is unreachable ({name})"),
    },
    UNFINISHED: {"": _Ours(CloudUnavailable, "{what}: did not finish ({text})")},
    OTHER: {
        "": _Ours(CloudUnavailable, "{what} failed ({code_or_name}: {message})"),
        "s3": _Ours(CloudUnavailable, "{what}: S3 request failed ({name}: {code_or_text})"),
    },
}


def botocore_errors() -> tuple[type[Exception], ...]:
    """botocore's exception roots, or () when botocore is absent (an injected stand-in client)."""
    exceptions = optional("botocore.exceptions")
    return () if exceptions is None else (exceptions.BotoCoreError, exceptions.ClientError)


def _code_and_message(exc: BaseException) -> tuple[str, str]:
    error = (getattr(exc, "response", None) or {}).get("Error", {})
    return str(error.get("Code", "")), str(error.get("Message", ""))


def kind_of(exc: BaseException) -> str:
    """The ``BOUNDARY`` kind of a botocore exception (``OTHER`` when none fits)."""
    code, message = _code_and_message(exc)
    name = type(exc).__name__
    if code == "ValidationException" and "could not find" in message.lower():
        return NOT_FOUND  # SageMaker says "Could not find endpoint ..." this way
    return next((kind for kind, names in BOUNDARY.items() if code in names or name in names), OTHER)


def is_not_found(exc: BaseException) -> bool:
    """True for a botocore error that says the object or resource does not exist."""
    return kind_of(exc) == NOT_FOUND


def translate(exc: BaseException, what: str, *, service: str = "") -> AiaasError:
    """A botocore exception raised while doing ``what`` (a call to ``service``), as one of ours."""
    code, message = _code_and_message(exc)
    name = type(exc).__name__
    ways = OURS[kind_of(exc)]
    ours = ways.get(service, ways[""])
    fields = {
        "what": what,
        "code": code,
        "name": name,
        "message": message or str(exc),
        "text": str(exc),
        "code_or_name": code or name,
        "code_or_text": code or str(exc),
    }
    return ours.error(ours.message.format(**fields), hint=ours.hint)


@contextmanager
def aws_errors(what: str, *, service: str = "") -> Iterator[None]:
    """Run AWS calls, turning botocore's exceptions into ours (``raise Ours(...) from exc``); ours pass through."""
    try:
        yield
    except botocore_errors() as exc:
        raise translate(exc, what, service=service) from exc


def if_exists(call: Callable[[], T], what: str, *, service: str = "") -> T | None:
    """``call()``, or None when AWS answers that the object or resource is not there; other errors become ours."""
    with aws_errors(what, service=service):
        try:
            return call()
        except botocore_errors() as exc:
            if is_not_found(exc):
                return None
            raise
