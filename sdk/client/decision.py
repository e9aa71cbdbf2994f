"""The Decision every result carries: where a call ran, why, what was predicted, and what it cost."""

from __future__ import annotations

import difflib
from dataclasses import field
from enum import Enum
from typing import Any, Literal, TypeVar

from sdk._record import record
from sdk.errors import AiaasError, InvalidInput

# The values a caller may write as plain strings; type checkers refuse any other (``privacy="privat"``). A test keeps
# them equal to the enums' values.
PrivacyName = Literal["public", "private"]
ModeName = Literal["auto", "prefer_local", "local_only", "prefer_cloud", "cloud_only"]
E = TypeVar("E", bound=Enum)


def choose(
    enum: type[E], value: object, *, setting: str, source: str = "", error: type[AiaasError] = InvalidInput
) -> E:
    """``value`` as a member of ``enum`` (a member or its string value), else ``error`` naming the bad value, the
    allowed ones and the closest of them (a typo such as ``privat`` gets ``did you mean 'private'?``)."""
    if isinstance(value, enum):
        return value
    if type(value) is str:  # the common call: a dict read, not Enum's lookup machinery
        member = enum._value2member_map_.get(value)
        if member is not None:
            return member  # type: ignore[return-value]
    try:
        return enum(value)
    except ValueError:
        pass
    allowed = [str(m.value) for m in enum]
    close = difflib.get_close_matches(str(value).strip().lower(), allowed, n=1, cutoff=0.6)
    suggestion = f"; did you mean {close[0]!r}?" if close else "."
    where = f" (from {source})" if source else ""
    raise error(
        f"{setting}={value!r}{where} is not valid{suggestion} Allowed: {', '.join(allowed)}",
        hint=f"use one of {', '.join(allowed)}",
    )


class Route(str, Enum):
    LOCAL = "local"
    CLOUD = "cloud"

    def other(self) -> Route:
        return Route.CLOUD if self is Route.LOCAL else Route.LOCAL


class Privacy(str, Enum):
    PUBLIC = "public"
    PRIVATE = "private"

    @classmethod
    def strictest(cls, *levels: Privacy | str | None) -> Privacy:
        """Privacy is raised, never lowered: any private level makes the call private. A value that is no privacy
        level raises ``InvalidInput`` naming it (never a bare ValueError)."""
        parsed = [choose(cls, level, setting="privacy") for level in levels if level is not None]
        return cls.PRIVATE if cls.PRIVATE in parsed else cls.PUBLIC


class PrivacySource(str, Enum):
    """Which source set a call's privacy level (``sdk.client.privacy`` decides; the decision log records it)."""

    CALL = "call"  # the call's privacy= argument
    ENVIRONMENT = "environment"  # AIAAS_PRIVACY
    CLIENT_DEFAULT = "client_default"  # Client(privacy=...) or the config file; also the default public
    LOCAL_FLOOR = "local_floor"  # a floor this device knows for the model's name (any version or alias)
    CLOUD_FLOOR = "cloud_floor"  # the floor the cloud publishes in the model's metadata
    UNKNOWN_FLOOR = "unknown_floor"  # a floor that could not be read or was not understood: the data stays home


class Mode(str, Enum):
    AUTO = "auto"
    PREFER_LOCAL = "prefer_local"
    LOCAL_ONLY = "local_only"
    PREFER_CLOUD = "prefer_cloud"
    CLOUD_ONLY = "cloud_only"


class Reason(str, Enum):
    """Stable reason codes: safe to match on in code and dashboards."""

    PRIVATE = "private"  # private data stays on the device
    MODE = "mode"  # the caller's mode fixed the order
    FASTER = "faster"  # auto: the route predicted to finish first
    DEADLINE = "deadline"  # only this route is predicted to meet deadline_ms
    DEADLINE_UNMET = "deadline_unmet"  # no route is predicted to meet it: the fastest one is tried
    NO_ESTIMATE = "no_estimate"  # nothing measured yet: the default order
    EXPLORE = "explore"  # a sampled call that refreshes the other route's estimate
    LOCAL_UNAVAILABLE = "local_unavailable"  # no local model or runtime: cloud only
    CLOUD_UNAVAILABLE = "cloud_unavailable"  # no cloud endpoint, or its circuit is open: local only
    FALLBACK = "fallback"  # the planned route failed and the next one answered


@record(frozen=False)
class Attempt:
    route: Route
    ok: bool
    error: str | None = None  # error code from the tree, e.g. "cloud_unavailable"
    message: str | None = None
    ms: float = 0.0


@record(frozen=False)
class Decision:
    """Where a call ran and why. ``reason`` is a stable code; ``explanation`` is a sentence for people."""

    route: Route | None
    reason: Reason
    explanation: str
    privacy: Privacy
    mode: Mode
    deadline_ms: float | None = None
    predicted_ms: dict[str, float | None] = field(default_factory=dict)
    actual_ms: float | None = None
    planned: list[Route] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    explored: bool = False
    privacy_source: PrivacySource = PrivacySource.CLIENT_DEFAULT
    # Raw inputs (text, images): where they were processed, "device" or "cloud", and why (sdk.client.raw); None
    # for tensors.
    processed_on: str | None = None
    processing: str = ""

    @property
    def fallback_chain(self) -> list[str]:
        return [f"{a.route.value}:{'ok' if a.ok else a.error}" for a in self.attempts]

    def line(self) -> str:
        """One line for logs and the CLI: never holds tensor values."""
        where = self.route.value if self.route else "nowhere"
        predicted = ", ".join(f"{k} {v:.1f} ms" for k, v in self.predicted_ms.items() if v is not None) or "none"
        actual = f"{self.actual_ms:.1f} ms" if self.actual_ms is not None else "-"
        chain = f" · chain {' → '.join(self.fallback_chain)}" if len(self.attempts) > 1 else ""
        processed = f" · processed on {self.processed_on}" if self.processed_on else ""
        return (
            f"{where} [{self.reason.value}] {self.explanation} · privacy {self.privacy.value}"
            f" ({self.privacy_source.value}) · mode {self.mode.value}"
            f" · predicted {predicted} · actual {actual}{chain}{processed}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "route": self.route.value if self.route else None,
            "reason": self.reason.value,
            "explanation": self.explanation,
            "privacy": self.privacy.value,
            "privacy_source": self.privacy_source.value,
            "mode": self.mode.value,
            "deadline_ms": self.deadline_ms,
            "predicted_ms": dict(self.predicted_ms),
            "actual_ms": self.actual_ms,
            "planned": [r.value for r in self.planned],
            "fallback_chain": self.fallback_chain,
            "attempts": [
                {"route": a.route.value, "ok": a.ok, "error": a.error, "message": a.message, "ms": round(a.ms, 3)}
                for a in self.attempts
            ],
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "explored": self.explored,
            "processed_on": self.processed_on,
            "processing": self.processing,
        }
