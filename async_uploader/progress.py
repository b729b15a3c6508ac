"""Progress: a one-line bar redrawn in place on a terminal, plain lines in a log otherwise.

Counts only the work really left: files the server turned out to have already are taken off the
total. The rate is what went over the wire in the last few seconds, and none is shown before
then: the first second fills every connection's socket buffer at memory speed, so bytes handed to
the kernel run far ahead of what a slow link has carried (660-780 kB/s shown on a 500 kB/s link,
and "ETA 0:01" at the start of a 7 s run, before this).
"""

from __future__ import annotations

import itertools
import logging
import shutil
import threading
from collections import deque
from dataclasses import dataclass
from typing import TextIO

from .text import human_bytes


@dataclass(frozen=True)
class Snapshot:
    files_done: int
    files_total: int
    bytes_done: int  # of files finished
    bytes_total: int  # of files to send (shrinks as duplicates are found)
    bytes_sent: int  # over the wire, retries included
    elapsed: float
    rate: float | None = None  # bytes/s over the last few seconds (Rate); None: not known yet

    @property
    def eta(self) -> float | None:
        left = max(0, self.bytes_total - self.bytes_done)
        return left / self.rate if self.rate else None

    def _speed(self) -> str:
        return f"{human_bytes(self.rate)}/s" if self.rate is not None else "? B/s"

    def line(self) -> str:
        eta = f", about {_duration(self.eta)} left" if self.eta is not None else ""
        return (
            f"progress: {self.files_done}/{self.files_total} files, "
            f"{human_bytes(self.bytes_done)} of {human_bytes(self.bytes_total)}, "
            f"{self._speed()}{eta}"
        )

    def bar(self, width: int) -> str:
        eta = _duration(self.eta) if self.eta is not None else "?"
        text = (
            f" {self.files_done}/{self.files_total} files  "
            f"{human_bytes(self.bytes_done)}/{human_bytes(self.bytes_total)}  "
            f"{self._speed()}  ETA {eta}"
        )
        room = max(10, min(40, width - len(text) - 3))
        share = self.bytes_done / self.bytes_total if self.bytes_total else 1.0
        filled = int(room * min(1.0, share))
        return ("[" + "#" * filled + "." * (room - filled) + "]" + text)[: width - 1]


class Rate:
    """Bytes/s over a sliding window, once past the warm-up. Measured on what the server has
    answered for (the bytes of finished files) when files finish often enough; else (one big
    file) on the bytes handed to the sockets, which track the link once their buffers are full.
    The first ``warmup`` seconds are left out (the buffers filling), and the rate is known only
    once the window spans ``least`` seconds after them."""

    def __init__(self, window: float = 10.0, warmup: float = 2.0, least: float = 3.0) -> None:
        self.window, self.warmup, self.least = window, warmup, least
        self.samples: deque[tuple[float, int, int, int]] = deque()

    def add(self, elapsed: float, sent: int, done: int, files_done: int) -> float | None:
        """A sample at ``elapsed`` s (bytes sent, bytes and files finished); the rate or None."""
        if elapsed < self.warmup:
            return None
        self.samples.append((elapsed, sent, done, files_done))
        while len(self.samples) > 2 and elapsed - self.samples[1][0] >= self.window:
            self.samples.popleft()
        (t0, sent0, _, _), (t1, sent1, _, _) = self.samples[0], self.samples[-1]
        if t1 - t0 < self.least:
            return None
        # From the first file that finished inside the window to the last: before the first,
        # nothing had been answered yet, and after the last the next one is only under way.
        ends = [b for a, b in itertools.pairwise(self.samples) if b[3] > a[3]]
        if len(ends) >= 2 and ends[-1][3] - ends[0][3] >= 2:
            (start, _, done_a, _), (end, _, done_b, _) = ends[0], ends[-1]
            return (done_b - done_a) / (end - start)
        return (sent1 - sent0) / (t1 - t0)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = int(seconds + 0.5)
    return (
        f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )


class TerminalBar:
    """The bar on a terminal; log lines go above it (see BarAwareHandler)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.text = ""
        self._lock = threading.Lock()

    def update(self, snapshot: Snapshot) -> None:
        width = shutil.get_terminal_size((100, 20)).columns
        with self._lock:
            self.text = snapshot.bar(width)
            self._write("\r\x1b[2K" + self.text)

    def clear(self) -> None:
        with self._lock:
            if self.text:
                self._write("\r\x1b[2K")

    def redraw(self) -> None:
        with self._lock:
            if self.text:
                self._write("\r\x1b[2K" + self.text)

    def close(self) -> None:
        self.clear()
        self.text = ""

    def _write(self, data: str) -> None:
        try:
            self.stream.write(data)
            self.stream.flush()
        except (OSError, ValueError):
            pass  # the terminal went away; progress is not worth failing for


class BarAwareHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A console handler that lifts the bar out of the way of each log line."""

    bar: TerminalBar | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.bar is not None:
            self.bar.clear()
        super().emit(record)
        if self.bar is not None:
            self.bar.redraw()
