"""models/docstrings: SciPy docstring summaries labelled by submodule (benchmarks/adapt_quality.py's text domain)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.docstrings import data

pytest.importorskip("scipy")


@pytest.fixture(scope="module")
def built() -> data.Docstrings:
    return data.build()


def test_the_set_has_five_or_more_classes_of_thirty_or_more_examples(built: data.Docstrings) -> None:
    counts = built.counts()
    assert len(counts) >= 5 and min(counts.values()) >= 30 and max(counts.values()) <= data.PER_CLASS
    assert set(counts) == set(data.SUBMODULES)


def test_no_text_is_empty_repeated_or_a_call_signature(built: data.Docstrings) -> None:
    assert len(set(built.texts)) == len(built.texts)
    assert all(len(t.split()) >= data.MIN_WORDS and "\n" not in t for t in built.texts)
    assert not any(data._SIGNATURE.match(t) for t in built.texts)


def test_each_label_is_the_submodule_that_holds_the_function(built: data.Docstrings) -> None:
    assert all(name.split(".")[1] == label for name, label in zip(built.names, built.labels, strict=True))


def test_building_twice_gives_the_same_set(built: data.Docstrings) -> None:
    again = data.build()
    assert (again.texts, again.labels, again.names) == (built.texts, built.labels, built.names)


def test_summary_skips_a_ufunc_signature_and_joins_the_first_paragraph() -> None:
    doc = "erf(z, /, out=None)\n\nReturns the error function\nof complex argument.\n\nParameters\n----------\n"
    assert data.summary(doc) == "Returns the error function of complex argument."
    assert data.summary(None) == ""


def test_a_summary_in_two_submodules_is_dropped_from_both(monkeypatch: pytest.MonkeyPatch) -> None:
    shared = "Compute the thing both modules compute."
    fake = {
        m: {f"scipy.{m}.f{i}": f"Function number {i} of {m} here." for i in range(data.MIN_PER_CLASS)}
        for m in data.SUBMODULES
    }
    fake["stats"]["scipy.stats.shared"] = shared
    fake["linalg"]["scipy.linalg.shared"] = shared
    fake["fft"]["scipy.fft.again"] = "Function number 0 of fft here."  # a repeat inside one module: kept once
    monkeypatch.setattr(data, "_collect", lambda module: fake[module])
    got = data.build()
    assert shared not in got.texts
    assert got.texts.count("Function number 0 of fft here.") == 1
    assert got.counts() == {m: data.MIN_PER_CLASS for m in sorted(data.SUBMODULES)}


def test_another_scipy_version_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data, "PINNED", "0.0.1")
    with pytest.raises(RuntimeError, match="defined on 0.0.1"):
        data.build()


def test_the_set_is_written_as_jsonl_sdk_adapt_reads(built: data.Docstrings, tmp_path: Path) -> None:
    from sdk.adaptation.data import read_examples

    path = built.write_jsonl(tmp_path / "docstrings.jsonl")
    examples = read_examples(path, numeric=False)
    assert examples.kind == "text" and examples.items == built.texts and examples.labels == built.labels
    assert json.loads(path.read_text(encoding="utf-8").splitlines()[0])["label"] == built.labels[0]
