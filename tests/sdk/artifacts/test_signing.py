"""Signed manifests: with trusted keys set, a device loads only models those keys signed, unchanged since."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sdk import RuntimeConfig, load
from sdk.artifacts import signing
from sdk.cli import app
from sdk.errors import ConfigError, IntegrityError

pytest.importorskip("cryptography", reason='signing needs pip install "aiaas-sdk[sign]"')
runner = CliRunner()


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    release = signing.create_keys(folder, "release")
    other = signing.create_keys(folder, "other")
    return {"key": release[0], "pub": release[1], "other_key": other[0], "other_pub": other[1]}


def trusting(*keys: Path | str) -> RuntimeConfig:
    return RuntimeConfig(trusted_keys=tuple(str(k) for k in keys))


def edit_manifest(folder: Path, **changes: object) -> None:
    path = folder / "manifest.json"
    document = json.loads(path.read_text())
    document.update(changes)
    path.write_text(json.dumps(document))


def test_keys_are_ed25519_the_private_one_private_and_never_overwritten(keys: dict[str, Path]) -> None:
    assert stat.S_IMODE(keys["key"].stat().st_mode) == 0o600
    assert b"BEGIN PUBLIC KEY" in keys["pub"].read_bytes()
    assert signing.check_private_key(keys["key"]) != signing.check_private_key(keys["other_key"])
    with pytest.raises(ConfigError, match="a key is never overwritten"):
        signing.create_keys(keys["key"].parent, "release")
    with pytest.raises(ConfigError, match="cannot read the private key"):
        signing.check_private_key(keys["pub"])


def test_a_signed_model_loads_where_its_key_is_trusted(artifact_copy: Path, keys: dict[str, Path]) -> None:
    kid = signing.sign_folder(artifact_copy, keys["key"])
    model = load(artifact_copy, config=trusting(keys["other_pub"], keys["pub"]))
    assert model.manifest.name == "digits-cnn"
    document = json.loads((artifact_copy / "manifest.json").read_text())
    assert signing.status(document, [keys["pub"]]) == signing.SignatureStatus(True, kid, True, True)


def test_without_trusted_keys_nothing_is_required(artifact_copy: Path, keys: dict[str, Path]) -> None:
    load(artifact_copy)  # unsigned
    signing.sign_folder(artifact_copy, keys["other_key"])
    load(artifact_copy)  # signed by anyone


@pytest.mark.parametrize("case", ["unsigned", "other key", "floor lowered", "model swapped", "garbled"])
def test_trusted_keys_refuse_what_they_did_not_sign(
    artifact_copy: Path, keys: dict[str, Path], digits_artifact: Path, case: str
) -> None:
    if case != "unsigned":
        edit_manifest(artifact_copy, privacy_floor="private")
        signing.sign_folder(artifact_copy, keys["other_key" if case == "other key" else "key"])
    if case == "floor lowered":
        edit_manifest(artifact_copy, privacy_floor="public")
    elif case == "model swapped":  # a new model file, its sha256 updated in the manifest: the signature catches it
        document = json.loads((artifact_copy / "manifest.json").read_text())
        document["artifacts"][0]["sha256"] = "0" * 64
        (artifact_copy / "manifest.json").write_text(json.dumps(document))
    elif case == "garbled":
        document = json.loads((artifact_copy / "manifest.json").read_text())
        document["signature"]["value"] = "not base64!"
        (artifact_copy / "manifest.json").write_text(json.dumps(document))
    expected = {
        "unsigned": "is not signed",
        "other key": "which this device does not trust",
        "floor lowered": "changed after signing",
        "model swapped": "changed after signing",
        "garbled": "changed after signing",
    }[case]
    with pytest.raises(IntegrityError, match=expected) as caught:
        load(artifact_copy, config=trusting(keys["pub"]))
    assert caught.value.file == "manifest.json"


def test_cli_creates_keys_signs_shows_and_compile_refuses_a_bad_key_at_once(
    artifact_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = runner.invoke(app, ["keys", "create", "--out", str(tmp_path / "k"), "--name", "ci"])
    assert made.exit_code == 0, made.output
    assert "AIAAS_TRUSTED_KEYS=" in made.output
    signed = runner.invoke(app, ["sign", str(artifact_copy), "--key", str(tmp_path / "k" / "ci.key")])
    assert signed.exit_code == 0, signed.output
    assert "digits-cnn@1 signed by key" in signed.output
    store = tmp_path / "store"
    (store / "digits-cnn").mkdir(parents=True)
    artifact_copy.rename(store / "digits-cnn" / "1")
    monkeypatch.setenv("AIAAS_STORE", str(store))
    monkeypatch.setenv("AIAAS_INCLUDE_BUILTIN", "0")
    monkeypatch.setenv("AIAAS_TRUSTED_KEYS", str(tmp_path / "k" / "ci.pub"))
    shown = runner.invoke(app, ["models", "show", "digits-cnn"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "(trusted here)" in shown.output
    bad = runner.invoke(
        app, ["compile", "digits-cnn", "--out", str(tmp_path / "o"), "--sign-key", str(tmp_path / "k" / "ci.pub")]
    )
    assert bad.exit_code != 0 and "cannot read the private key" in bad.output
    assert not (tmp_path / "o").exists()  # refused before compiling anything


def test_trusted_keys_can_be_given_inline_as_a_functions_environment_carries_them(
    artifact_copy: Path, keys: dict[str, Path]
) -> None:
    signing.sign_folder(artifact_copy, keys["key"])
    line = signing.public_key_line(keys["pub"])
    assert line.startswith("ed25519:") and "\n" not in line
    load(artifact_copy, config=trusting(line))
    load(artifact_copy, config=RuntimeConfig(trusted_keys=(keys["pub"].read_text(),)))  # PEM text
    with pytest.raises(IntegrityError, match="does not trust"):
        load(artifact_copy, config=trusting(signing.public_key_line(keys["other_pub"])))
    with pytest.raises(ConfigError, match="not a valid ed25519:BASE64"):
        load(artifact_copy, config=RuntimeConfig(trusted_keys=("ed25519:!!",)))


def test_the_environment_variable_takes_a_list(monkeypatch: pytest.MonkeyPatch, keys: dict[str, Path]) -> None:
    line = signing.public_key_line(keys["pub"])
    monkeypatch.setenv("AIAAS_TRUSTED_KEYS", f"{keys['other_pub']},{line}")
    assert RuntimeConfig.from_env().trusted_keys == (str(keys["other_pub"]), line)
