"""`terraform test` unit runs with a mocked AWS provider: validations, conditional resources, the env's outputs.

The runs live in each root's tests/*.tftest.hcl; the offline_checks fixture runs them in parallel.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

pytestmark = pytest.mark.infra


def test_unit_runs_pass_with_mocked_provider(tf_tested_root: str, offline_checks: dict[str, dict[str, Any]]) -> None:
    result = offline_checks[tf_tested_root]["test"]
    if isinstance(result, BaseException):
        raise result
    summary = re.search(r"Success! (\d+) passed, 0 failed", result.stdout)
    assert summary, result.stdout[-4000:]
    assert int(summary[1]) >= 4, f"expected the root's unit runs, got: {summary[0]}"
