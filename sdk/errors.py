"""The one exception tree of aiaas.

Every error the SDK, the CLI, the serving core and the functions raise is an ``AiaasError``. Each class carries the
HTTP status it maps to, so a function answers a client with the same vocabulary the client raises from::

    AiaasError (500)
    ├── InvalidInput (400)              a tensor or request the model cannot take
    │   ├── MalformedRequest (400)      the request itself does not parse
    │   └── UnsupportedMediaType (415)  a body in a content type the server does not speak
    ├── Unauthorized (401)
    ├── PrivacyViolation (403)          a private request would have left the device
    ├── ModelNotFound (404)             unknown model, version or alias
    ├── PayloadTooLarge (413)
    ├── ArtifactError (422)             an artifact that must not be loaded
    │   ├── ManifestError (422)         manifest.json missing, malformed or inconsistent
    │   ├── IntegrityError (422)        a file whose bytes do not match its sha256
    │   └── ParityFailure (422)         a compiled model that does not reproduce its source
    ├── Overloaded (503)                queue full; carries ``retry_after``
    ├── LocalUnavailable (503)          the edge route cannot serve this call
    ├── CloudUnavailable (503)          the cloud route cannot serve this call
    │   └── CloudBadResponse (502)      the endpoint answered, but not as an inference server does
    ├── DeadlineExceeded (504)
    ├── MissingDependency (501)         an optional extra is not installed
    ├── ConfigError (500)               a setting that cannot be used
    └── RuntimeFault (500)              the model itself failed while running

Each class declares its own ``code`` (a stable name, unique in the tree) and its status (or inherits it); the classes
register themselves as they are defined (``REGISTRY``: code -> class). A server sends the code beside the message
(``{"error": msg, "code": ...}``) and ``error_for_status`` rebuilds the server's exact class from it, so an integrity
failure in the cloud arrives as ``IntegrityError``; a server that sends no code (KServe, Triton, an AWS front door)
gets the class its status maps to.

Exceptions of httpx, onnxruntime and botocore are translated at the boundary with ``raise Ours(...) from exc``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import ClassVar

_BY_CODE: dict[str, type[AiaasError]] = {}
_BY_STATUS: dict[int, type[AiaasError]] = {}  # the first (most general) remote class that declares each status


class AiaasError(Exception):
    """Base of every aiaas error. ``hint`` tells the user how to fix it, when we know."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal"
    # Whether a client rebuilds this class from a server's answer. False for what only this side can know: its own
    # routes, its own installation, its privacy rule (a server's 403 is about credentials, never a PrivacyViolation).
    remote: ClassVar[bool] = True

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        _register(cls)

    def __str__(self) -> str:
        return self.message

    @classmethod
    def from_wire(cls, message: str) -> AiaasError:
        """This error as a client rebuilds it from a server's answer: the message is all the wire carries."""
        return cls(message)


def _register(cls: type[AiaasError]) -> None:
    code = cls.__dict__.get("code")
    if not isinstance(code, str) or not code:
        raise TypeError(f"{cls.__qualname__} must declare its own error code (code = '...')")
    if code in _BY_CODE:
        raise TypeError(f"error code {code!r} of {cls.__qualname__} is already {_BY_CODE[code].__qualname__}'s")
    _BY_CODE[code] = cls
    if cls.remote:
        _BY_STATUS.setdefault(cls.status, cls)


_register(AiaasError)
REGISTRY: Mapping[str, type[AiaasError]] = MappingProxyType(_BY_CODE)


class InvalidInput(AiaasError):
    """An input tensor does not match the model's signature (name, dtype, shape, values)."""

    status = 400
    code = "invalid_input"


class MalformedRequest(InvalidInput):
    """A request body or file that does not parse (bad JSON, bad tensor encoding)."""

    code = "malformed_request"


class UnsupportedMediaType(InvalidInput):
    """A request body in a content type the server does not speak."""

    status = 415
    code = "unsupported_media_type"


class Unauthorized(AiaasError):
    status = 401
    code = "unauthorized"


class PrivacyViolation(AiaasError):
    """A private request was asked to run where its data would leave the device."""

    status = 403
    code = "privacy_violation"
    remote = False


