"""A deploy as a transaction: each step records what it did and how to undo it; any failure undoes the done steps.

``with Transaction() as tx:`` wraps the whole deploy. An exception of any kind raised anywhere in the block undoes
the completed steps in reverse and propagates: raised inside ``tx.run(...)`` it marks that step failed; raised
elsewhere (a read or a decision between two steps) it is recorded as a failure "between steps, after <the last
step>", with the function and line it came from, so the log always says where the deploy stopped.

Every step ends in one of the states below, so the command can say exactly what was done and what was rolled back::

    done         the step changed something (and registered its undo)
    skipped      nothing to do (already in the wanted state), or not asked for
    kept         done, and deliberately not undone on failure (content-addressed uploads: a retry reuses them)
    planned      --dry-run: what would be done
    failed       the step raised (its ``undo`` says how a change it had already made was undone, if any)
    rolled back  undone after a later failure
    undo failed  its undo raised too: the detail says what to fix by hand
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import field
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, TypeVar, cast

from sdk._record import record

T = TypeVar("T")

DONE, SKIPPED, KEPT, PLANNED = "done", "skipped", "kept", "planned"
FAILED, ROLLED_BACK, UNDO_FAILED = "failed", "rolled back", "undo failed"
RUNNING = "running"
BEFORE_FIRST_STEP = "before the first step"
_SDK_ROOT = Path(__file__).resolve().parents[1]


@record(frozen=False)
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


@record(frozen=False)
class Outcome(Generic[T]):
    """What a step's action returns: a sentence, a value for the next steps, and its undo (a sentence when run)."""

    detail: str
    value: T | None = None
    undo: Callable[[], str] | None = None
    status: str = DONE


@record(frozen=False)
class Transaction:
    """Runs steps in order inside ``with``; any exception in the block undoes the completed ones and propagates.

    ``failed_at`` says where it stopped: ``at 'STEP'``, ``between steps, after 'STEP'`` or ``before the first step``.
    """

    observer: Callable[[Step], None] | None = None
    steps: list[Step] = field(default_factory=list)
    failed_at: str = ""
    started: bool = False  # a step that may change something has started
    _undo: list[tuple[Step, Callable[[], str]]] = field(default_factory=list)
    _open: bool = False
    _running: Step | None = None
    _partial: Callable[[], str] | None = None
    _failure: BaseException | None = None

    def __enter__(self) -> Transaction:
        if self._open or self.steps:
            raise RuntimeError("a Transaction runs one block: make a new one")
        self._open = True
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._open = False
        if exc is None:
            return
        if not self._recorded(exc):
            last = next((s.name for s in reversed(self.steps)), None)
            self.failed_at = BEFORE_FIRST_STEP if last is None else f"between steps, after {last!r}"
            detail = f"{_describe(exc)} (raised {_origin(tb)}, outside any step)"
            self._record(Step(self.failed_at, FAILED, detail), exc)
        self.rollback(exc)

    def check(self, name: str, action: Callable[[], Outcome[T]]) -> T:
        """Run a step that only reads and checks (verify, plan): a failure before any other step changed nothing."""
        return self._run(name, action, changes=False)

    def run(self, name: str, action: Callable[[], Outcome[T]]) -> T:
        """Run ``action`` as step ``name``; returns its outcome's value (None when it gave none)."""
        return self._run(name, action, changes=True)

    def _run(self, name: str, action: Callable[[], Outcome[T]], *, changes: bool) -> T:
        if not self._open:
            raise RuntimeError(f"step {name!r} run outside `with Transaction() as tx:`: nothing would undo it")
        if self._running is not None:
            raise RuntimeError(f"step {name!r} started inside step {self._running.name!r}")
        self.started = self.started or changes
        step = self._running = Step(name, RUNNING)
        self._partial = None
        start = time.perf_counter()
        try:
            outcome = action()
        except BaseException as exc:  # the block's exit undoes the done steps, even after an interrupt
            step.status, step.detail, step.seconds = FAILED, _describe(exc), time.perf_counter() - start
            if self._partial is not None:
                self._undo.append((step, self._partial))
            self._failure, self.failed_at = exc, f"at {name!r}"
            self._record(step)
            raise
        finally:
            self._running, partial, self._partial = None, self._partial, None
        step.status, step.detail, step.seconds = outcome.status, outcome.detail, time.perf_counter() - start
        undo = outcome.undo or partial
        if undo is not None and outcome.status == DONE:
            self._undo.append((step, undo))
        self._record(step)
        return cast(T, outcome.value)

    def compensate(self, undo: Callable[[], str]) -> None:
        """Register the undo of a change the running step has just made, before the step ends.

        A step that changes something and then waits (for an update to finish, a version to be Active) calls this
        right after the change, so that a failure while waiting still undoes it. Its ``Outcome.undo``, when given,
        takes over once the step succeeds.
        """
        if self._running is None:
            raise RuntimeError("compensate() is for the running step's action")
        self._partial = undo

    def note(self, name: str, status: str, detail: str) -> None:
        """Record a step that needed no action (e.g. skipped because not asked for)."""
        self._record(Step(name, status, detail))

    def rollback(self, cause: BaseException | None = None) -> None:
        """Undo the completed steps in reverse; an undo that fails is recorded and the others still run."""
        while self._undo:
            step, undo = self._undo.pop()
            try:
                step.undo = undo()
                if step.status != FAILED:
                    step.status = ROLLED_BACK
            except Exception as exc:  # keep undoing the rest; the record says what is left to fix by hand
                changed = f"what {step.name!r} changed" if step.status == FAILED else step.detail
                step.status = UNDO_FAILED
                step.undo = f"{_describe(exc)}; fix by hand: {changed}"
            self._notify(step, cause)

    def _record(self, step: Step, cause: BaseException | None = None) -> None:
        self.steps.append(step)
        self._notify(step, cause)

    def _notify(self, step: Step, cause: BaseException | None) -> None:
        if self.observer is None:
            return
        if cause is None:
            self.observer(step)
            return
        try:  # already failing: a broken printer must not stop the undo, nor hide the first error
            self.observer(step)
        except Exception as exc:
            if sys.version_info >= (3, 11):  # notes are 3.11+; on 3.10 the first error alone propagates
                cause.add_note(f"while reporting step {step.name!r}: {_describe(exc)}")

    def _recorded(self, exc: BaseException) -> bool:
        """True when ``exc`` is (or was raised while handling) the failure a step already recorded."""
        seen: BaseException | None = exc
        for _ in range(32):
            if seen is None:
                return False
            if seen is self._failure:
                return True
            seen = seen.__cause__ or seen.__context__
        return False


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _origin(tb: TracebackType | None) -> str:
    """The SDK's own frames the exception went through, outermost first: ``in FILE:LINE FUNCTION > ...``."""
    frames = [f for f in traceback.extract_tb(tb) if Path(f.filename).resolve().is_relative_to(_SDK_ROOT)]
    if not frames:
        return "in the caller's code"
    return "in " + " > ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in frames)
