"""Step-by-step progress of a compile, reported to whoever drives it (the CLI shows it; tests collect it)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import field

from sdk._record import record


@record(frozen=False)
class Step:
    title: str
    seconds: float = 0.0
    detail: str = ""
    ok: bool = True


@record(frozen=False)
class Progress:
    """Records each step (title, seconds, outcome) and each note. Subclass ``started``/``finished``/``noted`` to show
    them as they happen."""

    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[Step]:
        current = Step(title)
        self.started(current)
        start = time.perf_counter()
        try:
            yield current
        except BaseException:
            current.ok = False
            raise
        finally:
            current.seconds = time.perf_counter() - start
            self.steps.append(current)
            self.finished(current)

    def note(self, text: str) -> None:
        self.notes.append(text)
        self.noted(text)

    def started(self, step: Step) -> None:
        """Called when a step begins."""

    def finished(self, step: Step) -> None:
        """Called when a step ends (``step.ok`` False when it raised)."""

    def noted(self, text: str) -> None:
        """Called for a note: a precision skipped by policy, TensorRT unavailable, a fusion that did not happen."""
