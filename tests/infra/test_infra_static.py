"""Static checks of infra/: formatting, offline validation, and the module convention (typed, described, documented)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.infra.conftest import Terraform

pytestmark = pytest.mark.infra

MODULE_FILES = ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md")


def _blocks(text: str, kind: str) -> dict[str, str]:
    """Top-level `kind "name" { ... }` blocks of a terraform-fmt'ed file, by name (body up to the `}` in column 0)."""
    return {m[1]: m[2] for m in re.finditer(rf'^{kind} "([\w-]+)" {{\n(.*?)^}}', text, re.M | re.S)}


def _documented(readme: str, name: str) -> bool:
    return re.search(rf"^\|\s*`?{re.escape(name)}`?\s*\|", readme, re.M) is not None


def test_terraform_files_are_fmt_clean(terraform: Terraform, infra_dir: Path) -> None:
    proc = terraform.run("fmt", "-check", "-recursive", "-diff", "-no-color", ".", cwd=infra_dir, ok_codes=(0, 3))
    assert proc.returncode == 0, f"terraform fmt would change:\n{proc.stdout}"


def test_root_validates_offline(tf_root: str, offline_checks: dict[str, dict[str, Any]]) -> None:
    result = offline_checks[tf_root]["validate"]
    if isinstance(result, BaseException):
        raise result
    assert "Success" in result.stdout


def test_module_has_the_standard_files_and_unit_tests(tf_module: str, infra_dir: Path) -> None:
    root = infra_dir / "modules" / tf_module
    missing = [f for f in MODULE_FILES if not (root / f).is_file()]
    assert not missing, f"{tf_module} lacks {missing}"
    assert list((root / "tests").glob("*.tftest.hcl")), f"{tf_module} has no tests/*.tftest.hcl"


def test_every_variable_and_output_is_typed_described_and_documented(tf_root: str, infra_dir: Path) -> None:
    folder = infra_dir / tf_root
    variables = _blocks((folder / "variables.tf").read_text(), "variable")
    outputs = _blocks((folder / "outputs.tf").read_text(), "output")
    readme = (folder / "README.md").read_text()
    assert variables and outputs
    problems = [f"variable {n}: no type" for n, b in variables.items() if not re.search(r"^  type\s+=", b, re.M)]
    problems += [f"variable {n}: no description" for n, b in variables.items() if "\n  description" not in f"\n{b}"]
    problems += [f"output {n}: no description" for n, b in outputs.items() if "\n  description" not in f"\n{b}"]
    problems += [f"README lacks a table row for {n}" for n in [*variables, *outputs] if not _documented(readme, n)]
    assert not problems, "\n".join(problems)


def test_infra_holds_no_terraform_state_or_init_leftovers(infra_dir: Path) -> None:
    leftovers = []
    for folder, dirs, files in os.walk(infra_dir):
        leftovers += [f"{folder}/{d}" for d in dirs if d == ".terraform"]
        leftovers += [f"{folder}/{f}" for f in files if f == ".terraform.lock.hcl" or ".tfstate" in f]
        dirs[:] = [d for d in dirs if d != ".terraform"]
    assert not leftovers, f"state or init files in infra/ (the tests work on a copy): {leftovers}"


def test_tfvars_files_set_only_declared_variables(infra_dir: Path) -> None:
    declared = set(_blocks((infra_dir / "envs" / "dev" / "variables.tf").read_text(), "variable"))
    tfvars = [
        infra_dir / "envs" / "dev" / "terraform.tfvars.example",
        Path(__file__).parent / "fixtures" / "moto.tfvars",
    ]
    for path in tfvars:
        # Assignments start in column 0; commented-out examples ("# name = ...") are checked too.
        names = set(re.findall(r"^(?:# )?([a-z_][a-z0-9_]*)\s+=", path.read_text(), re.M))
        assert names, f"{path.name} sets no variable"
        assert names <= declared, f"{path.name} sets undeclared variables: {sorted(names - declared)}"
