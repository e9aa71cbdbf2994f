from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sdk.artifacts import LayeredStore, LocalStore, ModelRef, builtin_store, open_store, read_manifest, write_manifest
from sdk.artifacts.store import ArtifactFolderStore, locate_model, version_key
from sdk.errors import ConfigError, IntegrityError, ManifestError, ModelNotFound


def _as_version(artifact: Path, tmp: Path, version: str) -> Path:
    """A copy of the default artifact relabelled as another version."""
    target = tmp / f"src-{version}"
    shutil.copytree(artifact, target)
    manifest = read_manifest(target)
    write_manifest(target, type(manifest)(**{**manifest.__dict__, "version": version}))
    return target


@pytest.fixture
def store(tmp_path: Path, digits_artifact: Path) -> LocalStore:
    s = LocalStore(tmp_path / "store")
    for v in ("1", "2", "10"):
        s.add(_as_version(digits_artifact, tmp_path, v))
    return s


def test_layout_is_name_version(store: LocalStore) -> None:
    assert (store.root / "digits-cnn" / "10" / "manifest.json").is_file()
    assert (store.root / "digits-cnn" / "10" / "model.onnx").is_file()
    assert store.names() == ["digits-cnn"]
    assert store.versions("digits-cnn") == ["1", "2", "10"]


def test_plain_name_resolves_to_highest_version_then_latest_alias(store: LocalStore) -> None:
    assert store.resolve("digits-cnn").version == "10"
    store.set_alias("digits-cnn", "latest", "2")
    assert store.resolve("digits-cnn").version == "2"


def test_alias_and_version_references(store: LocalStore) -> None:
    store.set_alias("digits-cnn", "live", "1")
    assert store.resolve("digits-cnn@live").version == "1"
    assert store.resolve("digits-cnn@2").version == "2"
    with pytest.raises(ModelNotFound, match="no version or alias 'canary'"):
        store.resolve("digits-cnn@canary")


def test_alias_keeps_its_history(store: LocalStore) -> None:
    store.set_alias("digits-cnn", "live", "1")
    record = store.set_alias("digits-cnn", "live", "2")
    assert record["version"] == "2"
    assert [h["version"] for h in record["history"]] == ["1"]
    on_disk = json.loads((store.root / "digits-cnn" / "aliases" / "live.json").read_text())
    assert on_disk["version"] == "2"


def test_alias_to_missing_version_is_refused(store: LocalStore) -> None:
    with pytest.raises(ModelNotFound):
        store.set_alias("digits-cnn", "live", "99")


def test_add_refuses_a_tampered_artifact_and_leaves_nothing(tmp_path: Path, artifact_copy: Path) -> None:
    (artifact_copy / "model.onnx").write_bytes(b"not a model")
    s = LocalStore(tmp_path / "s")
    with pytest.raises(IntegrityError, match="model.onnx"):
        s.add(artifact_copy)
    assert s.names() == []


def test_add_refuses_to_overwrite_a_version(store: LocalStore, digits_artifact: Path) -> None:
    with pytest.raises(ConfigError, match="already"):
        store.add(digits_artifact)


@pytest.mark.parametrize("ref", ["Digits", "digits-cnn@../x", "", "a/b"])
def test_malformed_references_are_refused(ref: str) -> None:
    with pytest.raises(ModelNotFound):
        ModelRef.parse(ref)


def test_version_order_is_natural() -> None:
    assert sorted(["1.10", "1.2", "2", "10", "1"], key=version_key) == ["1", "1.2", "1.10", "2", "10"]


def test_layered_store_prefers_the_user_store_and_lists_both(store: LocalStore) -> None:
    layered = LayeredStore([store, builtin_store()])
    assert layered.resolve("digits-cnn").store == store.label
    assert LayeredStore([LocalStore(store.root / "empty"), builtin_store()]).resolve("digits-cnn").version == "1"
    with pytest.raises(ModelNotFound, match="unknown model 'nope'") as info:
        layered.resolve("nope")
    assert "digits-cnn" in (info.value.hint or "")


def test_builtin_store_is_read_only(digits_artifact: Path) -> None:
    with pytest.raises(ConfigError, match="read-only"):
        builtin_store().add(digits_artifact)


def test_open_store_reads_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIAAS_STORE", str(tmp_path / "mine"))
    monkeypatch.setenv("AIAAS_INCLUDE_BUILTIN", "false")
    layered = open_store()
    assert layered.label == str(tmp_path / "mine")
    assert layered.names() == []


def test_a_bare_name_resolves_to_the_live_alias_before_latest(store: LocalStore) -> None:
    store.set_alias("digits-cnn", "latest", "2")
    store.set_alias("digits-cnn", "live", "1")
    assert store.resolve("digits-cnn").version == "1"


def test_open_store_is_the_one_place_a_location_becomes_a_store(tmp_path: Path, digits_artifact: Path) -> None:
    single = open_store(digits_artifact)  # one artifact folder: that version alone, whatever include_builtin says
    assert isinstance(single, ArtifactFolderStore) and single.label == str(digits_artifact)
    assert single.names() == ["digits-cnn"] and single.resolve("digits-cnn").path == digits_artifact
    with pytest.raises(ModelNotFound, match="no version '9' here"):
        single.resolve("digits-cnn@9")
    layered = open_store(tmp_path / "root", include_builtin=True)  # a local store root: built-in models after it
    assert isinstance(layered, LayeredStore) and layered.label == f"{tmp_path / 'root'} + built-in models"
    assert open_store(tmp_path / "root", include_builtin=False).label == str(tmp_path / "root")


def test_locate_model_takes_a_folder_a_path_string_or_a_reference(
    tmp_path: Path, digits_artifact: Path, store: LocalStore
) -> None:
    by_path = locate_model(digits_artifact)
    assert (by_path.name, by_path.version, by_path.path, by_path.store) == (
        "digits-cnn",
        "1",
        digits_artifact,
        str(digits_artifact),
    )
    assert locate_model(str(digits_artifact)) == by_path
    assert locate_model(by_path) is by_path
    assert locate_model("digits-cnn@2", store).path == store.root / "digits-cnn" / "2"
    with pytest.raises(ManifestError, match="is not an artifact folder"):
        locate_model(tmp_path / "store")  # a store root is no model
    with pytest.raises(ManifestError, match="is not an artifact folder"):
        locate_model("./nowhere")


def test_a_failed_add_leaves_no_staging_behind(
    store: LocalStore, tmp_path: Path, digits_artifact: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _as_version(digits_artifact, tmp_path, "3")
    copy = shutil.copy2

    def copy_then_change(src: Path, dst: Path) -> object:
        copied = copy(src, dst)
        Path(dst).write_bytes(b"changed while copying")
        return copied

    monkeypatch.setattr(shutil, "copy2", copy_then_change)  # the store imports shutil where it copies
    with pytest.raises(IntegrityError):
        store.add(source)
    assert store.versions("digits-cnn") == ["1", "2", "10"]
    assert sorted(p.name for p in (store.root / "digits-cnn").iterdir()) == ["1", "10", "2"]
