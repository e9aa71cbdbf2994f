"""The page's routes and what it lists: GET / and GET /ui/{file} serve only the files of the ui folder read at start
(no traversal, no links, no late additions), with their content types, an ETag, a strict Content-Security-Policy and
nosniff; the page is public while GET /v2/models keeps its token; GET /v2/models lists each model with its inputs,
outputs, privacy floor, signature status, raw input kind and whether explanations are on."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sdk.artifacts import LayeredStore, LocalStore, builtin_store
from sdk.artifacts.store import BUILTIN_ROOT
from sdk.runtime.config import RuntimeConfig
from sdk.serving.config import ServeConfig
from sdk.serving.repository import ModelRepository
from sdk.serving.service import Service
from sdk.serving.ui import CONTENT_SECURITY_POLICY, PACKAGE_UI
from tests.sdk.runtime.text_artifact import write_text_artifact
from tests.sdk.serving.builders import pair_model

REPO = Path(__file__).parents[3]
TOKEN = {"authorization": "Bearer s3cret"}
PAGE = {
    "index.html": b"<!doctype html><title>aiaas</title><script src=/ui/app.js></script>",
    "app.js": b"document.title = 'aiaas';",
    "style.css": b"body { margin: 0 }",
    "logo.png": b"\x89PNG\r\n\x1a\n",
}


@pytest.fixture(scope="module")
def ui_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A page of four files, and what must never be served beside them: a link to a file outside, a subfolder, a
    hidden file, a file of no known type."""
    folder = tmp_path_factory.mktemp("ui")
    for name, body in PAGE.items():
        (folder / name).write_bytes(body)
    secret = tmp_path_factory.mktemp("outside") / "secret.js"
    secret.write_text("SECRET-BYTES")
    (folder / "leak.js").symlink_to(secret)
    (folder / "sub").mkdir()
    (folder / "sub" / "inner.js").write_text("INNER-BYTES")
    (folder / ".hidden.js").write_text("HIDDEN-BYTES")
    (folder / "notes.md").write_text("NOTES-BYTES")
    return folder


def new_service(store: Any = None, runtime: RuntimeConfig | None = None, **settings: Any) -> Service:
    repository = ModelRepository(store or builtin_store(), runtime=runtime)
    return Service(repository, config=ServeConfig(**settings)).start()


@pytest.fixture(scope="module")
def served(ui_dir: Path) -> Iterator[Service]:
    service = new_service(ui_dir=ui_dir, auth_token="s3cret")
    yield service
    service.repository.close()


# --- the page's files ---------------------------------------------------------------------------------------------


def test_root_serves_index_html_with_a_strict_csp_and_nosniff(served: Service) -> None:
    response = served.handle("GET", "/", {}, b"")  # no token: the page is public
    assert response.status == 200 and response.body == PAGE["index.html"]
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    csp = response.headers["content-security-policy"]
    assert csp == CONTENT_SECURITY_POLICY
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["default-src"] == "'self'" and directives["frame-ancestors"] == "'none'"
    assert directives["img-src"] == "'self' data: blob:"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "*" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["etag"].startswith('"') and response.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("app.js", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("logo.png", "image/png"),
        ("index.html", "text/html; charset=utf-8"),
    ],
)
def test_ui_files_are_served_with_their_content_type(served: Service, name: str, content_type: str) -> None:
    response = served.handle("GET", f"/ui/{name}", {}, b"")
    assert response.status == 200 and response.body == PAGE[name]
    assert response.headers["content-type"] == content_type
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


@pytest.mark.parametrize(
    "path",
    [
        "/ui/leak.js",  # a link, even to a file of the right type
        "/ui/sub/inner.js",
        "/ui/sub%2finner.js",
        "/ui/..%2f..%2fetc%2fpasswd",
        "/ui/%2e%2e",
        "/ui/../routes.py",
        "/ui/.hidden.js",
        "/ui/notes.md",
        "/ui/",
        "/ui/" + "a" * 5000 + ".js",
    ],
)
def test_nothing_outside_the_page_is_served(served: Service, path: str) -> None:
    response = served.handle("GET", path, {}, b"")
    assert response.status == 404, (path, response.status)
    assert b"-BYTES" not in response.body and len(response.body) < 1000


def test_a_file_added_after_start_is_not_served(ui_dir: Path) -> None:
    service = new_service(ui_dir=ui_dir)
    (ui_dir / "late.js").write_text("late")
    try:
        assert service.handle("GET", "/ui/late.js", {}, b"").status == 404
    finally:
        (ui_dir / "late.js").unlink()
        service.repository.close()


def test_a_current_etag_gets_304_and_a_stale_one_the_file(served: Service) -> None:
    first = served.handle("GET", "/ui/app.js", {}, b"")
    etag = first.headers["etag"]
    again = served.handle("GET", "/ui/app.js", {"if-none-match": f'"stale", {etag}'}, b"")
    assert again.status == 304 and again.body == b"" and again.headers["etag"] == etag
    stale = served.handle("GET", "/ui/app.js", {"if-none-match": '"stale"'}, b"")
    assert stale.status == 200 and stale.body == PAGE["app.js"]


