"""The tokenizer probe: `sdk compile` records the ids the configured tokenizer gives fixed probe texts under this
`tokenizers` release; building the tokenizer at load encodes them again and refuses a release that gives other ids
(a normalizer, a split or the truncation that changed), through `sdk.load` and a real `sdk serve`.

Another `tokenizers` release cannot be installed inside a test, so "the ids another release gives" are those of the
same tokenizer.json with its normalizer changed (no lowercasing): what a release whose normalizer behaves differently
would give. Everything else is real: the file, the library, the manifest, the loader and the server."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from sdk import load
from sdk.artifacts import read_manifest
from sdk.errors import ArtifactError, ConfigError, ManifestError
from sdk.runtime.processors.text import PROBE_TEXTS, TextEncoder, probe_sha256, with_probe
from tests.sdk.runtime.text_artifact import tokenizer_json, write_text_artifact

tokenizers = pytest.importorskip("tokenizers")


def _uncased_json() -> bytes:
    """The test tokenizer without its Lowercase normalizer: 'The' becomes [UNK] instead of 'the'."""
    data = json.loads(tokenizer_json())
    data["normalizer"] = None
    return json.dumps(data).encode()


def _spec(folder: Path):  # type: ignore[no-untyped-def]
    text = read_manifest(folder).processors.text  # type: ignore[union-attr]
    assert text is not None
    return text


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_text_artifact(tmp_path_factory.mktemp("probe") / "tiny-text" / "1", max_length=6)


def test_the_probe_is_a_sha256_of_the_ids_and_follows_the_tokenizer_and_its_truncation(plain: Path) -> None:
    spec = _spec(plain)
    probed = with_probe(spec, tokenizer_json(), model="tiny-text@1")
    assert len(probed.probe_sha256) == 64 and int(probed.probe_sha256, 16) >= 0
    assert probed.tokenizers_version == tokenizers.__version__
    assert with_probe(spec, tokenizer_json(), model="m").probe_sha256 == probed.probe_sha256  # deterministic
    assert with_probe(spec, _uncased_json(), model="m").probe_sha256 != probed.probe_sha256  # normalizer
    longer = dataclasses.replace(spec, max_length=7)
    assert with_probe(longer, tokenizer_json(), model="m").probe_sha256 != probed.probe_sha256  # truncation
    left = dataclasses.replace(spec, truncation_side="left")
    assert with_probe(left, tokenizer_json(), model="m").probe_sha256 != probed.probe_sha256
    # The probe texts really reach the limits it claims: one is longer than any max_length a model declares here.
    assert max(len(t.split()) for t in PROBE_TEXTS) > 512


def test_probe_sha256_hashes_every_text_in_order() -> None:
    tok = tokenizers.Tokenizer.from_str(tokenizer_json().decode())
    tok.enable_truncation(max_length=6)
    first = probe_sha256(tok)

    class Reversed:
        def encode_batch(self, texts: list[str]) -> list:  # type: ignore[type-arg]
            return list(reversed(tok.encode_batch(list(reversed(texts)))))

    assert probe_sha256(Reversed()) == first  # the same ids in the same order: the same sha

    class Dropping:
        def encode_batch(self, texts: list[str]) -> list:  # type: ignore[type-arg]
            return tok.encode_batch(texts[:-1])

    assert probe_sha256(Dropping()) != first


def test_a_manifest_without_the_probe_is_written_as_before_and_one_with_it_round_trips(
    plain: Path, tmp_path: Path
) -> None:
    written = json.loads((plain / "manifest.json").read_text())["processors"]["text"]
    assert "probe_sha256" not in written and "tokenizers_version" not in written
    sha = with_probe(_spec(plain), tokenizer_json(), model="m").probe_sha256
    folder = write_text_artifact(tmp_path / "tiny-text" / "1", probe=(sha, "9.9.9"))
    text = json.loads((folder / "manifest.json").read_text())["processors"]["text"]
    assert (text["probe_sha256"], text["tokenizers_version"]) == (sha, "9.9.9")
    assert (_spec(folder).probe_sha256, _spec(folder).tokenizers_version) == (sha, "9.9.9")


@pytest.mark.parametrize(
    ("probe", "problem"),
    [
        (("abc", "0.23.3"), "probe_sha256 must be 64 lowercase hex"),
        (("A" * 64, "0.23.3"), "probe_sha256 must be 64 lowercase hex"),
        (("a" * 64, ""), "go together"),
        (("", "0.23.3"), "go together"),
    ],
)
def test_a_malformed_probe_is_refused_naming_the_field(tmp_path: Path, probe: tuple[str, str], problem: str) -> None:
    folder = write_text_artifact(tmp_path / "tiny-text" / "1")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["processors"]["text"] |= {"probe_sha256": probe[0], "tokenizers_version": probe[1]}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ManifestError, match=problem):
        read_manifest(folder)


def test_a_load_under_the_release_that_compiled_it_answers_text(tmp_path: Path, plain: Path) -> None:
    sha = with_probe(_spec(plain), tokenizer_json(), model="m").probe_sha256
    folder = write_text_artifact(tmp_path / "tiny-text" / "1", probe=(sha, tokenizers.__version__))
    result = load(folder)(["the cat sat", "The mat"])
    assert result["embedding"].tolist() == [[1 + 4 + 5 + 6 + 2, 5], [1 + 4 + 8 + 2, 4]]


@pytest.fixture(scope="module")
def drifted(tmp_path_factory: pytest.TempPathFactory, plain: Path) -> Path:
    """The manifest records the ids a release with another normalizer gave: this release's ids differ."""
    other = with_probe(_spec(plain), _uncased_json(), model="m").probe_sha256
    return write_text_artifact(tmp_path_factory.mktemp("drift") / "tiny-text" / "1", probe=(other, "0.19.1"))


