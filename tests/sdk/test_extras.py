"""The one way sdk imports an optional package (``sdk.extras``): a module that is absent, a module present whose own
dependency is absent, the check that imports nothing, and the table held to pyproject's extras.

Absent modules are real absences (names nobody ships) or ``sys.modules[name] = None``; the packages a test writes
live in ``tmp_path`` on ``sys.path``. The bare install itself is tests/sdk/test_core_install.py.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement as PipRequirement
from packaging.utils import canonicalize_name

from sdk import extras
from sdk.errors import ConfigError, MissingDependency
from sdk.extras import Extra, Requirement

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

REPO = Path(__file__).resolve().parents[2]
ABSENT = "aiaas_test_absent_package"  # nobody ships it
WITH = Extra("with")
DEPENDENCY = Extra("dependency", "pip install aiaas-test-dependency==1.0")
TABLE = {
    ABSENT: Requirement("aiaas-test-absent", WITH),
    "aiaas_test_present": Requirement("aiaas-test-present", WITH),
    "aiaas_test_dependency": Requirement("aiaas-test-dependency", DEPENDENCY),
}


@pytest.fixture
def packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``aiaas_test_present`` (imports ``aiaas_test_dependency``, which is absent) and ``aiaas_test_plain`` on
    sys.path; forgotten again afterwards."""
    (tmp_path / "aiaas_test_present.py").write_text("import aiaas_test_dependency\n")
    (tmp_path / "aiaas_test_unlisted.py").write_text("import aiaas_test_not_in_any_table\n")
    (tmp_path / "aiaas_test_plain.py").write_text("VALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("aiaas_test_present", "aiaas_test_unlisted", "aiaas_test_plain"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    return tmp_path


def test_an_absent_module_names_itself_and_its_install_command() -> None:
    with pytest.raises(MissingDependency) as caught:
        extras.require(ABSENT, purpose="testing", table=TABLE)
    error = caught.value
    assert error.module == ABSENT and error.extra == "with" and error.status == 501
    assert error.hint == error.command == 'pip install "aiaas-sdk[with]"'
    assert error.message == f"testing needs the '{ABSENT}' package, which is not installed"
    assert isinstance(error.__cause__, ModuleNotFoundError)


def test_a_present_module_whose_own_dependency_is_absent_names_the_dependency(packages: Path) -> None:
    with pytest.raises(MissingDependency) as caught:
        extras.require("aiaas_test_present", purpose="testing", table=TABLE)
    assert caught.value.module == "aiaas_test_dependency"
    assert caught.value.hint == "pip install aiaas-test-dependency==1.0"


def test_a_dependency_outside_the_table_names_the_module_asked_for(packages: Path) -> None:
    table = {**TABLE, "aiaas_test_unlisted": Requirement("aiaas-test-unlisted", WITH)}
    with pytest.raises(MissingDependency) as caught:
        extras.require("aiaas_test_unlisted", purpose="testing", table=table)
    assert caught.value.module == "aiaas_test_unlisted" and caught.value.extra == "with"


def test_a_submodule_is_named_by_its_top_level_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if the edge extra were not installed
    monkeypatch.delitem(sys.modules, "onnxruntime.quantization", raising=False)  # an earlier test may have loaded it
    with pytest.raises(MissingDependency) as caught:
        extras.require("onnxruntime.quantization", purpose="int8 quantization")
    assert caught.value.module == "onnxruntime" and caught.value.hint == 'pip install "aiaas-sdk[edge]"'


def test_a_present_module_is_returned(packages: Path) -> None:
    assert extras.require("aiaas_test_plain", purpose="testing", table=TABLE).VALUE == 42


def test_ensure_fails_like_require_without_importing_anything(packages: Path) -> None:
    with pytest.raises(MissingDependency) as caught:
        extras.ensure(ABSENT, purpose="testing", table=TABLE)
    assert caught.value.hint == 'pip install "aiaas-sdk[with]"'
    with pytest.raises(MissingDependency, match=ABSENT):
        extras.ensure(f"{ABSENT}.sub", purpose="testing", table=TABLE)
    extras.ensure("aiaas_test_present", purpose="testing", table=TABLE)  # present: its broken import never runs
    assert "aiaas_test_present" not in sys.modules


def test_optional_is_the_module_or_none(packages: Path) -> None:
    assert extras.optional(ABSENT) is None
    assert extras.optional("aiaas_test_present") is None  # present but unusable: as good as absent
    plain = extras.optional("aiaas_test_plain")
    assert plain is not None and plain.VALUE == 42


def test_translating_imports_names_a_missing_extra_and_refuses_anything_else(packages: Path) -> None:
    with pytest.raises(MissingDependency) as caught, extras.translating_imports("the recipe x", table=TABLE):
        import aiaas_test_present  # noqa: F401
    assert caught.value.module == "aiaas_test_dependency" and "the recipe x" in caught.value.message
    refusing = pytest.raises(ConfigError, match="the recipe y could not be imported")
    with refusing as refused, extras.translating_imports("the recipe y", table=TABLE):
        import aiaas_test_unlisted  # noqa: F401
    assert not isinstance(refused.value, MissingDependency)


def _pyproject_extras() -> dict[str, set[str]]:
    listed = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    return {extra: {canonicalize_name(PipRequirement(r).name) for r in reqs} for extra, reqs in listed.items()}


@pytest.mark.parametrize("module", sorted(extras.EXTRAS))
def test_the_table_matches_pyprojects_extras(module: str) -> None:
    """Each module's extra exists, and lists the module's distribution, or its command installs that explicitly
    (torch, pinned outside pyproject)."""
    requirement = extras.EXTRAS[module]
    listed = _pyproject_extras()
    assert requirement.extra.name in listed, f"{module}: no extra {requirement.extra.name!r} in pyproject.toml"
    distribution = canonicalize_name(requirement.distribution)
    named = {canonicalize_name(w.split("==")[0].strip('"').split("[")[0]) for w in requirement.extra.command.split()}
    assert distribution in listed[requirement.extra.name] or distribution in named - {"aiaas-sdk"}, module
    assert requirement.extra.command.startswith("pip install ")


def test_sdk_has_no_hand_written_optional_import_left() -> None:
    """Only sdk/extras.py catches an ImportError around a package outside the standard library."""
    found = []
    for path in sorted((REPO / "sdk").rglob("*.py")):
        if path == REPO / "sdk" / "extras.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Try):
                continue
            caught = {ast.unparse(h.type) for h in node.handlers if h.type is not None}
            if not caught & {"ImportError", "ModuleNotFoundError"}:
                continue
            imported = {
                (alias.name if isinstance(n, ast.Import) else n.module or "").partition(".")[0]
                for n in ast.walk(ast.Module(body=node.body, type_ignores=[]))
                if isinstance(n, (ast.Import, ast.ImportFrom))
                for alias in n.names
            }
            if imported - set(sys.stdlib_module_names):
                found.append(f"{path.relative_to(REPO)}:{node.lineno} {sorted(imported)}")
    assert found == [], "use sdk.extras (require, ensure, optional) instead"
