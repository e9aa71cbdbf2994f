"""The suite on a partial install: a test that needs a package this environment lacks is skipped, and says which
package and the ``pip install`` that brings it, instead of failing or erroring.

Only a package that is really absent counts (``importlib.util.find_spec`` finds nothing): a ModuleNotFoundError or a
MissingDependency for an installed package, or for one of this project's own modules, is a failure as before. The
missing package is read from the exception a test module's import, a fixture or a test raised, or one it was raised
from (``raise ... from``), never from an exception merely raised while handling another; or, for a test that runs
a program of ours in a child process (`sdk serve`, the Lambda under its runtime client), from the failure's text or
its captured output: the CLI's "needs the 'X' package, which is not installed" or Python's "No module named 'X'".
``need()`` says it outright, for a folder or a test whose child process fails without saying why.

``AIAAS_TESTS_STRICT=1`` (scripts/test.sh, so CI) turns the skips back into failures: there every extra is installed,
and a missing one is a broken install step, not a reason to skip.
"""

from __future__ import annotations

import importlib.util
import os
import re
from typing import Any

import pytest

from sdk.errors import MissingDependency
from sdk.extras import EXTRAS

STRICT_ENV = "AIAAS_TESTS_STRICT"
OWN = frozenset({"sdk", "tests", "models", "functions", "benchmarks"})  # never skipped: a missing one is a bug
SETUP = "bash scripts/setup.sh test"  # installs every package the suite uses
# What a child process prints when a package is missing: MissingDependency's message, and Python's own.
# A quote may come with a backslash before it, as an assertion's repr of the output shows it.
PRINTED = re.compile(r"needs the \\?'([\w.]+)\\?' package, which is not installed|No module named \\?'([\w.]+)\\?'")


def strict() -> bool:
    return os.environ.get(STRICT_ENV, "") not in ("", "0")


def installed(top: str) -> bool:
    try:
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        return False


def missing(name: str) -> str | None:
    """``name``'s top-level package when it is a third-party one this environment lacks."""
    top = name.partition(".")[0]
    return top if top not in OWN and not installed(top) else None


def absent(error: BaseException | None) -> str | None:
    """The top-level name of a package this environment lacks that ``error``, or an exception it was raised from,
    says could not be imported; None when it is about anything else."""
    for _ in range(8):
        if error is None:
            return None
        name = error.module if isinstance(error, MissingDependency) else None
        if isinstance(error, ModuleNotFoundError):
            name = error.name
        if name and (top := missing(name)):
            return top
        error = error.__cause__
    return None


def printed(text: str) -> str | None:
    """The package this environment lacks that ``text`` (a failure's report or output) last says was missing: the
    fatal error comes after any warning about an optional one."""
    for match in reversed(list(PRINTED.finditer(text))):
        if top := missing(match.group(1) or match.group(2)):
            return top
    return None


def reason(top: str) -> str:
    """Why a test skips: the package, the extra that brings it (where it is one of the product's), and the setup."""
    known = EXTRAS.get(top)
    command = f"{known.extra.command}; " if known is not None else ""
    return f"needs '{top}', which is not installed ({command}`{SETUP}` installs everything the suite uses)"


def need(*modules: str) -> None:
    """Skip, naming the first of ``modules`` that is absent (in strict mode, go on and fail): at a conftest's top, for
    a folder whose every test needs them (before the imports that would fail); in a test whose child process needs
    them and does not say why it failed."""
    top = next((module for module in modules if not installed(module)), None)
    if top is not None and not strict():
        pytest.skip(reason(top), allow_module_level=True)


class Module(pytest.Module):
    """A test module whose import fails for a missing package is skipped, naming it."""

    def _getobj(self) -> Any:
        try:
            return super()._getobj()
        except self.CollectError as error:
            top = None if strict() else absent(error.__cause__)
            if top is None:
                raise
            raise pytest.skip.Exception(reason(top), allow_module_level=True) from None


def locate(collector: pytest.Collector, report: pytest.CollectReport) -> None:
    """A module skipped by ``Module`` is reported at its own path, not at the line above that raised the skip."""
    if report.skipped and isinstance(collector, Module) and isinstance(report.longrepr, tuple):
        _, _, message = report.longrepr
        if message.startswith("Skipped: needs '"):
            report.longrepr = (str(collector.path), 1, message)


# A fixture's error that was a missing package: pytest raises the same error again for every test using the fixture,
# without the output that showed the cause.
_causes: list[tuple[BaseException, str]] = []


def skip_if_absent(item: pytest.Item, call: pytest.CallInfo[None], report: pytest.TestReport) -> None:
    """Turn ``report`` (a fixture's or a test's failure) into a skip when a missing package caused it."""
    if call.excinfo is None or not report.failed or strict():
        return
    error = call.excinfo.value
    top = next((top for seen, top in _causes if seen is error), None)
    if top is None:
        top = absent(error) or printed(report.longreprtext) or printed(report.capstdout + report.capstderr)
        if top is not None and call.when == "setup":
            _causes.append((error, top))
    if top is not None:
        report.outcome = "skipped"
        report.longrepr = (str(item.path), (item.location[1] or 0) + 1, f"Skipped: {reason(top)}")
