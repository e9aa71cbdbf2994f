"""The generated CLI reference in docs/ matches the CLI."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def test_cli_reference_is_up_to_date() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen_cli_reference.py"), "--check"], capture_output=True, text=True
    )
    assert done.returncode == 0, f"docs/cli.md is stale: run scripts/gen_cli_reference.py\n{done.stdout[-3000:]}"
