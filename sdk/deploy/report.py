"""What a deploy or rollback did, step by step: printed by the CLI, returned to a caller, dumped with ``--json``."""

from __future__ import annotations

from dataclasses import field
from typing import Any

from sdk._record import record
from sdk.deploy.steps import DONE, FAILED, KEPT, PLANNED, ROLLED_BACK, UNDO_FAILED, Step
from sdk.errors import AiaasError


@record(frozen=False)
class DeployReport:
    """The step log of one ``deploy`` or ``rollback``. ``ok`` is False when a step failed; ``error`` says why."""

    action: str
    environment: str
    target: str
    model: str = ""
    version: str = ""
    alias: str = ""
    dry_run: bool = False
    steps: list[Step] = field(default_factory=list)
    error: AiaasError | None = None
    # What the alias points at afterwards (the alias record as written, or as it was when nothing changed).
    alias_record: dict[str, Any] | None = None
    # Where it stopped (the transaction's ``failed_at``): "at 'STEP'", "between steps, after 'STEP'", ...
    failed_at: str = ""
    # Whether a step that changes something had started (False: it stopped in its checks, nothing was changed).
    started: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def rolled_back(self) -> list[Step]:
        """The steps undone (or whose undo failed), the failed step too when it had changed something."""
        return [s for s in self.steps if s.status in (ROLLED_BACK, UNDO_FAILED) or (s.status == FAILED and s.undo)]

    def raise_for_error(self) -> DeployReport:
        """Raise the error that stopped the deploy (after everything done was undone); return self when it succeeded."""
        if self.error is not None:
            raise self.error
        return self

    def summary(self) -> str:
        ref = f"{self.model}@{self.version}" if self.version else self.model
        where = f"{self.target} alias {self.alias!r} in {self.environment}"
        if self.dry_run:
            planned = sum(s.status == PLANNED for s in self.steps)
            return f"dry run: {self.action} {ref} to {where} would run {planned} step(s); nothing was changed"
        if self.ok:
            return f"{self.action} {ref} to {where}: done"
        failed_at = self.failed_at or next((f"at {s.name!r}" for s in self.steps if s.status == FAILED), "")
        if not failed_at or not self.started:  # it stopped in its checks
            return f"{self.action} {ref} refused {failed_at or 'before it started'}: nothing was changed"
        undone = ", ".join(s.name for s in self.rolled_back) or "nothing to undo"
        stuck = [s.name for s in self.steps if s.status == UNDO_FAILED]
        kept = [s.name for s in self.steps if s.status == KEPT]
        tail = f"; kept for a retry: {', '.join(kept)}" if kept else ""
        head = f"{self.action} {ref} failed {failed_at}; rolled back: {undone}"
        if stuck:
            stuck_list = ", ".join(stuck)
            return f"{head}; UNDO FAILED for {stuck_list}: see the step log, the previous version may not serve{tail}"
        return f"{head}; the previous version still serves{tail}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "environment": self.environment,
            "target": self.target,
            "model": self.model,
            "version": self.version,
            "alias": self.alias,
            "dry_run": self.dry_run,
            "ok": self.ok,
            "summary": self.summary(),
            "steps": [s.to_dict() for s in self.steps],
            "done": [s.name for s in self.steps if s.status in (DONE, KEPT)],
            "rolled_back": [s.name for s in self.rolled_back],
            "failed_at": self.failed_at,
            "error": None
            if self.error is None
            else {"type": type(self.error).__name__, "message": self.error.message, "hint": self.error.hint},
            "alias_record": self.alias_record,
        }
