from __future__ import annotations

import pytest

from sdk import errors


@pytest.mark.parametrize(
    ("cls", "status"),
    [
        (errors.InvalidInput, 400),
        (errors.MalformedRequest, 400),
        (errors.Unauthorized, 401),
        (errors.PrivacyViolation, 403),
        (errors.ModelNotFound, 404),
        (errors.PayloadTooLarge, 413),
        (errors.ManifestError, 422),
        (errors.ParityFailure, 422),
        (errors.Overloaded, 503),
        (errors.LocalUnavailable, 503),
        (errors.CloudUnavailable, 503),
        (errors.CloudBadResponse, 502),
        (errors.DeadlineExceeded, 504),
        (errors.ConfigError, 500),
        (errors.RuntimeFault, 500),
    ],
)
def test_every_error_carries_its_http_status_and_derives_from_the_one_root(cls: type, status: int) -> None:
    assert cls.status == status
    assert issubclass(cls, errors.AiaasError)


def test_a_bad_cloud_response_is_a_cloud_fault_not_the_callers_input() -> None:
    """A garbage answer from the endpoint must fall back like any cloud fault, never read as the caller's 400."""
    assert issubclass(errors.CloudBadResponse, errors.CloudUnavailable)
    assert not issubclass(errors.CloudBadResponse, errors.InvalidInput)
    assert errors.CloudBadResponse.code == "cloud_bad_response"


def test_integrity_error_names_the_file() -> None:
    exc = errors.IntegrityError("model.onnx failed its sha256 check", file="model.onnx")
    assert exc.file == "model.onnx" and exc.status == 422
    assert isinstance(exc, errors.ArtifactError)


def test_missing_dependency_names_the_pip_install_to_run() -> None:
    exc = errors.MissingDependency("onnxruntime", "edge", purpose="running models on this device")
    assert exc.hint == 'pip install "aiaas-sdk[edge]"'
    assert "onnxruntime" in str(exc) and exc.status == 501


def test_overloaded_carries_retry_after() -> None:
    assert errors.Overloaded("queue full", retry_after=2.5).retry_after == 2.5


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, errors.InvalidInput),
        (403, errors.Unauthorized),
        (404, errors.ModelNotFound),
        (415, errors.UnsupportedMediaType),
        (413, errors.PayloadTooLarge),
        (429, errors.Overloaded),
        (503, errors.Overloaded),
        (500, errors.AiaasError),
    ],
)
def test_error_for_status_maps_a_server_answer_back_to_the_tree(status: int, cls: type) -> None:
    exc = errors.error_for_status(status, "message")
    assert type(exc) is cls and str(exc) == "message"
