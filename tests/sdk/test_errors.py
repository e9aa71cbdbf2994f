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
        (errors.ResponseTooLarge, 413),
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


def _error_classes() -> list[type[errors.AiaasError]]:
    return [v for v in vars(errors).values() if isinstance(v, type) and issubclass(v, errors.AiaasError)]


def test_every_error_class_registers_itself_under_a_code_of_its_own() -> None:
    classes = _error_classes()
    codes = [cls.code for cls in classes]
    assert len(set(codes)) == len(codes), codes
    assert all("code" in vars(cls) for cls in classes)  # declared by the class, never inherited
    assert dict(errors.REGISTRY) == {cls.code: cls for cls in classes}
    assert all(errors.error_class(cls.code) is cls for cls in classes)


def test_a_new_error_class_without_a_code_or_with_a_taken_one_is_refused_at_definition() -> None:
    with pytest.raises(TypeError, match="already"):

        class Twin(errors.InvalidInput):
            code = "invalid_input"

    with pytest.raises(TypeError, match="must declare its own error code"):

        class Nameless(errors.InvalidInput):
            pass

    assert set(errors.REGISTRY) == {cls.code for cls in _error_classes()}  # neither got in


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (422, "integrity_error", errors.IntegrityError),  # the server's exact class
        (422, "parity_failure", errors.ParityFailure),
        (400, "malformed_request", errors.MalformedRequest),
        (415, "unsupported_media_type", errors.UnsupportedMediaType),
        (413, "response_too_large", errors.ResponseTooLarge),  # the client may ask again for binary outputs
        (413, None, errors.PayloadTooLarge),
        (422, "no_such_code", errors.ArtifactError),  # unknown: the status decides
        (422, None, errors.ArtifactError),  # a third-party server sends no code
        (404, "integrity_error", errors.ModelNotFound),  # a code that contradicts the status is not taken
        (403, "privacy_violation", errors.Unauthorized),  # only the client raises PrivacyViolation
        (503, "cloud_unavailable", errors.Overloaded),  # a client's verdict on its route never comes off the wire
        (501, "missing_dependency", errors.AiaasError),
        (400, ["invalid_input"], errors.InvalidInput),  # not a string
    ],
)
def test_error_for_status_rebuilds_the_class_a_code_names_when_it_agrees_with_the_status(status, code, cls) -> None:
    exc = errors.error_for_status(status, "message", code=code)
    assert type(exc) is cls and exc.message == "message"


def test_an_integrity_error_from_the_wire_has_no_file_field_but_keeps_the_message() -> None:
    exc = errors.error_for_status(422, "model.onnx failed its sha256 check", code="integrity_error")
    assert isinstance(exc, errors.IntegrityError) and exc.file == "" and "model.onnx" in exc.message
