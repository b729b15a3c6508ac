"""The values the benchmarks pass around: a scenario, a contender, one measurement, a table row,
and what this run found on the machine. Plain data; no process is started here."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KEY = "bench-key"
LONG_S = 30.0  # a measurement this long is not repeated: its contender is far off the pace


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    files: int
    size: int
    shaping: tuple[str, ...] = ()
    quick_files: int = 20
    # upload | idle (all in the history) | new-machine (all on the server) | idle-direct (all in
    # a history written straight to the store, none of it on the server: B7's million files) |
    # jobs (a server whose jobs cost CPU: B10)
    kind: str = "upload"
    big: int = 0  # one extra large file (B6), bytes
    quick_big: int = 0
    max_rate: str = ""  # ours runs with --max-rate this (B8); the others have no such setting
    # Ours at fixed concurrencies, measured in turns with the default (auto) where the number of
    # streams is what the scenario is about.
    fixed: tuple[int, ...] = ()
    # The scenario's targets for our uploader, computed from the medians: lines for RESULTS.md.
    judge: Callable[[Judging], list[str]] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Contender:
    name: str
    kind: str  # ours | baseline | cli | immichpy | pymmich
    concurrency: int | None = None  # None: the contender's own default
    pythonpath: str | None = None  # ours from another checkout (--compare-with), side by side
    flags: tuple[str, ...] = ()  # ours: more flags (--no-pause-jobs)


OURS = Contender("async-uploader", "ours")


@dataclass
class Measure:
    wall: float
    cpu: float
    rss_mb: float
    body_bytes: int
    ok: bool
    note: str = ""
    upload_s: float = 0.0  # ours: the upload phase alone, from its log (start-up and links aside)
    server_cpu: float = 0.0  # the test server's CPU seconds in the same measurement
    streams: int = 0  # ours with auto concurrency: the streams it ended on, from its log
    busy: int = 0  # uploads the test server turned away with 503 (its small-server mode)
    uploads: int = 0  # upload requests the test server received, retries included


@dataclass
class Row:
    scenario: str
    contender: str
    measures: list[Measure] = field(default_factory=list)


def median_of(row: Row, attr: str) -> float:
    return statistics.median(getattr(m, attr) for m in row.measures)


@dataclass
class Bench:
    """What this run found and decided: the official CLI's command (empty: not found), the
    Python contenders' executables, the other checkouts of ours to compare with, and notes on
    how each contender was installed (for RESULTS.md)."""

    cli: list[str] = field(default_factory=list)
    py_exes: dict[str, Path] = field(default_factory=dict)
    compare: list[Contender] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    quick: bool = False


@dataclass
class Judging:
    """What a scenario's targets are computed from."""

    scenario: Scenario
    rows: list[Row]
    folder: Path
    bench: Bench
    extra: dict[str, Any]

    @property
    def by_name(self) -> dict[str, Row]:
        return {r.contender: r for r in self.rows if all(m.wall for m in r.measures)}

    @property
    def files(self) -> int:
        return sum(1 for _ in self.folder.iterdir())

    @property
    def total_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.folder.iterdir())


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"