class ModelNotFound(AiaasError):
    status = 404
    code = "model_not_found"


class PayloadTooLarge(AiaasError):
    status = 413
    code = "payload_too_large"


class ResponseTooLarge(PayloadTooLarge):
    """The request was fine, its answer too large for the endpoint to deliver (AWS Lambda's 6 MB response limit).
    Asked again for binary outputs, a third of the size of JSON numbers, it may fit: the client does that once."""

    code = "response_too_large"


class ArtifactError(AiaasError):
    """An artifact that must not be loaded."""

    status = 422
    code = "artifact_error"


class ManifestError(ArtifactError):
    code = "manifest_error"


class IntegrityError(ArtifactError):
    """A file's bytes do not match the sha256 (or size) its manifest records."""

    code = "integrity_error"

    def __init__(self, message: str, *, file: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.file = file

    @classmethod
    def from_wire(cls, message: str) -> IntegrityError:
        return cls(message, file="")  # the server's message names the file; the wire carries no field for it


class ParityFailure(ArtifactError):
    """A compiled artifact does not reproduce its source model within tolerance; it is not written."""

    code = "parity_failure"


class Overloaded(AiaasError):
    status = 503
    code = "overloaded"

    def __init__(self, message: str, *, retry_after: float = 1.0, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


class LocalUnavailable(AiaasError):
    status = 503
    code = "local_unavailable"
    remote = False


class CloudUnavailable(AiaasError):
    status = 503
    code = "cloud_unavailable"
    remote = False  # a client's verdict on its cloud route; a server that is unavailable says 503 (Overloaded)


class CloudBadResponse(CloudUnavailable):
    """The endpoint answered, but not with anything the protocol allows: a 2xx body that is no inference response or
    metadata document, a redirect, a status no OIP server sends. A fault of the endpoint (or of its URL), never of the
    caller's input: a public call falls back, and the circuit breaker counts it as a failure."""

    status = 502
    code = "cloud_bad_response"


class DeadlineExceeded(AiaasError):
    status = 504
    code = "deadline_exceeded"


class MissingDependency(AiaasError):
    """An optional extra is not installed; the message names the ``pip install`` to run."""

    status = 501
    code = "missing_dependency"
    remote = False  # about this installation: a server's missing extra is its own fault (a 501), not the caller's

    def __init__(self, module: str, extra: str, *, purpose: str, command: str | None = None) -> None:
        command = command or f'pip install "aiaas-sdk[{extra}]"'
        super().__init__(f"{purpose} needs the '{module}' package, which is not installed", hint=command)
        self.module = module
        self.extra = extra
        self.command = command


class ConfigError(AiaasError):
    code = "config_error"


class RuntimeFault(AiaasError):
    """The runtime failed while running a model on valid input."""

    code = "runtime_fault"


# Statuses other servers send that no remote class of ours declares, and the class each means.
_STATUS_ALIASES: dict[int, type[AiaasError]] = {
    # A server's 403 is about the caller's credentials or permissions (an AWS function URL that refuses a
    # signature): PrivacyViolation is raised by the client itself, never read off the wire.
    403: Unauthorized,
    429: Overloaded,  # throttled (AWS front doors, proxies)
}


def error_class(code: str) -> type[AiaasError] | None:
    """The class registered under ``code``, or None."""
    return _BY_CODE.get(code)


def error_for_status(status: int, message: str, *, code: object = None) -> AiaasError:
    """The error a client raises for an error answer ``status`` from a server speaking our protocol.

    ``code`` (the body's ``"code"``, which our servers send) names the server's exact class; it is taken when it
    agrees with the status (the class declares that status and refines the class the status maps to, so a code can
    never turn an answer into a different kind of error). Otherwise, and for servers that send no code, the class is
    the one the status maps to."""
    base = _STATUS_ALIASES.get(status) or _BY_STATUS.get(status, AiaasError)
    cls = _BY_CODE.get(code) if isinstance(code, str) else None
    if cls is None or not cls.remote or cls.status != status or not issubclass(cls, base):
        cls = base
    return cls.from_wire(message)
