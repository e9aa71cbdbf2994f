"""A text-classification set for adaptation benchmarks: the summary line of each public function's docstring in
SciPy, labelled by the submodule that defines it. Human-written text and labels no model produced, offline.

Source: the installed ``scipy`` package (pinned in constraints.txt; ``PINNED``), BSD-3-Clause licence (SciPy's own,
https://github.com/scipy/scipy/blob/main/LICENSE.txt). Nothing is downloaded and nothing is shipped: the set is
rebuilt from the installed package, deterministically (names sorted, no randomness), and ``build`` refuses another
SciPy version unless told otherwise (the docstrings change between releases).

Each example is the docstring's summary: its first paragraph joined into one line, after a leading call signature
(NumPy ufuncs such as ``scipy.special.erf`` start with one) is skipped. Kept: functions and ufuncs (not classes,
not the templated ``scipy.stats`` distribution objects), with a non-empty summary of at least 3 words. Deduplicated:
a summary given twice in one submodule is kept once; one given in two submodules is dropped from both (its label
would be ambiguous). Each class keeps at most ``PER_CLASS`` examples, evenly spaced over its names in sorted order.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "scipy"
PINNED = "1.17.1"
LICENCE = "BSD-3-Clause"
SUBMODULES = ("fft", "linalg", "ndimage", "optimize", "signal", "sparse", "special", "stats")
PER_CLASS = 80
MIN_PER_CLASS = 30
MIN_WORDS = 3
_SIGNATURE = re.compile(r"^[A-Za-z_][\w.]*\(.*\)(\s*->.*)?$")


@dataclass(frozen=True)
class Docstrings:
    texts: list[str]
    labels: list[str]
    names: list[str]  # scipy.<submodule>.<function> of each example
    version: str

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for label in self.labels:
            out[label] += 1
        return dict(sorted(out.items()))

    def write_jsonl(self, path: Path) -> Path:
        """The set as ``sdk adapt`` reads it: one ``{"text": ..., "label": ...}`` a line."""
        lines = (json.dumps({"text": t, "label": y}) for t, y in zip(self.texts, self.labels, strict=True))
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path


def summary(doc: str | None) -> str:
    """The first paragraph of a docstring as one line, a leading call signature skipped; "" when there is none."""
    paragraphs = re.split(r"\n\s*\n", inspect.cleandoc(doc or ""))
    for paragraph in paragraphs:
        text = " ".join(line.strip() for line in paragraph.splitlines() if line.strip())
        if text and not _SIGNATURE.match(text):
            return text
    return ""


def _is_function(obj: object) -> bool:
    """A public function, ufunc or dispatched function (scipy.fft's); not a class, a module or a distribution object
    (scipy.stats' ``norm``, ... whose docstrings are one template filled in)."""
    if inspect.isclass(obj) or inspect.ismodule(obj) or not callable(obj):
        return False
    from scipy.stats import rv_continuous, rv_discrete

    return not isinstance(obj, (rv_continuous, rv_discrete))


def _collect(submodule: str) -> dict[str, str]:
    """name -> summary for the public functions of ``scipy.<submodule>``, names sorted."""
    module = importlib.import_module(f"{PACKAGE}.{submodule}")
    names = getattr(module, "__all__", None) or dir(module)
    out = {}
    for name in sorted(n for n in names if not n.startswith("_")):
        obj = getattr(module, name, None)
        if obj is None or not _is_function(obj):
            continue
        text = summary(getattr(obj, "__doc__", None))
        if len(text.split()) >= MIN_WORDS:
            out[f"{PACKAGE}.{submodule}.{name}"] = text
    return out


def build(*, require_pinned: bool = True) -> Docstrings:
    """The deduplicated, capped set (see the module's docstring), classes in ``SUBMODULES`` order."""
    version = importlib.import_module(PACKAGE).__version__
    if require_pinned and version != PINNED:
        raise RuntimeError(f"{PACKAGE} {version} is installed; this set is defined on {PINNED} (constraints.txt)")
    per_module = {m: _collect(m) for m in SUBMODULES}
    where: dict[str, set[str]] = defaultdict(set)
    for module, found in per_module.items():
        for text in found.values():
            where[text].add(module)
    texts: list[str] = []
    labels: list[str] = []
    names: list[str] = []
    for module, found in per_module.items():
        kept: dict[str, str] = {}  # text -> first name giving it
        for name, text in found.items():
            if len(where[text]) == 1 and text not in kept:
                kept[text] = name
        chosen = list(kept.items())
        if len(chosen) > PER_CLASS:
            step = len(chosen) / PER_CLASS
            chosen = [chosen[int(i * step)] for i in range(PER_CLASS)]
        if len(chosen) < MIN_PER_CLASS:
            raise RuntimeError(f"{PACKAGE}.{module} gives {len(chosen)} examples, fewer than {MIN_PER_CLASS}")
        for text, name in chosen:
            texts.append(text)
            labels.append(module)
            names.append(name)
    return Docstrings(texts, labels, names, version)


if __name__ == "__main__":
    built = build()
    print(f"{PACKAGE} {built.version}: {len(built.texts)} examples, {built.counts()}")
