"""The browser tier: the page at / of a real `sdk serve`, driven in headless Chromium by Playwright.

Playwright drives the system's Chromium (Debian's ``chromium`` package: ``apt-get install -y chromium``), found as
``AIAAS_CHROMIUM``, else ``chromium`` or ``chromium-browser`` on the PATH; Playwright's own browser download is not
needed. Without Playwright or a Chromium every test here is skipped, with the reason.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sdk.artifacts.manifest import read_manifest, write_manifest
from sdk.artifacts.store import BUILTIN_ROOT
from sdk.demo.stack import Server, start_serve

TOKEN = "browser-s3cret"
SCRIPT_LABEL = "<script>alert(1)</script>"
IMG_LABEL = '<img src=x onerror="alert(3)">'


def chromium_path() -> str | None:
    configured = os.environ.get("AIAAS_CHROMIUM")
    if configured:
        return configured if Path(configured).is_file() else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def hostile_digits(root: Path) -> Path:
    """'digits-evil': the digits CNN whose labels for 7 and 3 are markup a third party could have written."""
    folder = root / "digits-evil" / "1"
    shutil.copytree(BUILTIN_ROOT / "digits-cnn" / "1", folder)
    manifest = read_manifest(folder)
    labels = list(manifest.labels or ())
    labels[7], labels[3] = SCRIPT_LABEL, IMG_LABEL
    write_manifest(folder, dataclasses.replace(manifest, name="digits-evil", labels=tuple(labels)))
    return folder


@pytest.fixture(scope="session")
def chromium() -> str:
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install 'aiaas-sdk[dev]')")
    path = chromium_path()
    if path is None:
        pytest.skip("no Chromium: apt-get install -y chromium, or set AIAAS_CHROMIUM to a Chromium binary")
    return path


@pytest.fixture(scope="package")
def page_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The models the page shows: the digits CNN (built in), a hostile copy of it, the tiny text model (versions 1
    and 2, which keeps 4 tokens), 'pair', and a linear forecaster over a window of 6 whose lags t-3 and t-2 count."""
    # The builders (onnx) are imported here: on an install without onnx the tier skips, naming it.
    from tests.sdk.explain.linear import write_linear_series
    from tests.sdk.runtime.text_artifact import write_text_artifact
    from tests.sdk.serving.builders import pair_model

    root = tmp_path_factory.mktemp("browser-store")
    write_text_artifact(root / "tiny-text" / "1")
    second = write_text_artifact(root / "tiny-text" / "2", max_length=4)
    write_manifest(second, dataclasses.replace(read_manifest(second), version="2"))
    hostile_digits(root)
    pair_model(root)
    write_linear_series(root / "linear-series" / "1", np.array([0.0, 0.0, 0.0, -1.0, 2.0, 0.0]))
    return root


def _serve(root: Path, logs: Path, *args: str) -> Server:
    return start_serve(str(root), logs / "serve.log", *args, env={"AIAAS_STORE": str(root)})


@pytest.fixture(scope="package")  # gone once the tier ran: the rest of the suite gets its memory back
def server(chromium: str, page_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = _serve(page_store, tmp_path_factory.mktemp("browser-serve"))
    yield running
    running.stop()


@pytest.fixture(scope="package")
def auth_server(chromium: str, page_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server that wants a bearer token for everything but the page and the health checks."""
    logs = tmp_path_factory.mktemp("browser-auth")
    running = _serve(page_store, logs, "--auth-token", TOKEN, "--no-builtin", "--model", "tiny-text")
    yield running
    running.stop()


@pytest.fixture(scope="package")
def browser(chromium: str) -> Iterator[Any]:
    from playwright.sync_api import Error, sync_playwright

    with sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=chromium, headless=True)
        except Error as exc:  # a browser that is there but cannot start (missing libraries): the tier cannot run
            pytest.skip(f"Chromium at {chromium} did not start: {str(exc).splitlines()[0]}")
        yield launched
        launched.close()


@dataclass
class Tab:
    """A page in a fresh browser context, with what it did recorded."""

    page: Any
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def open(self, url: str) -> Any:
        self.page.goto(url)
        return self.page

    def card(self, model: str) -> Any:
        return self.page.locator(f"article.model[data-model='{model}']")


@pytest.fixture
def tab(browser: Any) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    recorded = Tab(page)
    page.on("request", lambda request: recorded.requests.append(request.url))
    page.on("console", lambda message: recorded.console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: recorded.errors.append(str(error)))

    def dismiss(dialog: Any) -> None:
        recorded.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    yield recorded
    context.close()
