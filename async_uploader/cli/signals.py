"""Ctrl-C and SIGTERM during a run: before the uploads they end it at once; from then on the
first lets the uploads in flight finish, a second cuts them, and either way the album links and
the history are saved. And how a run shows its progress (a bar on a terminal, lines otherwise)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from ..config import Config
from ..control import Phase, RunControl, Signals
from ..errors import EXIT_INTERRUPTED, EXIT_TERMINATED, UploaderError, plain_errors
from ..progress import BarAwareHandler, TerminalBar

log = logging.getLogger("async_uploader")
T = TypeVar("T")


async def run_with_signals(
    config: Config, control: RunControl, run: Callable[[Config, RunControl], Awaitable[T]]
) -> tuple[T | None, int | None]:
    """``run(config, control)`` under the signal policy above: (what it returned, or None when a
    signal ended it before the uploads; the first signal, if any). A third signal changes
    nothing."""
    signals = Signals()
    control = dataclasses.replace(control, signals=signals)
    seen: list[int] = []
    result: list[T] = []

    async with anyio.create_task_group() as tg:
        work = anyio.CancelScope()

        async def watch_signals() -> None:
            try:
                with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as received:
                    async for signum in received:
                        seen.append(signum)
                        name = signal.Signals(signum).name
                        if signals.phase is not Phase.UPLOADING:
                            work.cancel()
                        elif len(seen) == 1:
                            log.warning("%s: finishing in-flight uploads (again to stop now)", name)
                            signals.stop.set()
                        elif len(seen) == 2:
                            log.warning("%s: stopping now; saving what was done", name)
                            signals.stop.set()
                            signals.abort.set()
                        else:
                            log.warning("%s: saving the history, a moment more", name)
            except NotImplementedError:  # Windows: Ctrl-C arrives as KeyboardInterrupt instead
                return

        tg.start_soon(watch_signals)
        failure: list[UploaderError] = []
        try:
            with work, plain_errors():  # out of a task group of the run's (watch's, say)
                result.append(await run(config, control))
        except UploaderError as exc:  # raised below, outside the task group's exception group
            failure.append(exc)
        finally:
            tg.cancel_scope.cancel()
    if failure:
        raise failure[0]
    return (result[0] if result else None), (seen[0] if seen else None)


def exit_for_signal(signum: int | None) -> int:
    return EXIT_TERMINATED if signum == signal.SIGTERM else EXIT_INTERRUPTED


def progress_control(args: argparse.Namespace, console: BarAwareHandler) -> RunControl:
    """A bar on a terminal; a log line every 5 s otherwise; nothing with --no-progress/--quiet."""
    if args.no_progress or args.quiet:
        return RunControl(progress_seconds=0)
    if sys.stderr.isatty():
        bar = TerminalBar(sys.stderr)
        console.bar = bar
        return RunControl(progress_seconds=0.25, on_progress=bar.update)
    return RunControl(progress_seconds=5.0)
