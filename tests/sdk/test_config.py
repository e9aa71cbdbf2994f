from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from sdk.config import RuntimeConfig, StoreConfig, env_vars
from sdk.errors import ConfigError


def test_defaults_apply_without_arguments_or_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIAAS_THREADS", raising=False)
    config = RuntimeConfig.from_env()
    assert config.threads == 0 and config.graph_optimization == "all" and config.providers == ("auto",)
    assert config.allow_spinning is False


def test_environment_overrides_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIAAS_THREADS", "3")
    monkeypatch.setenv("AIAAS_PROVIDERS", "CUDAExecutionProvider, CPUExecutionProvider")
    monkeypatch.setenv("AIAAS_ALLOW_SPINNING", "yes")
    config = RuntimeConfig.from_env()
    assert config.threads == 3
    assert config.providers == ("CUDAExecutionProvider", "CPUExecutionProvider")
    assert config.allow_spinning is True


def test_argument_overrides_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIAAS_THREADS", "3")
    assert RuntimeConfig.from_env(threads=1).threads == 1


def test_bad_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIAAS_THREADS", "many")
    with pytest.raises(ConfigError, match="AIAAS_THREADS"):
        RuntimeConfig.from_env()


def test_invalid_values_are_refused() -> None:
    with pytest.raises(ConfigError, match="graph_optimization"):
        RuntimeConfig(graph_optimization="max")
    with pytest.raises(ConfigError, match="thread"):
        RuntimeConfig(threads=-1)
    with pytest.raises(ConfigError, match="unknown"):
        RuntimeConfig.from_env(thread=2)


def test_config_is_frozen_and_keyword_only() -> None:
    config = RuntimeConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.threads = 4  # type: ignore[misc]
    with pytest.raises(TypeError):
        RuntimeConfig(2)  # type: ignore[misc]


def test_store_root_follows_xdg_cache_home_when_unset(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AIAAS_STORE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert StoreConfig.from_env().root == tmp_path / "aiaas" / "models"


def test_env_vars_are_listed_with_help() -> None:
    listed = env_vars(RuntimeConfig)
    assert "AIAAS_THREADS" in listed and listed["AIAAS_PROVIDERS"]
