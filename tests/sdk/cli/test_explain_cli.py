"""`sdk explain`: end to end on the embedded digits model, a text model and a series model, on this device and through
a real `sdk serve` behind a counting proxy; text, JSON and pictures; readable errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from sdk.cli import app
from tests.sdk.client.proxy import FaultProxy
from tests.sdk.explain.linear import write_linear_series
from tests.sdk.runtime.text_artifact import write_text_artifact
from tests.sdk.serving.conftest import RunningServer, start_server

pytest.importorskip("PIL", reason='image input needs pip install "aiaas-sdk[images]"')
pytest.importorskip("tokenizers", reason='text input needs pip install "aiaas-sdk[text]"')

runner = CliRunner()
ENV = {"COLUMNS": "200", "TERM": "dumb"}
SAMPLES = Path(__file__).resolve().parents[3] / "models" / "digits_cnn" / "samples"
DIGIT_7 = str(SAMPLES / "digit_7.png")
WEIGHTS = np.array([0.1, -0.2, 0.05, 0.9, -0.1, 0.3, 0.0, -0.4])  # lag t-5 dominates the linear forecast
WINDOW = "12,9,11,16,10,8,10,7"
BUDGET = ["--budget", "96"]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with a tiny text model and a linear series model (the built-in digits are searched after it)."""
    folder = tmp_path_factory.mktemp("explain-cli-store")
    write_text_artifact(folder / "tiny-text" / "1", max_length=8, normalize="l2")
    write_linear_series(folder / "linear-series" / "1", WEIGHTS)
    return folder


@pytest.fixture(scope="module")
def cloud(root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultProxy]:
    """A real `sdk serve` of the same store (and the built-in digits), behind a proxy that counts what reaches it."""
    server: RunningServer = start_server(root, tmp_path_factory.mktemp("explain-cli-logs"))
    proxy = FaultProxy(server.url)
    yield proxy
    proxy.close()
    server.stop()


@pytest.fixture
def proxy(cloud: FaultProxy) -> FaultProxy:
    cloud.reset()
    return cloud


def run(*args: str, ok: bool = True) -> str:
    result = runner.invoke(app, ["explain", *args], env=ENV)
    assert (result.exit_code == 0) is ok, result.output
    return result.output


def as_json(*args: str) -> dict:
    return json.loads(run(*args, "--json"))


def test_a_digit_is_explained_on_this_device_with_a_heatmap(tmp_path: Path) -> None:
    from PIL import Image

    picture = tmp_path / "out.png"
    out = run("digits-cnn", "--image", DIGIT_7, "--plot", str(picture), "--top", "5")
    lines = out.splitlines()
    assert lines[0].startswith("digits-cnn@1 explains class 7: 0.99")
    assert all(line.split()[0].startswith("r") and line.split()[1][0] in "+-" for line in lines[1:6])
    assert "... 59 more pixels" in out and "faithfulness: deletion AUC" in out and "insertion AUC" in out
    assert "evaluations in" in out and "runtime calls" in out and "seed 0" in out
    assert "ran on this device" in out and "no cloud endpoint configured" in out
    assert f"picture: {picture}" in out
    with Image.open(picture) as image:
        assert (
            image.format == "PNG"
            and image.width > 300
            and len(np.unique(np.asarray(image.convert("RGB")).reshape(-1, 3), axis=0)) > 20
        )


def test_json_holds_every_unit_the_decision_and_the_pictures(tmp_path: Path) -> None:
    body = as_json("digits-cnn", "--image", DIGIT_7, "--target", "3", "--method", "occlusion", "--seed", "2")
    (item,) = body["items"]
    assert len(item["units"]) == len(item["attributions"]) == 64 and item["grid"] == [8, 8]
    assert item["target"] == {"kind": "class", "index": 3, "label": "3"}
    assert body["method"] == "occlusion" and body["seed"] == 2 and body["ran_on"] == "device"
    assert body["decision"]["route"] == "local" and body["pictures"] == []


def test_text_is_explained_word_by_word_against_a_comparison(root: Path, tmp_path: Path) -> None:
    args = ["tiny-text", "--text", "the cat sat on the mat", "--compare", "a cat", "--store", str(root)]
    out = run(*args, "--plot", str(tmp_path / "words.png"))
    assert out.startswith("tiny-text@1 explains the cosine similarity to the --compare text")
    body = as_json(*args)
    assert body["items"][0]["units"] == ["the", "cat", "sat", "on", "the", "mat"]
    assert body["items"][0]["target"] == {"kind": "similarity", "to": "compare"}
    assert (tmp_path / "words.png").stat().st_size > 1000


def test_a_series_window_is_explained_lag_by_lag_with_the_top_lag_first(root: Path, tmp_path: Path) -> None:
    out = run("linear-series", "--series", WINDOW, "--store", str(root), "--plot", str(tmp_path / "lags.png"))
    assert out.startswith("linear-series@1 explains the forecast")
    assert out.splitlines()[1].split()[0] == "t-5"  # the largest weight on a value away from the mean
    body = as_json("linear-series", "--series", WINDOW, "--series", WINDOW, "--store", str(root))
    assert [len(i["units"]) for i in body["items"]] == [8, 8] and body["items"][0]["view"][0] == 12.0