def test_a_load_under_a_release_that_tokenizes_differently_refuses_text_naming_both_releases(drifted: Path) -> None:
    model = load(drifted)
    with pytest.raises(ArtifactError) as caught:
        model(["the cat sat"])
    message = caught.value.message
    assert "gives other token ids under tokenizers " + tokenizers.__version__ in message
    assert "than under 0.19.1" in message and "tokenizer.json" in message
    assert caught.value.hint is not None and "tokenizers==0.19.1" in caught.value.hint
    with pytest.raises(ArtifactError):  # every text call, not just the first
        model(["the mat"])
    # Tensors never need the tokenizer: the model still answers them.
    ids = np.array([[1, 5, 2]], dtype=np.int64)
    assert model({"input_ids": ids, "attention_mask": np.ones_like(ids)})["embedding"].tolist() == [[8.0, 3.0]]


def test_a_refused_tokenizer_is_refused_again_without_being_built_again(drifted: Path) -> None:
    """The refusal is kept: a stream of text requests to a drifted model does not rebuild the tokenizer (~20 ms for
    MiniLM's) and encode the probe again for each one."""
    spec = _spec(drifted)
    encoder = TextEncoder(spec, tokenizer_json(), model="m")
    builds = []
    build = encoder._build

    def counting(**options: object) -> object:
        builds.append(options)
        return build(**options)  # type: ignore[arg-type]

    encoder._build = counting  # type: ignore[method-assign]
    for _ in range(3):
        with pytest.raises(ArtifactError, match="gives other token ids"):
            encoder.encode(["the cat"])
    assert len(builds) == 1


def test_the_drift_check_runs_once_per_tokenizer_build(plain: Path, tmp_path: Path) -> None:
    sha = with_probe(_spec(plain), tokenizer_json(), model="m").probe_sha256
    spec = dataclasses.replace(_spec(plain), probe_sha256=sha, tokenizers_version=tokenizers.__version__)
    encoder = TextEncoder(spec, tokenizer_json(), model="m")
    first = encoder.prepare()
    assert encoder.prepare() is first and encoder.encode(["the cat"]).count == 1


def test_a_server_refuses_to_load_a_text_model_whose_tokenizer_drifted(drifted: Path, tmp_path: Path) -> None:
    """A long-lived `sdk serve` builds the tokenizer with the model: the drift stops the start, with the reason,
    before any request could get answers the gate never checked."""
    from tests.sdk.serving.conftest import start_server

    root = drifted.parent.parent
    with pytest.raises(ConfigError) as caught:
        server = start_server(root, tmp_path)
        server.stop()
    assert "gives other token ids" in str(caught.value) and "0.19.1" in str(caught.value)


def test_a_function_builds_the_tokenizer_on_its_first_text_request_and_answers_422_naming_the_drift(
    drifted: Path, tmp_path: Path
) -> None:
    """Where the tokenizer is built on first use (a function's init: ``AIAAS_USAGE=function``), the server starts,
    answers tensors, and answers a text request 422 with the reason, never a 500."""
    import httpx

    from tests.sdk.serving.conftest import start_server

    server = start_server(drifted.parent.parent, tmp_path, env={"AIAAS_USAGE": "function"})
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            text = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["the cat"]}]}
            for _ in range(2):
                response = http.post("/v2/models/tiny-text/infer", json=text)
                assert response.status_code == 422, response.text
                assert "gives other token ids" in response.json()["error"]
            ids = [1, 5, 2]
            tensors = {
                "inputs": [
                    {"name": "input_ids", "datatype": "INT64", "shape": [1, 3], "data": ids},
                    {"name": "attention_mask", "datatype": "INT64", "shape": [1, 3], "data": [1, 1, 1]},
                ]
            }
            response = http.post("/v2/models/tiny-text/infer", json=tensors)
            assert response.status_code == 200, response.text
    finally:
        server.stop()


def test_models_show_says_which_release_recorded_the_probe_and_which_is_installed(drifted: Path, plain: Path) -> None:
    """`sdk models show` prints the text processor with the probe's release beside the installed one, so a drift is
    visible before a load refuses it; an artifact without a probe says a tokenizers upgrade is not checked."""
    from typer.testing import CliRunner

    from sdk.cli import app

    runner = CliRunner()
    shown = runner.invoke(
        app, ["models", "show", "tiny-text", "--store", str(drifted.parent.parent)], env={"COLUMNS": "200"}
    )
    assert shown.exit_code == 0, shown.output
    line = next(x for x in shown.stdout.splitlines() if x.startswith("processors:"))
    assert "text via tokenizer.json, at most 6 tokens (cut on the right)" in line
    assert f"tokenizer probe recorded under tokenizers 0.19.1, installed: {tokenizers.__version__}" in line
    assert "answers: embedding from 'embedding'" in line
    old = runner.invoke(
        app, ["models", "show", "tiny-text", "--store", str(plain.parent.parent)], env={"COLUMNS": "200"}
    )
    assert old.exit_code == 0, old.output
    assert "no tokenizer probe (compiled before it existed" in old.stdout
