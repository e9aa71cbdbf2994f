"""What the artifact's processors cost, as a ratio of the model's own time, measured in the same run.

Rows: MiniLM at 1x128 and 32x128 tokens from text (tokenize + pad, then L2-normalize the embedding), and digits-cnn
from PNG bytes (decode, convert, scale; then softmax and top-k labels). For each row the model runs on feeds encoded
once beforehand, and the processors run on the raw items alone; calls are interleaved (model, processors, ...) so
machine noise hits both alike; medians reported. ``ratio`` = processors / model: what raw input adds to a call.

    python benchmarks/processors.py --minilm PATH/minilm-l6 [--calls 200]

PATH is a compiled MiniLM artifact folder (``sdk compile minilm-l6 --out PATH/minilm-l6``, ~90 MB); without it the
MiniLM rows are skipped. Target (issue 16): <= 5% at MiniLM 1x128.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sdk
from sdk.runtime.processors import Processors

SAMPLES = Path(__file__).parents[1] / "models" / "digits_cnn" / "samples"
WORDS = ("the quick brown fox jumps over the lazy dog while the band plays on " * 40).split()


def text_of(processors: Processors, tokens: int) -> str:
    """The shortest prefix of WORDS that tokenizes to ``tokens`` ids, special tokens included (a [1, tokens] row)."""
    for n in range(1, len(WORDS) + 1):
        text = " ".join(WORDS[:n])
        if int(processors.encode([text]).report["length"][0]) >= tokens:
            return text
    raise ValueError(f"no prefix of the sample text reaches {tokens} tokens")


def interleaved(first: Callable[[], Any], second: Callable[[], Any], calls: int) -> tuple[float, float]:
    """Median ms of each, called alternately (who goes first alternates too)."""
    a: list[float] = []
    b: list[float] = []
    for _ in range(max(3, calls // 10)):  # warm both
        first()
        second()
    for i in range(calls):
        order = ((first, a), (second, b)) if i % 2 == 0 else ((second, b), (first, a))
        for run, sink in order:
            start = time.perf_counter_ns()
            run()
            sink.append((time.perf_counter_ns() - start) / 1e6)
    return statistics.median(a), statistics.median(b)


def row(name: str, model: sdk.LoadedModel, raw: list[Any], calls: int) -> dict[str, Any]:
    processors = model.processors
    assert isinstance(processors, Processors), f"{name}: the artifact declares no processors"
    processors.prepare()
    encoded = processors.encode(raw)
    feeds = model.validator(encoded.feeds)
    tensors = model.run_validated(feeds)

    def process() -> None:
        processors.decode(tensors, processors.encode(raw))

    model_ms, processors_ms = interleaved(lambda: model.run_validated(feeds), process, calls)
    shape = "x".join(str(d) for d in next(iter(feeds.values())).shape)
    return {"row": name, "feeds": shape, "model_ms": model_ms, "processors_ms": processors_ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minilm", type=Path, help="a compiled minilm-l6 artifact folder")
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()

    rows = []
    if args.minilm is not None:
        minilm = sdk.load(args.minilm)
        assert minilm.processors is not None
        sentence = text_of(minilm.processors, 128)
        rows.append(row("minilm-l6 1x128 from text", minilm, [sentence], args.calls))
        rows.append(row("minilm-l6 32x128 from text", minilm, [sentence] * 32, max(20, args.calls // 4)))
    digits = sdk.load("digits-cnn")
    pngs = [p.read_bytes() for p in sorted(SAMPLES.glob("digit_*.png"))]
    rows.append(row("digits-cnn 1 from PNG", digits, pngs[:1], args.calls * 10))
    rows.append(row("digits-cnn 32 from PNG", digits, (pngs * 8)[:32], args.calls * 2))

    print(f"{'row':<28} {'feeds':<12} {'model ms':>10} {'processors ms':>14} {'ratio':>7}")
    for r in rows:
        ratio = r["processors_ms"] / r["model_ms"]
        print(f"{r['row']:<28} {r['feeds']:<12} {r['model_ms']:>10.3f} {r['processors_ms']:>14.3f} {ratio:>7.1%}")


if __name__ == "__main__":
    main()
