"""Progress: a one-line bar redrawn in place on a terminal, plain lines in a log otherwise.

Counts only the work really left: files the server turned out to have already are taken off the
total, and the rate is what actually went over the wire.
"""

from __future__ import annotations

import logging
import shutil
import threading
from dataclasses import dataclass
from typing import TextIO

from .outcomes import human_bytes


@dataclass(frozen=True)
class Snapshot:
    files_done: int
    files_total: int
    bytes_done: int  # of files finished
    bytes_total: int  # of files to send (shrinks as duplicates are found)
    bytes_sent: int  # over the wire, retries included
    elapsed: float

    @property
    def rate(self) -> float:
        return self.bytes_sent / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        left = max(0, self.bytes_total - self.bytes_done)
        return left / self.rate if self.rate > 0 else None

    def line(self) -> str:
        eta = f", about {_duration(self.eta)} left" if self.eta is not None else ""
        return (
            f"progress: {self.files_done}/{self.files_total} files, "
            f"{human_bytes(self.bytes_done)} of {human_bytes(self.bytes_total)}, "
            f"{human_bytes(self.rate)}/s{eta}"
        )

    def bar(self, width: int) -> str:
        eta = _duration(self.eta) if self.eta is not None else "?"
        text = (
            f" {self.files_done}/{self.files_total} files  "
            f"{human_bytes(self.bytes_done)}/{human_bytes(self.bytes_total)}  "
            f"{human_bytes(self.rate)}/s  ETA {eta}"
        )
        room = max(10, min(40, width - len(text) - 3))
        share = self.bytes_done / self.bytes_total if self.bytes_total else 1.0
        filled = int(room * min(1.0, share))
        return ("[" + "#" * filled + "." * (room - filled) + "]" + text)[: width - 1]


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
