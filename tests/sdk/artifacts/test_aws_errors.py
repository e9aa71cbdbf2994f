"""The botocore boundary: one table sorts AWS errors by what they mean, one context manager raises ours from them."""

from __future__ import annotations

import re

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, WaiterError

from sdk.artifacts.aws_errors import BOUNDARY, NOT_FOUND, aws_errors, if_exists, is_not_found, kind_of, translate
from sdk.errors import CloudUnavailable, ConfigError, ModelNotFound


def _client_error(code: str, message: str = "it went wrong") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "AnyOperation")


@pytest.mark.parametrize(
    "code", ["NoSuchKey", "404", "NotFound", "ResourceNotFoundException", "NoSuchEntity", "ImageNotFoundException"]
)
def test_every_service_s_not_found_is_one_kind(code: str) -> None:
    assert is_not_found(_client_error(code))


def test_sagemaker_s_could_not_find_is_not_found_too() -> None:
    assert is_not_found(_client_error("ValidationException", "Could not find endpoint x"))
    assert not is_not_found(_client_error("ValidationException", "bad value"))
    assert not is_not_found(_client_error("NoSuchBucket"))  # a missing bucket is a configuration error


def test_the_kinds_do_not_overlap() -> None:
    seen: dict[str, str] = {}
    for kind, names in BOUNDARY.items():
        for name in names:
            assert name not in seen, f"{name} is both {seen[name]} and {kind}"
            seen[name] = kind


@pytest.mark.parametrize(
    ("exc", "service", "error", "message"),
    [
        (_client_error("NoSuchKey"), "s3", ModelNotFound, "s3://b/k does not exist"),
        (_client_error("NoSuchBucket"), "s3", ConfigError, "the bucket does not exist"),
        (_client_error("AccessDenied"), "s3", ConfigError, r"access denied \(AccessDenied\)"),
        (EndpointConnectionError(endpoint_url="http://x"), "s3", CloudUnavailable, "S3 is unreachable"),
        (_client_error("SlowDown"), "s3", CloudUnavailable, r"S3 request failed \(ClientError: SlowDown\)"),
        (_client_error("ResourceNotFoundException", "Function not found"), "", ConfigError, "Function not found"),
        (_client_error("AccessDeniedException"), "", ConfigError, "access denied"),
        (EndpointConnectionError(endpoint_url="http://x"), "", CloudUnavailable, "AWS is unreachable"),
        (WaiterError("w", "Max attempts exceeded", {}), "", CloudUnavailable, "did not finish"),
        (_client_error("ThrottlingException", "slow"), "", CloudUnavailable, r"failed \(ThrottlingException: slow\)"),
    ],
)
def test_each_kind_becomes_our_error_in_the_service_s_words(
    exc: Exception, service: str, error: type[Exception], message: str
) -> None:
    ours = translate(exc, "s3://b/k", service=service)
    assert type(ours) is error and re.search(message, ours.message), ours.message


def test_a_conflict_says_run_it_again_whatever_the_service() -> None:
    for service in ("", "s3"):
        ours = translate(_client_error("PreconditionFailed"), "writing the alias", service=service)
        assert isinstance(ours, CloudUnavailable) and ours.hint == "run it again"
    assert kind_of(_client_error("PreconditionFailed")) != NOT_FOUND


def test_the_context_manager_raises_ours_from_botocore_s_and_lets_ours_through() -> None:
    with pytest.raises(ConfigError, match="no AWS credentials found") as caught, aws_errors("listing", service="s3"):
        raise NoCredentialsError()
    assert isinstance(caught.value.__cause__, NoCredentialsError)
    with pytest.raises(ModelNotFound, match="mine"), aws_errors("anything"):
        raise ModelNotFound("mine")


def test_if_exists_answers_none_for_a_missing_thing_only() -> None:
    assert if_exists(lambda: "found", "reading x") == "found"

    def missing() -> str:
        raise _client_error("NoSuchKey")

    def forbidden() -> str:
        raise _client_error("AccessDenied")

    assert if_exists(missing, "reading s3://b/k", service="s3") is None
    with pytest.raises(ConfigError, match="access denied"):
        if_exists(forbidden, "reading s3://b/k", service="s3")
