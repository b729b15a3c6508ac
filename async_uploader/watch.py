"""``async-uploader watch``: runs until stopped and uploads each new file once it is complete.

Each burst of file-system events (watchfiles: inotify and friends, no polling, so no CPU to speak
of while idle) starts a pass, which is an ordinary sync: scan, skip what the history has, upload,
link the batch to the album. Files still being written (modified within IMMICH_SETTLE_SECONDS)
wait for a later pass. When the server goes away the pass fails; watch waits, with a growing
pause, and races the health checks again. One lock is held for the whole life of the watch.

With a health check (IMMICH_PING_URL) each pass pings it, success or ``/fail``; a quiet folder
makes no passes, so every ``HEARTBEAT`` seconds without one the watch asks the server for a pong
and pings as it answers: a check that hears nothing means the watch itself is gone.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
from watchfiles import Change, awatch

from .config import Config
from .control import RunControl, Signals
from .errors import ServerUnreachable, UploaderError
from .files import is_ignored_name
from .immich import ApiError, BadAnswer, TransportError, open_session, ping
from .outcomes import RunReport
from .run import sync
from .text import counted

if TYPE_CHECKING:
    from .ping import Pinger

log = logging.getLogger(__name__)

FIRST_RETRY = 1.0  # seconds before racing the health checks again; doubles up to MAX_RETRY
MAX_RETRY = 60.0
FAILED_RETRY = 30.0  # a pass with failed uploads is followed by another this soon
HEARTBEAT = 900.0  # seconds without a pass after which a health check is pinged all the same


@dataclass
class WatchTotals:
    passes: int = 0
    created: int = 0
    duplicates: int = 0
    rejected: int = 0
    failed: int = 0
    album_linked: int = 0
    held: int = 0  # waiting for the local URL after the last pass

    def add(self, r: RunReport) -> None:
        self.passes += 1
        self.held = r.held
        self.created += r.created
        self.duplicates += r.duplicates
        self.rejected += r.rejected
        self.album_linked += r.album_linked
        self.failed = r.failed  # failures are retried by later passes: only the last counts

    def summary(self) -> str:
        return (
            f"{counted(self.passes, 'pass', 'passes')}, {self.created} created, {self.duplicates} duplicates, "
            f"{self.rejected} rejected, {self.album_linked} linked to the album"
            + (f", {self.held} held for the local URL" if self.held else "")
        )


class Wakeup:
    """Set by the watcher, consumed by the pass loop."""

    def __init__(self) -> None:
        self.event = anyio.Event()

    def set(self) -> None:
        self.event.set()

    async def wait(self, timeout: float | None) -> None:
        with anyio.move_on_after(math.inf if timeout is None else timeout):
            await self.event.wait()
        self.event = anyio.Event()


def _filter(config: Config) -> Callable[[Change, str], bool]:
    ours = (config.history_file, config.log_file)

    def wanted(change: Change, path: str) -> bool:
        p = Path(path)
        if any(p.parent == o.parent and p.name.startswith(o.name) for o in ours):
            return False  # our own writes (history and its journal, lock, log and its rotations)
        return change is not Change.deleted and not is_ignored_name(p.name)

    return wanted


async def _watch_files(config: Config, wake: Wakeup) -> None:
    async for changes in awatch(
        config.folder,
        watch_filter=_filter(config),
        recursive=config.recursive,
        debounce=800,
        step=100,
    ):
        log.debug("watch: %d changes", len(changes))
        wake.set()


async def _back_home(url: str, timeout: float, probe_every: float) -> None:
    """Returns once ``url`` (the local one) answers its health check: what waits for it can go."""
    async with open_session(1, timeout) as session:
        while True:
            try:
                with anyio.fail_after(timeout):
                    await ping(session, url)
                return
            except (TimeoutError, UploaderError):
                pass
            await anyio.sleep(probe_every)


async def _until_woken_or_home(
    wake: Wakeup, next_pass: float | None, report: RunReport, config: Config, probe_every: float
) -> None:
    """The pause between passes; with files held for the local URL, cut short as soon as that
    URL answers again (the laptop is home)."""
    local = config.local_url
    if not report.held or local is None or report.server_url == local:
        await wake.wait(next_pass)
        return
    async with anyio.create_task_group() as tg:

        async def home() -> None:
            await _back_home(local, config.local_timeout, probe_every)
            log.info("watch: %s answers again; sending the %d held files", local, report.held)
            tg.cancel_scope.cancel()

        async def woken() -> None:
            await wake.wait(next_pass)
            tg.cancel_scope.cancel()

        tg.start_soon(home)
        tg.start_soon(woken)


async def _heartbeat(config: Config, pinger: Pinger, last: list[float], every: float) -> None:
    """While no pass pings: every ``every`` seconds, whether a configured URL answers its
    health check, pinged as success or ``/fail``."""
    while True:
        await anyio.sleep(max(0.0, last[0] + every - anyio.current_time()))
        if anyio.current_time() - last[0] < every:
            continue  # a pass pinged meanwhile
        answered = []
        async with open_session(1, config.external_timeout) as session:
            for _, url, timeout in config.urls:
                try:
                    with anyio.fail_after(timeout):
                        await ping(session, url)
                    answered.append(url)
                    break
                except (TimeoutError, UploaderError):
                    continue
        if answered:
            pinger.beat(True, f"watching {config.folder}: idle, {answered[0]} answers")
        else:
            pinger.beat(False, f"watching {config.folder}: no configured URL answers")
        last[0] = anyio.current_time()


async def watch(
    config: Config,
    control: RunControl,
    totals: WatchTotals | None = None,
    pinger: Pinger | None = None,
    heartbeat: float = HEARTBEAT,
) -> WatchTotals:
    """Until cancelled (or stopped through the control's signals); ``totals`` outlives a
    cancel. The caller holds the history's lock for the whole watch (``cli.one_run_at_a_time``).
    Between passes the signals' phase is back to PREPARING: a Ctrl-C then ends the watch at once."""
    totals = totals if totals is not None else WatchTotals()
    signals = control.signals or Signals()
    if control.signals is None:
        control = replace(control, signals=signals)
    wake = Wakeup()
    last_ping = [anyio.current_time()]
    async with anyio.create_task_group() as tg:
        tg.start_soon(_watch_files, config, wake)
        if pinger is not None:
            tg.start_soon(_heartbeat, config, pinger, last_ping, heartbeat)
        log.info("watching %s (Ctrl-C to stop)", config.folder)
        retry = FIRST_RETRY
        while True:
            next_pass: float | None = None
            report: RunReport | None = None
            try:
                report = await sync(config, control)
                totals.add(report)
                if pinger is not None:
                    pinger.beat(report.ok, report.summary())
                    last_ping[0] = anyio.current_time()
                retry = FIRST_RETRY
                if report.interrupted:
                    break
                if report.settling:
                    next_pass = config.settle_seconds + 0.2
                if report.failed or report.link_failed:
                    next_pass = min(next_pass or FAILED_RETRY, FAILED_RETRY)
            except (ServerUnreachable, TransportError, ApiError, BadAnswer) as exc:
                log.warning("watch: %s; trying again in %.0f s", exc, retry)
                if pinger is not None:
                    pinger.beat(False, f"a pass failed: {exc}")
                    last_ping[0] = anyio.current_time()
                next_pass = retry
                retry = min(retry * 2, MAX_RETRY)
            if signals.stop.is_set():
                break
            if report is None:
                await wake.wait(next_pass)
            else:
                await _until_woken_or_home(
                    wake, next_pass, report, config, control.limits.held_probe
                )
        tg.cancel_scope.cancel()
    return totals
