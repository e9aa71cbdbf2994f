"""The decision-log page (`sdk audit show --html`) opened from disk in headless Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sdk.cli import app
from tests.browser.conftest import Tab
from tests.sdk.cli.test_audit_html import HOSTILE, write

pytestmark = pytest.mark.browser


def test_the_decision_log_page_shows_hostile_text_as_text_with_its_style_and_no_request(
    tab: Tab, chromium: str, tmp_path: Path
) -> None:
    out = tmp_path / "audit.html"
    result = CliRunner().invoke(app, ["audit", "show", "--dir", str(write(tmp_path / "log", 4, model=HOSTILE)),
                                      "--html", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    page = tab.open(out.as_uri())
    assert page.get_by_role("cell", name=HOSTILE, exact=True).count() == 2  # shown exactly as written
    assert page.locator("tbody script, tbody img").count() == 0
    assert page.evaluate("getComputedStyle(document.querySelector('.badge.ok')).borderTopStyle") == "solid"
    assert page.get_by_role("img", name="where the calls ran: 2 local, 2 cloud").is_visible()
    page.wait_for_timeout(200)
    assert tab.dialogs == [] and tab.errors == []
    assert tab.requests == [out.as_uri()]  # nothing fetched, from anywhere
    assert not [line for line in tab.console if "Content Security Policy" in line], tab.console