def test_an_artifact_folder_or_a_precision_is_explained_on_this_device(root: Path, proxy: FaultProxy) -> None:
    folder = str(root / "tiny-text" / "1")
    body = as_json(folder, "--text", "a cat", "--endpoint", proxy.url, "--privacy", "public")
    assert body["model"] == "tiny-text" and body["items"][0]["units"] == ["a", "cat"]
    assert body["decision"]["reason"] == "mode" and body["ran_on"] == "device"
    pinned = as_json("digits-cnn", "--image", DIGIT_7, *BUDGET, "--precision", "fp32", "--endpoint", proxy.url)
    assert pinned["decision"]["route"] == "local" and "fp32" in pinned["runtime"]
    assert proxy.count == 0


def test_several_items_get_one_picture_each(tmp_path: Path) -> None:
    picture = tmp_path / "digit.png"
    nine = str(SAMPLES / "digit_9.png")
    body = as_json("digits-cnn", "--image", DIGIT_7, "--image", nine, *BUDGET, "--plot", str(picture))
    assert body["pictures"] == [str(tmp_path / "digit-0.png"), str(tmp_path / "digit-1.png")]
    assert all(Path(p).stat().st_size > 1000 for p in body["pictures"])
    assert [i["target"]["label"] for i in body["items"]] == ["7", "9"]


def test_a_public_explanation_goes_to_the_cloud_as_one_request(proxy: FaultProxy) -> None:
    out = run("digits-cnn", "--image", DIGIT_7, *BUDGET, "--endpoint", proxy.url, "--privacy", "public",
              "--mode", "cloud_only")  # fmt: skip
    assert "ran on the cloud" in out
    assert [p for m, p, _ in proxy.requests if m == "POST"] == ["/v2/models/digits-cnn/explain"]


def test_a_private_explanation_sends_nothing_to_the_configured_cloud(proxy: FaultProxy) -> None:
    out = run("digits-cnn", "--image", DIGIT_7, *BUDGET, "--endpoint", proxy.url, "--privacy", "private")
    assert "ran on this device" in out and "privacy private" in out
    assert proxy.count == 0


@pytest.mark.parametrize("kind", ["text", "series"])
def test_the_cloud_and_this_device_give_the_same_attributions(root: Path, proxy: FaultProxy, kind: str) -> None:
    """The tiny text model and the series model are served by the cloud too: the same seed, the same numbers. A
    series window travels as the model's tensor, scaled here with the manifest's series processor."""
    given = (
        ["tiny-text", "--text", "the cat sat on the mat"] if kind == "text" else ["linear-series", "--series", WINDOW]
    )
    common = [*given, *BUDGET, "--seed", "5", "--store", str(root), "--method", "kernel_shap"]
    here = as_json(*common, "--local-only")
    there = as_json(*common, "--endpoint", proxy.url, "--privacy", "public", "--mode", "cloud_only")
    assert (here["ran_on"], there["ran_on"]) == ("device", "cloud")
    assert here["items"][0]["units"] == there["items"][0]["units"]
    np.testing.assert_allclose(there["items"][0]["attributions"], here["items"][0]["attributions"], rtol=1e-6)
    assert [m for m, _, _ in proxy.requests].count("POST") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "nothing to explain"),
        (["--text", "a", "--image", DIGIT_7], "pass one kind of input, not --text and --image"),
        (["--series", "1,2,x"], "--series '1,2,x': value 2 ('x') is not a number"),
        (["--image", DIGIT_7, "--method", "lime"], "InvalidInput: parameter 'method' is 'lime'"),
        (["--image", DIGIT_7, "--budget", "2"], "parameter 'max_evals' is 2; the minimum is 3"),
        (["--image", DIGIT_7, "--target", "12"], "target"),
        (["--image", DIGIT_7, "--compare", "a text"], "compare"),
    ],
)
def test_bad_input_is_one_readable_line(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["explain", "digits-cnn", *args], env=ENV)
    assert result.exit_code == 1, result.output
    assert message in result.output and "Traceback" not in result.output
    assert "fix:" in result.output


def test_without_matplotlib_plot_fails_first_naming_the_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what an environment without the plot extra finds
    result = runner.invoke(app, ["explain", "digits-cnn", "--image", DIGIT_7, "--plot", str(tmp_path / "x.png")],
                           env=ENV)  # fmt: skip
    assert result.exit_code == 1
    assert (
        "MissingDependency: drawing explanations (sdk explain --plot) needs the 'matplotlib' package" in result.output
    )
    assert 'fix: pip install "aiaas-sdk[plot]"' in result.output
    assert "explains" not in result.output and not (tmp_path / "x.png").exists()
