"""The privacy rule, in one pure function that the sync and async clients, the CLI and the demo all reach through
``Client``::

    level = the strictest of every source that speaks:
        the call · AIAAS_PRIVACY · the client's default (argument or config file) ·
        every floor this device knows for the model's NAME (any version, any alias) · the cloud's published floor

A source that is silent (None, a cloud that was not asked or publishes no floor) changes nothing. A floor that is
there but cannot be read (the device cannot tell, the cloud's metadata failed) or is not exactly ``"public"`` or
``"private"`` (``"PRIVATE"``, ``true``, ``"confidential"``) is unknown, and an unknown floor keeps the data home.
Nothing lowers a level another source set to private.

It reads nothing and sends nothing: the client gathers the inputs (and asks the cloud only while the answer is still
public, so a call that is private by its own or the client's setting never touches the network).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sdk._record import record
from sdk.client.decision import Privacy, PrivacySource

_LEVELS = {"public": Privacy.PUBLIC, "private": Privacy.PRIVATE}


@record
class PrivacyVerdict:
    """A call's privacy level, the source that set it, and why (a sentence for the decision and its errors)."""

    level: Privacy
    source: PrivacySource
    why: str

    @property
    def private(self) -> bool:
        return self.level is Privacy.PRIVATE


def _level(value: object) -> Privacy | None:
    """A known level, or None for anything else (``Privacy`` members are ``str`` subclasses: they match too)."""
    return _LEVELS.get(value) if isinstance(value, str) else None


def _describe(error: BaseException) -> str:
    code = getattr(error, "code", None)
    return f"{code}: {error}" if isinstance(code, str) else f"{type(error).__name__}: {error}"


def decide_privacy(
    *,
    call: Privacy | str | None,
    environment: Privacy | str | None,
    client_default: Privacy | str | None,
    local_floors: Mapping[str, object] | BaseException,
    cloud: Mapping[str, Any] | BaseException | None,
    model: str = "the model",
) -> PrivacyVerdict:
    """Decide one call's privacy.

    ``call``, ``environment``, ``client_default``: ``"public"``, ``"private"`` or None (silent); the client checks
    their spelling before (a typo is the caller's error, not an unknown level). ``local_floors``: every floor this
    device knows for the model's name, ``{"NAME/VERSION": floor}`` (empty when it has none), or the error that kept
    it from telling. ``cloud``: the cloud's metadata document for the model, the error that kept it from being read,
    or None when the cloud was not asked. ``model`` only names the model in ``why``."""
    spoken: list[tuple[PrivacySource, Privacy, str]] = []
    for source, value, said in (
        (PrivacySource.CALL, call, "the call asked {}"),
        (PrivacySource.ENVIRONMENT, environment, "AIAAS_PRIVACY={}"),
        (PrivacySource.CLIENT_DEFAULT, client_default, "the client's default is {}"),
    ):
        if value is not None:
            level = _level(value)
            if level is None:  # the client validates these; a stray value is still no reason to send
                return PrivacyVerdict(Privacy.PRIVATE, PrivacySource.UNKNOWN_FLOOR, said.format(repr(value)))
            spoken.append((source, level, said.format(level.value)))
    unknown: str | None = None
    if isinstance(local_floors, BaseException):
        unknown = f"{model}: this device cannot tell its privacy floor ({_describe(local_floors)})"
    else:
        for where, floor in sorted(local_floors.items()):
            level = _level(floor)
            if level is None:
                unknown = unknown or f"{where} on this device has privacy floor {floor!r}, which is not understood"
            else:
                spoken.append((PrivacySource.LOCAL_FLOOR, level, f"{where} on this device has privacy floor {floor}"))
    if isinstance(cloud, BaseException):
        unknown = unknown or f"{model}: the cloud's privacy floor is unknown ({_describe(cloud)})"
    elif cloud is not None:
        parameters = cloud.get("parameters")
        if parameters is not None and not isinstance(parameters, Mapping):
            unknown = unknown or f"the cloud's metadata for {model} has parameters {parameters!r}, not an object"
        elif parameters is not None and "privacy_floor" in parameters:
            floor = parameters["privacy_floor"]
            level = _level(floor)
            said = f"the cloud publishes privacy floor {floor!r} for {model}"
            if level is None:
                unknown = unknown or f"{said}, which is not understood"
            else:
                spoken.append((PrivacySource.CLOUD_FLOOR, level, said))
        # No floor published (a third-party OIP server): the cloud is silent.
    private = [s for s in spoken if s[1] is Privacy.PRIVATE]
    if private:
        source, _, why = private[0]
        return PrivacyVerdict(Privacy.PRIVATE, source, why)
    if unknown is not None:
        return PrivacyVerdict(Privacy.PRIVATE, PrivacySource.UNKNOWN_FLOOR, unknown)
    if spoken:
        source, _, why = spoken[0]
        return PrivacyVerdict(Privacy.PUBLIC, source, why)
    return PrivacyVerdict(Privacy.PUBLIC, PrivacySource.CLIENT_DEFAULT, "no source asked for private")
