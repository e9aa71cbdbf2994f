from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from sdk.artifacts.config import StoreConfig
from sdk.errors import ConfigError
from sdk.runtime.config import RuntimeConfig
from sdk.settings import env_text, env_var, env_vars, xdg_cache_home, xdg_config_home, xdg_state_home


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


@pytest.mark.parametrize(
    ("helper", "variable", "fallback"),
    [
        (xdg_config_home, "XDG_CONFIG_HOME", (".config",)),
        (xdg_cache_home, "XDG_CACHE_HOME", (".cache",)),
        (xdg_state_home, "XDG_STATE_HOME", (".local", "state")),
    ],
)
def test_xdg_homes_follow_their_variable_then_home(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    helper: Callable[[], Path],
    variable: str,
    fallback: tuple[str, ...],
) -> None:
    monkeypatch.setenv(variable, str(tmp_path / "set"))
    assert helper() == tmp_path / "set" / "aiaas"
    monkeypatch.setenv(variable, "")  # empty means unset, as the XDG spec says
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert helper() == tmp_path.joinpath("home", *fallback, "aiaas")


def test_a_variable_is_read_raw_through_its_declaration(monkeypatch: pytest.MonkeyPatch) -> None:
    assert env_var(StoreConfig, "root") == "AIAAS_STORE"
    monkeypatch.setenv("AIAAS_STORE", "s3://bucket/models/")
    assert env_text(StoreConfig, "root") == "s3://bucket/models/"  # unparsed: a Path would drop one slash
    monkeypatch.delenv("AIAAS_STORE")
    assert env_text(StoreConfig, "root") is None
    with pytest.raises(KeyError):
        env_var(StoreConfig, "nothing")


# Modules that touch os.environ without a settings class, and why. Everything else reads through sdk.settings.
DIRECT_ENVIRONMENT = {
    "sdk/settings.py": "the resolver itself",
    "sdk/demo/run.py": "passes the whole environment on to the processes it starts",
    "sdk/demo/stack.py": "passes the whole environment on to the processes it starts",
    "sdk/cli/doctor.py": "names AWS's own credential variables when botocore is absent",
    "sdk/compile/keras_export.py": "sets TF_CPP_MIN_LOG_LEVEL for TensorFlow",
}


def test_every_environment_read_goes_through_a_settings_class() -> None:
    repo = Path(__file__).resolve().parents[2]
    touching = {
        str(path.relative_to(repo))
        for path in (repo / "sdk").rglob("*.py")
        if "os.environ" in path.read_text() or "getenv(" in path.read_text()
    }
    assert touching == set(DIRECT_ENVIRONMENT)
