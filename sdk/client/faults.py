"""Which errors are faults of a route (fall back to the other route, privacy allowing) rather than of the input."""

from __future__ import annotations

from sdk.errors import (
    AiaasError,
    ArtifactError,
    CloudUnavailable,
    DeadlineExceeded,
    MissingDependency,
    ModelNotFound,
    Overloaded,
    PayloadTooLarge,
    RuntimeFault,
    Unauthorized,
)

# The edge itself failed: no local model, a tampered or unloadable artifact, a missing extra, a runtime fault.
LOCAL_FAULTS: tuple[type[AiaasError], ...] = (ArtifactError, RuntimeFault, ModelNotFound, MissingDependency)

# The endpoint failed or refused: unreachable, overloaded, too slow, misconfigured auth, body over its limit.
CLOUD_FAULTS: tuple[type[AiaasError], ...] = (
    CloudUnavailable,
    Overloaded,
    DeadlineExceeded,
    Unauthorized,
    PayloadTooLarge,
    ModelNotFound,
)
