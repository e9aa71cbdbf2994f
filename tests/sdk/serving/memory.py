"""A server process's resident memory, read from /proc: what a request made it hold at its peak, and afterwards.

``VmHWM`` is the peak resident set since the process started, or since ``5`` was written to its ``clear_refs``
(Linux 4.0+), which resets the peak to the current resident set. So the growth a request caused is its peak minus
the resident set just before it, whatever the server freed since.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

MIB = 1024 * 1024


def status_kib(pid: int, field: str) -> int:
    """A ``VmRSS``/``VmHWM`` line of /proc/PID/status, in KiB."""
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise LookupError(f"{field} not in /proc/{pid}/status")


def rss_mib(pid: int) -> float:
    return status_kib(pid, "VmRSS") / 1024


def open_files(pid: int) -> int:
    import os

    return len(os.listdir(f"/proc/{pid}/fd"))


@dataclass
class Growth:
    before_mib: float = 0.0
    peak_mib: float = 0.0  # peak resident set during the block, minus the resident set before it
    after_mib: float = 0.0  # resident set after the block, minus the resident set before it


@contextmanager
def growth(pid: int) -> Iterator[Growth]:
    """Measure the resident memory the block costs process ``pid``: its peak growth and what it kept."""
    with open(f"/proc/{pid}/clear_refs", "w") as handle:
        handle.write("5")  # the peak restarts from the current resident set
    result = Growth(before_mib=rss_mib(pid))
    yield result
    result.peak_mib = status_kib(pid, "VmHWM") / 1024 - result.before_mib
    result.after_mib = rss_mib(pid) - result.before_mib
