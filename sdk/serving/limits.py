"""What one inference request may cost: rows per request, rows per model run, and the split between them.

The body limit bounds what a request can say, not what it can ask for: 6 MiB of JSON zeros is 49,150 digit images,
and one model run over them took +720 MiB. So a request is held to ``max_request_rows`` (413 above it, naming the
limit), and a batchable model runs a request of more than ``max_batch_size`` rows in slices of that many rows,
joined back in order: memory follows the slice, not the request. Elements are bounded while decoding
(``sdk.protocol.codec.decode_request(max_elements=...)``), before any array exists.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import numpy as np

from sdk.errors import PayloadTooLarge

Feeds = Mapping[str, np.ndarray]
Outputs = dict[str, np.ndarray]


def rows_of(feeds: Feeds) -> int:
    """Rows of a batchable model's request: the first dimension its inputs share."""
    first = next(iter(feeds.values()), None)
    return int(first.shape[0]) if first is not None and first.ndim else 1


def check_rows(rows: int, limit: int) -> None:
    if rows > limit:
        raise PayloadTooLarge(
            f"the request has {rows} rows; this server runs at most {limit} rows per request",
            hint=f"send at most {limit} rows per request, or raise the server's max_request_rows "
            "(AIAAS_MAX_REQUEST_ROWS, sdk serve --max-request-rows)",
        )


def slices(feeds: Feeds, rows: int, size: int) -> Iterator[dict[str, np.ndarray]]:
    """``feeds`` cut along the first dimension into consecutive slices of at most ``size`` rows (views, no copy)."""
    for start in range(0, rows, size):
        yield {name: array[start : start + size] for name, array in feeds.items()}


def join(parts: list[Outputs]) -> Outputs:
    """The outputs of consecutive slices, concatenated back along the first dimension."""
    if len(parts) == 1:
        return parts[0]
    return {name: np.concatenate([part[name] for part in parts], axis=0) for name in parts[0]}


def run_sliced(run: Callable[[Feeds], Outputs], feeds: Feeds, rows: int, size: int) -> Outputs:
    """``run`` over ``feeds`` at most ``size`` rows at a time (one call when the request fits)."""
    if rows <= size:
        return run(feeds)
    return join([run(part) for part in slices(feeds, rows, size)])
