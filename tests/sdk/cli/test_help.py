"""Every command's `--help` renders, says what the command is for, and shows its text as written.

typer renders help with rich markup: a `[...]` in a docstring or an option's help is read as a style tag, and a
closing tag such as `[/versions/V]` crashes `--help` outright (rich 15). These tests walk the whole command tree, so a
command added tomorrow is covered without touching them.
"""

from __future__ import annotations

import inspect

import pytest
import typer
from rich.text import Text
from typer.testing import CliRunner

from sdk.cli import app

runner = CliRunner()


def _commands() -> list[tuple[tuple[str, ...], typer.core.TyperCommand | typer.core.TyperGroup]]:
    """(path, command) for the root and every command and subcommand below it."""
    root = typer.main.get_command(app)
    found: list[tuple[tuple[str, ...], typer.core.TyperCommand | typer.core.TyperGroup]] = []

    def walk(path: tuple[str, ...], command: typer.core.TyperCommand | typer.core.TyperGroup) -> None:
        found.append((path, command))
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk((*path, name), sub)

    walk((), root)
    return found


COMMANDS = _commands()
IDS = [" ".join(path) or "sdk" for path, _ in COMMANDS]


def test_the_walk_finds_every_command_group() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"serve", "predict", "compile", "deploy", "models list", "models pull", "keys create"} <= names


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_every_help_renders(path: tuple[str, ...], command: typer.core.TyperCommand) -> None:
    result = runner.invoke(app, [*path, "--help"], catch_exceptions=False, env={"COLUMNS": "80", "TERM": "dumb"})
    assert result.exit_code == 0, result.output
    assert f"Usage: sdk {' '.join(path)}".rstrip() in " ".join(result.output.split())
    first_line = (command.help or "").strip().splitlines()[0] if command.help else ""
    assert first_line, f"`sdk {' '.join(path)}` has no help text"
    # The first words of the help are shown (wrapping may move the rest).
    assert " ".join(first_line.split()[:4]) in " ".join(result.output.split())


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_help_text_has_no_rich_markup(path: tuple[str, ...], command: typer.core.TyperCommand) -> None:
    """What a developer writes in a docstring or an option's help is what the user reads: rich must see no tag."""
    texts = [("help", command.help or "")]
    texts += [(f"option {p.name}", getattr(p, "help", None) or "") for p in command.params]
    for where, text in texts:
        cleaned = inspect.cleandoc(text)
        assert Text.from_markup(cleaned).plain == cleaned, f"`sdk {' '.join(path)}` {where}: rich reads markup in it"


def test_a_markup_tag_in_help_would_be_caught() -> None:
    """The check above fails on the text that crashed `sdk serve --help` under rich 15."""
    text = "Routes: /v2/models/NAME[/versions/V][/ready|/infer]"
    with pytest.raises(Exception, match="closing tag"):
        Text.from_markup(text)
