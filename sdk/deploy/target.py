"""``DeployTarget``: what the deployer needs from a place a model serves (a Lambda alias, a SageMaker endpoint, …).

The deployer drives a target through this protocol only: ``preflight`` (read-only checks, a sentence on what serves
now), ``release`` (its own steps inside the deploy's ``Transaction``, each registering its undo; returns the record
kept in the alias object) and ``current_image`` (for ``--build-image``). A third target (a container platform,
another cloud) is one class of this shape, given to the deployer by kind: ``Deployer(env, targets={"kind": make})``
where ``make(alias)`` returns the target.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from sdk.deploy.steps import Transaction


@runtime_checkable
class DeployTarget(Protocol):
    """A place a model version is released to."""

    kind: str  # kept in the alias object's target record: a rollback finds the target by it
    reuse_key: str  # the record's key naming what a rollback may reuse (a published version, an endpoint config)

    @property
    def label(self) -> str:
        """How messages name the target (``function NAME:ALIAS``, ``endpoint NAME``)."""
        ...

    def preflight(self, model_uri: str, canary: float | None) -> str:
        """Check that the release can start (read only); a sentence on what serves now."""
        ...

    def release(
        self,
        tx: Transaction,
        *,
        model_uri: str,
        name: str,
        version: str,
        canary: float | None,
        image_uri: str | None,
        prefer: str | None = None,
    ) -> dict[str, Any]:
        """Serve ``model_uri`` (or send it ``canary`` of the traffic) through steps of ``tx``; the target record.

        ``prefer`` is the ``reuse_key`` value of an earlier release to reuse when it still serves ``model_uri``.
        """
        ...

    def current_image(self) -> tuple[str, str]:
        """(the container image it runs now, or "", and its architecture such as ``x86_64``)."""
        ...


TargetFactory = Callable[[str], DeployTarget]  # alias -> the target that serves it
