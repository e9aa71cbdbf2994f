"""The page at / of a real `sdk serve`, in headless Chromium: the models listed, a digit and a text tried, an
explanation drawn, live metrics, nothing fetched off the loopback host, hostile labels shown as text, the token."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from sdk.demo.stack import Server
from tests.browser.conftest import IMG_LABEL, SCRIPT_LABEL, TOKEN, Tab

playwright = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install 'aiaas-sdk[dev]')"
)
expect = playwright.expect

pytestmark = pytest.mark.browser

SAMPLES = Path(__file__).resolve().parents[2] / "models" / "digits_cnn" / "samples"


def run_digit(tab: Tab, model: str, sample: str) -> Any:
    """Upload a sample to a model's form and run it; returns the answer's label once the answer is in."""
    card = tab.card(model)
    card.get_by_label("Image (PNG or JPEG)").set_input_files(SAMPLES / sample)
    with tab.page.expect_response(lambda response: response.url.endswith("/infer")):
        card.get_by_role("button", name="Run").click()
    expect(card.locator(".answer .result")).to_be_visible()
    return card.locator(".answer .label")


def test_the_page_lists_every_served_model_with_privacy_floor_signature_inputs_and_outputs(
    tab: Tab, server: Server
) -> None:
    page = tab.open(server.url + "/")
    page.wait_for_selector("article.model")
    names = page.locator("article.model").evaluate_all("cards => cards.map(c => c.dataset.model)")
    assert sorted(names) == ["digits-cnn", "digits-evil", "linear-series", "pair", "tiny-text"]
    digits = tab.card("digits-cnn")
    badges = digits.locator(".badge").all_inner_texts()
    assert "privacy floor: public" in badges and "v1 unsigned" in badges and "input: image" in badges
    assert "explain on" in badges
    digits.get_by_text("Inputs and outputs").click()
    tables = digits.locator("table").all_inner_texts()
    assert "image\tFP32\t[-1, 1, 8, 8]" in tables[0] and "probabilities\tFP32\t[-1, 10]" in tables[1]
    assert "input: text" in tab.card("tiny-text").locator(".badge").all_inner_texts()
    assert tab.errors == []


def test_a_digit_png_is_answered_with_its_label_and_explained_with_a_heatmap(tab: Tab, server: Server) -> None:
    tab.open(server.url + "/").wait_for_selector("article.model")
    label = run_digit(tab, "digits-cnn", "digit_7.png")
    assert label.inner_text() == "7"
    card = tab.card("digits-cnn")
    assert "score 0.99" in card.locator(".answer .score").inner_text()
    card.get_by_role("button", name="Explain").click()
    heatmap = card.locator("canvas.heatmap[data-drawn='1']")
    heatmap.wait_for()
    colours = heatmap.evaluate(
        """canvas => {
            const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
            const seen = new Set();
            for (let i = 0; i < data.length; i += 4) seen.add(`${data[i]},${data[i + 1]},${data[i + 2]}`);
            return seen.size;
        }"""
    )
    assert colours > 8  # the digit's grey levels under red and blue cells, not a blank canvas
    assert "64 pixels over the image; strongest: r" in heatmap.get_attribute("aria-label")
    facts = card.locator(".explanation dl").inner_text()
    assert "class 7 (index 7)" in facts
    assert "deletion AUC" in card.locator(".explanation .faithfulness").inner_text()
    assert tab.errors == []


def test_text_is_answered_by_the_text_model(tab: Tab, server: Server) -> None:
    tab.open(server.url + "/").wait_for_selector("article.model")
    card = tab.card("tiny-text")
    card.get_by_label("Text").fill("cat sat")
    card.get_by_role("button", name="Run").click()
    # [CLS] cat sat [SEP]: ids 1 + 5 + 6 + 2 = 14 over 4 tokens
    expect(card.locator(".answer dd")).to_have_text("[1, 2] 14, 4")


def test_a_text_is_explained_with_its_words_highlighted(tab: Tab, server: Server) -> None:
    tab.open(server.url + "/").wait_for_selector("article.model")
    card = tab.card("tiny-text")
    card.get_by_label("Text").fill("cat mat")
    card.get_by_role("button", name="Explain").click()
    words = card.locator(".explanation .words .w")
    expect(words).to_have_count(2)
    assert words.all_inner_texts() == ["cat", "mat"]
    # the embedding's cosine to itself: every word's id counts, so each is highlighted, the strongest the most
    levels = words.evaluate_all("spans => spans.map(s => [...s.classList].find(c => /^(pos|neg)-/.test(c)) || '')")
    assert all(levels) and ("pos-5" in levels or "neg-5" in levels), levels
    expect(card.locator(".explanation dl")).to_contain_text("similarity to its own embedding")


def test_a_series_window_is_forecast_and_explained_with_bars_over_its_lags(tab: Tab, server: Server) -> None:
    tab.open(server.url + "/").wait_for_selector("article.model")
    card = tab.card("linear-series")
    card.get_by_label("window (FP32, shape [-1, 6, 1]) as JSON").fill("[10, 11, 9, 14, 6, 10]")
    card.get_by_role("button", name="Run").click()
    expect(card.locator(".answer dt")).to_have_text("forecast")
    card.get_by_role("button", name="Explain").click()
    bars = card.locator("canvas.bars[data-drawn='1']")
    bars.wait_for()
    assert bars.get_attribute("aria-label").startswith("Bars of 6 lags; strongest: t-")
    strongest = card.locator(".explanation dd.mono").inner_text()
    assert {part.split()[0] for part in strongest.split(", ")} == {"t-3", "t-2"}  # only the lags with weight count


def test_a_version_chosen_in_the_form_answers(tab: Tab, server: Server) -> None:
    tab.open(server.url + "/").wait_for_selector("article.model")
    card = tab.card("tiny-text")
    expect(card.locator(".badge").nth(1)).to_have_text("v2 unsigned")  # the default: the highest version
    card.get_by_label("Text").fill("the cat sat")
    card.get_by_role("button", name="Run").click()
    expect(card.locator(".answer dd")).to_have_text("[1, 2] 12, 4")  # [CLS] the cat [SEP]: version 2 keeps 4 tokens
    card.get_by_label("Version").select_option("1")
    expect(card.locator(".badge").nth(1)).to_have_text("v1 (signature not listed)")
    card.get_by_label("Text").fill("the cat sat")
    with tab.page.expect_request(lambda request: request.url.endswith("/tiny-text/versions/1/infer")):
        card.get_by_role("button", name="Run").click()
    expect(card.locator(".answer dd")).to_have_text("[1, 2] 18, 5")


def test_a_tensor_model_takes_its_inputs_as_json(tab: Tab, server: Server) -> None:
    tab.open(server.url + "/").wait_for_selector("article.model")
    card = tab.card("pair")
    card.get_by_label("ids (INT64, shape [-1, -1]) as JSON").fill("[1, 2, 3]")
    card.get_by_label("mask (FP32, shape [-1, -1]) as JSON").fill("[1, 1, 0]")
    card.get_by_role("button", name="Run").click()
    expect(card.locator(".answer dd")).to_have_text("[1, 3] 1, 2, 0")


def test_bad_input_shows_the_servers_message_and_bad_json_is_caught_on_the_page(
    tab: Tab, server: Server, tmp_path: Path
) -> None:
    tab.open(server.url + "/").wait_for_selector("article.model")
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("this is no PNG")
    card = tab.card("digits-cnn")
    card.get_by_label("Image (PNG or JPEG)").set_input_files(not_an_image)
    card.get_by_role("button", name="Run").click()
    expect(card.locator(".answer .error")).to_have_text(re.compile(r"^400: .*image"))
    pair = tab.card("pair")
    pair.get_by_label("ids (INT64, shape [-1, -1]) as JSON").fill("[1, 2")
    posted = len(tab.requests)
    pair.get_by_role("button", name="Run").click()
    expect(pair.locator(".answer .error")).to_contain_text("Input 'ids' is not JSON")
    assert len(tab.requests) == posted  # refused on the page: nothing sent


def test_labels_from_a_third_partys_artifact_render_as_text_never_as_markup(tab: Tab, server: Server) -> None:
    tab.open(server.url + "/").wait_for_selector("article.model")
    card = tab.card("digits-evil")
    assert run_digit(tab, "digits-evil", "digit_7.png").inner_text() == SCRIPT_LABEL
    assert run_digit(tab, "digits-evil", "digit_3.png").inner_text() == IMG_LABEL
    assert SCRIPT_LABEL in card.inner_text()  # the classes line lists it, as text
    assert card.locator("script, img").count() == 0
    tab.page.wait_for_timeout(300)  # time for a handler that should never run
    assert tab.dialogs == [] and tab.errors == []
    assert not any(urlsplit(url).path.endswith("/x") for url in tab.requests)


def test_every_request_the_page_makes_goes_to_the_loopback_server(tab: Tab, server: Server) -> None:
    page = tab.open(server.url + "/?poll=1")
    page.wait_for_selector("article.model")
    run_digit(tab, "digits-cnn", "digit_7.png").wait_for()
    tab.card("digits-cnn").get_by_role("button", name="Explain").click()
    tab.card("digits-cnn").locator("canvas.heatmap").wait_for()
    text = tab.card("tiny-text")
    text.get_by_label("Text").fill("a cat")
    text.get_by_role("button", name="Run").click()
    text.locator(".answer dd").wait_for()
    page.locator("figure[data-chart='rps'] canvas[data-drawn='1']").wait_for()
    origin = urlsplit(server.url)
    network = [url for url in tab.requests if urlsplit(url).scheme not in ("data", "blob")]
    assert network and all(urlsplit(url)[:2] == origin[:2] for url in network), network
    paths = {urlsplit(url).path for url in network}
    assert {"/", "/ui/app.js", "/ui/style.css", "/v2/models", "/metrics"} <= paths
    assert not [line for line in tab.console if "Content Security Policy" in line], tab.console
    assert page.evaluate("document.querySelectorAll('[style]').length") == 0


def test_live_metrics_are_read_from_the_server_and_drawn(tab: Tab, server: Server) -> None:
    page = tab.open(server.url + "/?poll=1")
    page.wait_for_selector("article.model")
    run_digit(tab, "digits-cnn", "digit_7.png").wait_for()
    chart = page.locator("figure[data-chart='rps']")
    page.wait_for_function(
        "() => { const o = document.querySelector(\"figure[data-chart='latency'] output\");"
        " return o && o.textContent.includes('p95'); }"
    )
    assert chart.locator("canvas").get_attribute("data-drawn") == "1"
    expect(page.locator("figure[data-chart='depth'] output")).to_have_text("0 requests")
    page.get_by_label("Model", exact=True).select_option("tiny-text")  # a model nothing was sent to
    expect(page.locator("figure[data-chart='rps'] output")).to_have_text("0 /s")


def test_with_auth_on_the_models_appear_only_after_the_token_is_entered(tab: Tab, auth_server: Server) -> None:
    page = tab.open(auth_server.url + "/")
    status = page.locator("#status")
    expect(status).to_contain_text("needs an access token")
    assert page.locator("article.model").count() == 0
    page.get_by_label("Access token").fill("wrong")
    page.get_by_role("button", name="Use token").click()
    expect(status).to_contain_text("The token was refused")
    assert page.locator("article.model").count() == 0
    page.get_by_label("Access token").fill(TOKEN)
    page.get_by_role("button", name="Use token").click()
    page.wait_for_selector("article.model[data-model='tiny-text']")
    assert page.evaluate("sessionStorage.getItem('aiaas.token')") == TOKEN
    page.reload()  # kept for the tab's life
    page.wait_for_selector("article.model[data-model='tiny-text']")
    page.get_by_role("button", name="Forget").click()
    expect(status).to_contain_text("needs an access token")
    assert page.locator("article.model").count() == 0 and page.evaluate("sessionStorage.length") == 0


def test_the_page_fits_a_narrow_window_and_sets_its_columns_side_by_side_when_wide(tab: Tab, server: Server) -> None:
    page = tab.open(server.url + "/")
    page.wait_for_selector("article.model")
    models, metrics = page.locator("main > section").all()
    assert abs(models.bounding_box()["y"] - metrics.bounding_box()["y"]) < 2  # two columns at 1280 px
    page.set_viewport_size({"width": 380, "height": 800})
    run_digit(tab, "digits-cnn", "digit_7.png").wait_for()
    tab.card("digits-cnn").get_by_role("button", name="Explain").click()
    tab.card("digits-cnn").locator("canvas.heatmap").wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= 380
    assert metrics.bounding_box()["y"] > models.bounding_box()["y"] + 100  # one column


def test_every_control_has_an_accessible_name(tab: Tab, server: Server) -> None:
    page = tab.open(server.url + "/")
    page.wait_for_selector("article.model")
    unnamed = page.evaluate(
        """() => [...document.querySelectorAll("input, select, textarea, button, canvas")]
            .filter(e => !(e.labels && e.labels.length) && !e.getAttribute("aria-label") && !e.textContent.trim())
            .map(e => e.outerHTML.slice(0, 80))"""
    )
    assert unnamed == []
