"""The settings resolver every layer's settings use, and this user's folders.

A layer's settings are a frozen, keyword-only dataclass beside the code that reads them (``RuntimeConfig`` in
``sdk.runtime.config``, ``StoreConfig`` in ``sdk.artifacts.config``, ``ClientConfig``, ``ServeConfig``, ...). Every
value resolves as: explicit argument, then environment variable, then the config file (where a layer has one), then
default. The environment variable that feeds a field is declared beside the field (``env(...)``), so the docs and
``env_vars`` can list them all; code that needs a variable's raw text (an ``s3://`` URI is no ``Path``) reads it with
``env_text`` through that declaration, never by name.

The XDG base directories are resolved here and nowhere else: ``xdg_config_home()``, ``xdg_cache_home()`` and
``xdg_state_home()`` are this package's folders in them, read when called (a variable set after ``import sdk`` counts).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import field
from pathlib import Path
from typing import Any, TypeVar

from sdk.errors import ConfigError

T = TypeVar("T")

APP_DIR = "aiaas"  # this package's folder under each XDG base directory


def env(name: str, default: Any, *, help: str) -> Any:
    """A dataclass field read from the environment variable ``name`` when no argument is given."""
    if isinstance(default, (list, dict, set)):
        raise TypeError("use an immutable default")
    return field(default=default, metadata={"env": name, "help": help})


def _parse(raw: str, kind: Any, var: str) -> Any:
    text = raw.strip()
    if isinstance(kind, str):
        kind = kind.replace(" | None", "")
    try:
        if kind in (bool, "bool"):
            lowered = text.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(text)
        if kind in (int, "int"):
            return int(text)
        if kind in (float, "float"):
            return float(text)
        if kind in (Path, "Path"):
            return Path(text).expanduser()
        if kind in ("tuple[str, ...]",):
            return tuple(part.strip() for part in text.split(",") if part.strip())
        return text
    except ValueError as exc:
        raise ConfigError(f"environment variable {var}={raw!r} is not a valid {kind}") from exc


def resolve(cls: type[T], *, file_values: Mapping[str, Any] | None = None, **arguments: Any) -> T:
    """Build ``cls`` from explicit ``arguments`` (``None`` means not given), then env vars, then ``file_values``
    (a config file's settings), then defaults."""
    values: dict[str, Any] = {}
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(arguments) - names
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} setting(s): {', '.join(sorted(unknown))}")
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        given = arguments.get(f.name)
        if given is not None:
            values[f.name] = given
            continue
        var = f.metadata.get("env")
        if var and os.environ.get(var) is not None:
            values[f.name] = _parse(os.environ[var], f.type, var)
        elif file_values and file_values.get(f.name) is not None:
            value = file_values[f.name]
            values[f.name] = tuple(value) if isinstance(value, list) else value
    return cls(**values)


def env_vars(cls: type) -> Mapping[str, str]:
    """Environment variable name -> help, for the fields of ``cls`` that read one."""
    return {f.metadata["env"]: f.metadata["help"] for f in dataclasses.fields(cls) if "env" in f.metadata}


def env_var(cls: type, name: str) -> str:
    """The environment variable declared for the field ``name`` of ``cls``."""
    for f in dataclasses.fields(cls):
        if f.name == name and "env" in f.metadata:
            return str(f.metadata["env"])
    raise KeyError(f"{cls.__name__}.{name} reads no environment variable")


def env_text(cls: type, name: str) -> str | None:
    """The unparsed text of the environment variable declared for ``cls.name``; None when it is not set. For a caller
    that must see it before ``resolve`` parses it (an ``s3://`` URI is no Path; a source that speaks on its own)."""
    return os.environ.get(env_var(cls, name))


def env_snapshot(cls: type) -> tuple[str | None, ...]:
    """The raw values of every variable ``cls`` resolves from, the XDG base directories and HOME included (its
    defaults may derive from them): a key for a cache of objects built from ``cls.from_env()``."""
    names = (*env_vars(cls), *XDG_VARIABLES)
    return tuple(os.environ.get(name) for name in names)


# --- this user's folders (XDG base directories) ---------------------------------------------------------------------

XDG_VARIABLES = ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "HOME")


def _xdg(variable: str, *fallback: str) -> Path:
    base = os.environ.get(variable) or str(Path.home().joinpath(*fallback))
    return Path(base) / APP_DIR


def xdg_config_home() -> Path:
    """``$XDG_CONFIG_HOME/aiaas`` (``~/.config/aiaas``): the client's config file, the saved environments."""
    return _xdg("XDG_CONFIG_HOME", ".config")


def xdg_cache_home() -> Path:
    """``$XDG_CACHE_HOME/aiaas`` (``~/.cache/aiaas``): the model store, S3 downloads, latency estimates, backend
    choices; whatever a user may delete to free space."""
    return _xdg("XDG_CACHE_HOME", ".cache")


def xdg_state_home() -> Path:
    """``$XDG_STATE_HOME/aiaas`` (``~/.local/state/aiaas``): logs and history (the decision log), which, unlike the
    cache, a user does not expect to be wiped to free space."""
    return _xdg("XDG_STATE_HOME", ".local", "state")
