"""constraints.txt is what the README's commands install: one exact pin per package, covering every extra's package."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent


def pins() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", line.strip())
        assert match, f"not an exact pin: {line!r}"
        found.setdefault(re.sub(r"[-_.]+", "-", match.group(1)).lower(), []).append(match.group(2))
    return found


def test_every_package_is_pinned_once() -> None:
    twice = {name: versions for name, versions in pins().items() if len(versions) > 1}
    assert not twice, f"pinned more than once (pip cannot resolve that): {twice}"


def test_every_direct_dependency_of_the_test_profile_is_pinned() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    extras = re.search(r'test\) extras="([^"]+)"', setup).group(1).split(",")  # type: ignore[union-attr]
    wanted = list(project["dependencies"])
    for extra in extras:
        wanted += project["optional-dependencies"][extra]
    names = {re.sub(r"[-_.]+", "-", re.split(r"[\s<>=!~;\[]", w, maxsplit=1)[0]).lower() for w in wanted}
    assert names - set(pins()) == set(), "in the test profile but not in constraints.txt"
