"""A deploy as a transaction: each step records what it did and how to undo it; a failure undoes the done steps.

Every step ends in one of the states below, so the command can say exactly what was done and what was rolled back::

    done         the step changed something (and registered its undo)
    skipped      nothing to do (already in the wanted state), or not asked for
    kept         done, and deliberately not undone on failure (content-addressed uploads: a retry reuses them)
    planned      --dry-run: what would be done
    failed       the step raised; the steps done before it are undone in reverse order
    rolled back  undone after a later failure
    undo failed  its undo raised too: the detail says what to fix by hand
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

T = TypeVar("T")

DONE, SKIPPED, KEPT, PLANNED = "done", "skipped", "kept", "planned"
FAILED, ROLLED_BACK, UNDO_FAILED = "failed", "rolled back", "undo failed"


@dataclass
class Step:
    """One step's record: its name, outcome, a sentence about what it did, and what its undo did."""

    name: str
    status: str
    detail: str = ""
    seconds: float = 0.0
    undo: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.name, "status": self.status, "detail": self.detail, "seconds": round(self.seconds, 3)} | (
            {"undo": self.undo} if self.undo else {}
        )


@dataclass
class Outcome(Generic[T]):
    """What a step's action returns: a sentence, a value for the next steps, and its undo (a sentence when run)."""

    detail: str
    value: T | None = None
    undo: Callable[[], str] | None = None
    status: str = DONE


@dataclass
class Transaction:
    """Runs steps in order; on the first failure, undoes the completed ones in reverse and re-raises."""

    observer: Callable[[Step], None] | None = None
    steps: list[Step] = field(default_factory=list)
    _undo: list[tuple[Step, Callable[[], str]]] = field(default_factory=list)

    def run(self, name: str, action: Callable[[], Outcome[T]]) -> T:
        """Run ``action`` as step ``name``; returns its outcome's value (None when it gave none)."""
        start = time.perf_counter()
        try:
            outcome = action()
        except BaseException as exc:  # undo whatever failed, even an interrupt, then let it propagate
            self._record(Step(name, FAILED, _describe(exc), time.perf_counter() - start))
            self.rollback()
            raise
        step = Step(name, outcome.status, outcome.detail, time.perf_counter() - start)
        if outcome.undo is not None and outcome.status == DONE:
            self._undo.append((step, outcome.undo))
        self._record(step)
        return cast(T, outcome.value)

    def note(self, name: str, status: str, detail: str) -> None:
        """Record a step that needed no action (e.g. skipped because not asked for)."""
        self._record(Step(name, status, detail))

    def rollback(self) -> None:
        while self._undo:
            step, undo = self._undo.pop()
            try:
                step.undo = undo()
                step.status = ROLLED_BACK
            except Exception as exc:  # keep undoing the rest; the record says what is left to fix by hand
                step.status = UNDO_FAILED
                step.undo = f"{_describe(exc)}; fix by hand: {step.detail}"
            if self.observer is not None:
                self.observer(step)

    def _record(self, step: Step) -> None:
        self.steps.append(step)
        if self.observer is not None:
            self.observer(step)


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
