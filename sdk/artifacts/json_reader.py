"""Reads typed fields out of parsed JSON (a manifest), naming the exact field that is wrong.

It also refuses keys it does not know: a misspelt ``"privacy_flor": "private"`` must not load as a public model, and a
reader of an older schema must not silently drop what a newer writer meant. The refusal names the key, where it is
(``artifacts[0].parity``) and the closest known key, when one is close.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from sdk.errors import ManifestError

SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")  # a sha256 as the manifest and its blocks hold it: lowercase hex
UNKNOWN_KEY_HINT = (
    "this SDK refuses keys it does not know rather than ignore them: fix the key, or upgrade aiaas-sdk if a newer "
    "version wrote this manifest"
)


def closest(word: str, known: Collection[str]) -> str | None:
    """The known key ``word`` most likely misspells, or None when none is close."""
    import difflib  # only when a key is wrong: not on every load's import path

    found = difflib.get_close_matches(word, sorted(known), n=1, cutoff=0.6)
    return found[0] if found else None


class JsonReader:
    """Reads typed fields out of parsed JSON; every error names ``origin`` (the file) and the field's path."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def fail(self, where: str, what: str, hint: str | None = None) -> ManifestError:
        return ManifestError(f"{self.origin}: {where} {what}", hint=hint)

    def obj(self, value: Any, where: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(where, f"must be an object, got {type(value).__name__}")
        return value

    def only(self, data: Mapping[str, Any], known: Collection[str], where: str) -> Mapping[str, Any]:
        """``data`` itself, if it holds no key outside ``known``; otherwise a ManifestError naming each unknown key
        and its likely intended spelling."""
        unknown = sorted(str(k) for k in data if k not in known)
        if not unknown:
            return data
        guesses = {key: closest(key, known) for key in unknown}
        parts = [f"{key!r}" + (f" (did you mean {guess!r}?)" if guess else "") for key, guess in guesses.items()]
        noun = "an unknown key" if len(unknown) == 1 else "unknown keys"
        known_list = "" if all(guesses.values()) else f"; it knows {', '.join(sorted(known))}"
        raise self.fail(where or "the manifest", f"has {noun} {', '.join(parts)}{known_list}", UNKNOWN_KEY_HINT)

    def get(self, data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str, **default: Any) -> Any:
        if key not in data or data[key] is None:
            if "default" in default:
                return default["default"]
            raise self.fail(f"{where}.{key}".lstrip("."), "is required")
        value = data[key]
        ok = isinstance(value, kind) and not (isinstance(value, bool) and bool not in _as_tuple(kind))
        if not ok:
            names = "/".join(k.__name__ for k in _as_tuple(kind))
            raise self.fail(f"{where}.{key}".lstrip("."), f"must be {names}, got {type(value).__name__}")
        return value

    def int_list(
        self, data: Mapping[str, Any], key: str, where: str, *, optional: bool = False
    ) -> tuple[int, ...] | None:
        value = self.get(data, key, list, where, **({"default": None} if optional else {}))
        if value is None:
            return None
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise self.fail(f"{where}.{key}", f"must be a list of integers, got {value!r}")
        return tuple(value)


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)