def test_head_on_the_page_has_its_length_and_no_body(served: Service) -> None:
    head = served.handle("HEAD", "/", {}, b"")
    assert head.status == 200 and head.body == b""
    assert head.headers["content-length"] == str(len(PAGE["index.html"]))


def test_the_page_is_public_but_its_data_routes_keep_their_token(served: Service) -> None:
    assert served.handle("GET", "/ui/app.js", {}, b"").status == 200
    assert served.handle("GET", "/v2/models", {}, b"").status == 401
    assert served.handle("GET", "/v2/models", TOKEN, b"").status == 200
    assert served.handle("POST", "/", {}, b"").status == 405


def test_the_page_turned_off_or_missing_answers_404_saying_why(tmp_path: Path) -> None:
    off = new_service(ui=False)
    response = off.handle("GET", "/", {}, b"")
    assert response.status == 404 and "AIAAS_UI=false" in json.loads(response.body)["error"]
    missing = new_service(ui_dir=tmp_path / "nowhere")
    response = missing.handle("GET", "/", {}, b"")
    assert response.status == 404 and "not installed" in json.loads(response.body)["error"]
    off.repository.close()
    missing.repository.close()


@pytest.mark.integration
def test_the_wheel_ships_every_file_of_the_page(tmp_path: Path) -> None:
    page = sorted(p.name for p in PACKAGE_UI.iterdir() if p.is_file()) if PACKAGE_UI.is_dir() else []
    if not page:
        pytest.skip("sdk/serving/ui holds no files yet")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), REPO],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = tmp_path.glob("aiaas_sdk-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = sorted(
            n.removeprefix("sdk/serving/ui/") for n in archive.namelist() if n.startswith("sdk/serving/ui/")
        )
    assert shipped == page


# --- GET /v2/models ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signed_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A store of 'pair' (signed), 'tiny-text' (unsigned, raw text) and a copy of digits whose model file was
    changed after its manifest was written; and the public key that signed 'pair'."""
    signing = pytest.importorskip("sdk.artifacts.signing")
    pytest.importorskip("cryptography")
    root = tmp_path_factory.mktemp("listed")
    pair_model(root)
    write_text_artifact(root / "tiny-text" / "1")
    broken = root / "broken" / "1"
    shutil.copytree(BUILTIN_ROOT / "digits-cnn" / "1", broken)
    manifest = json.loads((broken / "manifest.json").read_text())
    manifest["name"] = "broken"
    (broken / "manifest.json").write_text(json.dumps(manifest))
    with (broken / manifest["artifacts"][0]["file"]).open("ab") as model:
        model.write(b"tampered")
    private, public, key_id = signing.create_keys(tmp_path_factory.mktemp("keys"))
    signing.sign_folder(root / "pair" / "1", private)
    return root, public, key_id


def entries(service: Service) -> dict[str, dict[str, Any]]:
    response = service.handle("GET", "/v2/models", {}, b"")
    assert response.status == 200 and response.headers["content-type"] == "application/json"
    return {entry["name"]: entry for entry in json.loads(response.body)["models"]}


def test_model_list_shows_inputs_outputs_floor_signature_raw_kind_and_explain(signed_store) -> None:
    pytest.importorskip("tokenizers")
    root, _, key_id = signed_store
    store = LayeredStore([LocalStore(root), builtin_store()])
    service = Service(ModelRepository(store), config=ServeConfig())  # not started: 'broken' would stop the start
    listed = entries(service)
    assert set(listed) == {"pair", "tiny-text", "broken", "digits-cnn"}
    digits = listed["digits-cnn"]
    assert digits["version"] == "1" and digits["versions"] == ["1"]
    assert digits["inputs"] == [{"name": "image", "datatype": "FP32", "shape": [-1, 1, 8, 8]}]
    assert [o["name"] for o in digits["outputs"]] == ["logits", "probabilities"]
    assert digits["privacy_floor"] == "public" and digits["raw_input"] == "image" and digits["explain"] is True
    assert digits["labels"] == [str(i) for i in range(10)]
    assert digits["signature"] == {"status": "unsigned", "key_id": None}
    assert listed["tiny-text"]["raw_input"] == "text" and listed["tiny-text"]["wire_input"]["json"] == "utf-8 text"
    assert listed["pair"]["raw_input"] is None  # tensors only
    assert listed["pair"]["signature"] == {"status": "signed", "key_id": key_id}  # no trusted keys: not checked
    broken = listed["broken"]["error"]
    assert broken["status"] == 422 and "model.onnx" in broken["message"] and str(root) not in broken["message"]
    service.repository.close()


def test_with_trusted_keys_a_signed_model_is_listed_verified_and_an_unsigned_one_refused(signed_store) -> None:
    root, public, key_id = signed_store
    runtime = RuntimeConfig(trusted_keys=(str(public),))
    service = Service(ModelRepository(LocalStore(root), runtime=runtime), config=ServeConfig())  # not preloaded
    listed = entries(service)
    assert listed["pair"]["signature"] == {"status": "verified", "key_id": key_id}
    assert listed["tiny-text"]["error"]["status"] == 422 and "not signed" in listed["tiny-text"]["error"]["message"]
    service.repository.close()


def test_model_list_says_when_explanations_are_off() -> None:
    service = new_service(explain=False)
    assert entries(service)["digits-cnn"]["explain"] is False
    service.repository.close()
