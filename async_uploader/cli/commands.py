"""What each command does, between its parsed flags and its exit code: sync (and demo), watch,
verify, status and export, check. One ladder of errors for all (``guarded``), one place that
takes the history's lock (``one_run_at_a_time``)."""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio

from ..config import Config, Sources, load_config, redact
from ..control import RunControl
from ..errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL, EXIT_TERMINATED, UploaderError
from ..files import ScanResult
from ..logsetup import setup_logging
from ..outcomes import RunReport
from ..progress import BarAwareHandler
from ..store import History, RunLock, save_last_run
from ..text import counted, one_line
from .flags import flags_of
from .output import (
    START,
    ended,
    fail,
    last_end,
    log,
    log_early,
    print_report,
    say,
    start_log,
    unexpected,
)
from .signals import exit_for_signal, progress_control, run_with_signals

if TYPE_CHECKING:  # imported when a ping is configured: urllib.request costs 16 ms of start-up
    from ..ping import Pinger


@dataclass
class Ending:
    """What a command says when it ends in an error: its secrets (never shown), what it had
    done (for the log's last line), and the line for a Ctrl-C that reached Python."""

    args: argparse.Namespace
    secrets: list[str] = field(default_factory=list)
    summary: Callable[[], str | None] = lambda: None
    interrupted: str = "interrupted"


def guarded(ending: Ending, body: Callable[[], int]) -> int:
    """``body()``'s exit code; our errors one line and their own exit code (with what the run
    had done), a Ctrl-C 130, a bug one line and exit 1 (its traceback under --debug)."""
    args, secrets = ending.args, ending.secrets
    try:
        return body()
    except UploaderError as exc:
        if getattr(args, "debug", False):
            log.exception("error")
        log_early(args, secrets)
        code = fail(args, str(exc), exc.exit_code, secrets, exc.report)
        return ended(code, [exc.report], ending.summary())
    except KeyboardInterrupt:
        return ended(
            fail(args, ending.interrupted, EXIT_INTERRUPTED, secrets), [], ending.summary()
        )
    except Exception as exc:
        return ended(unexpected(args, exc, secrets), [], ending.summary())


@contextlib.contextmanager
def one_run_at_a_time(config: Config) -> Iterator[None]:
    """The one place the history's lock is taken, for sync and watch alike: before anything is
    read, so that one run at a time reads it too. A dry run changes nothing and takes none;
    ``check`` only looks (``RunLock.holder``)."""
    if config.dry_run:
        yield
        return
    with RunLock(config.history_file):
        yield


def _configured(args: argparse.Namespace, ending: Ending, command: str) -> Config:
    config = load_config(flags_of(args))
    ending.secrets.extend(config.secrets)
    return config


@contextlib.contextmanager
def pinging(config: Config, secrets: list[str], pingers: list[Pinger]) -> Iterator[None]:
    """A run's health-check pings (IMMICH_PING_URL): ``/start`` now; the end's is sent by the
    caller once the exit code is known (``Pinger.finish``). None for a dry run, nor for a run
    that never got the lock (another run is the one to report)."""
    if config.ping_url and not config.dry_run:
        from ..ping import Pinger

        pinger = Pinger(config.ping_url, secrets)
        pinger.start()
        pingers.append(pinger)
    yield


# -- sync ----------------------------------------------------------------------------------------
def run_sync(args: argparse.Namespace) -> int:
    ending = Ending(args)
    pingers: list[Pinger] = []

    def body() -> int:
        config = _configured(args, ending, "sync")
        console = start_log(args, config, ending.secrets, "sync")
        with one_run_at_a_time(config), pinging(config, ending.secrets, pingers):
            return _sync_locked(args, config, ending.secrets, console)

    code = guarded(ending, body)
    for pinger in pingers:
        pinger.finish(code, last_end())
    return code


def _sync_locked(
    args: argparse.Namespace, config: Config, secrets: list[str], console: BarAwareHandler
) -> int:
    from ..local import offline_report, read_local

    # The history and the folder first: when nothing is new, the run ends here, without the
    # server and without importing the HTTP side at all.
    history, scanned = read_local(config)
    idle = offline_report(config, history, scanned)
    if idle is not None:
        return _finish_idle(args, config, history, secrets, scanned, *idle)
    from ..run import sync

    async def whole(config: Config, control: RunControl) -> RunReport:
        return await sync(config, control, (history, scanned))

    try:
        report, signum = anyio.run(
            run_with_signals, config, progress_control(args, console), whole, backend="asyncio"
        )
    finally:
        if console.bar is not None:
            console.bar.close()
            console.bar = None
    if report is None:
        log.warning("interrupted before the uploads began; nothing was uploaded")
        code = fail(args, "interrupted before the uploads began", exit_for_signal(signum), secrets)
        return ended(code, [])
    code = exit_for_signal(signum) if report.interrupted else EXIT_OK if report.ok else EXIT_PARTIAL
    print_report(report, args, secrets, code)
    return ended(code, [report])


def _finish_idle(
    args: argparse.Namespace,
    config: Config,
    history: History,
    secrets: list[str],
    scanned: ScanResult,
    report: RunReport,
    facts: dict[str, object],
) -> int:
    """A run with nothing for the server: say so, keep the history's bookkeeping, exit 0."""
    from ..local import warn_symlinks

    warn_symlinks(scanned, report)
    left = [f"{report.settling} still being written"] if report.settling else []
    if report.outside_window:
        left.append(f"{report.outside_window} outside the date window")
    log.info(
        "nothing new: %s, all in the history and in the album%s; the server was not contacted",
        counted(report.scanned, "file"),
        f" ({', '.join(left)}: left for a later run)" if left else "",
    )
    if not config.dry_run:
        report.duration_s = time.monotonic() - START
        # The facts unchanged: nothing new learnt. Committed with the sizes and times learnt for
        # records imported from a list of names, if any.
        save_last_run(history, report, facts)
    history.close()
    report.duration_s = time.monotonic() - START
    print_report(report, args, secrets, EXIT_OK)
    return ended(EXIT_OK, [report])


def run_demo(args: argparse.Namespace) -> int:
    from ..demo import run_demo as demo

    return guarded(Ending(args), lambda: demo(args))


# -- watch ---------------------------------------------------------------------------------------
def run_watch(args: argparse.Namespace) -> int:
    from ..watch import WatchTotals, watch

    totals = WatchTotals()
    ending = Ending(args, summary=lambda: f"watched: {totals.summary()}")
    pingers: list[Pinger] = []

    def body() -> int:
        config = _configured(args, ending, "watch")
        console = start_log(args, config, ending.secrets, "watch")

        async def until_stopped(config: Config, control: RunControl) -> WatchTotals:
            return await watch(config, control, totals, pingers[0] if pingers else None)

        try:
            with one_run_at_a_time(config), pinging(config, ending.secrets, pingers):
                _, signum = anyio.run(
                    run_with_signals,
                    config,
                    progress_control(args, console),
                    until_stopped,
                    backend="asyncio",
                )
        finally:
            if console.bar is not None:
                console.bar.close()
        say(f"Stopped watching: {totals.summary()}", ending.secrets)
        code = exit_for_signal(signum) if signum else EXIT_OK
        return ended(code, [], f"stopped watching: {totals.summary()}")

    code = guarded(ending, body)
    if code not in (EXIT_OK, EXIT_INTERRUPTED, EXIT_TERMINATED):
        for pinger in pingers:  # a stop asked for is no failure: only an error says so
            pinger.finish(code, last_end())
    return code


# -- verify --------------------------------------------------------------------------------------
def run_verify(args: argparse.Namespace) -> int:
    from ..verify import verify

    ending = Ending(
        args,
        summary=lambda: "verify stopped",
        interrupted="interrupted; the history was not changed",
    )

    def body() -> int:
        config = _configured(args, ending, "verify")
        start_log(args, config, ending.secrets, "verify" + (" --repair" if args.repair else ""))
        # Only a repair writes the history: then one run at a time, as a sync.
        lock = RunLock(config.history_file) if args.repair else contextlib.nullcontext()
        with lock:
            report = anyio.run(verify, config, args.repair, backend="asyncio")
        code = report.exit_code
        if args.json:
            say(json.dumps({**report.to_json(), "exit_code": code}), ending.secrets)
        else:
            say(report.render(), ending.secrets)
        summary = (
            f"verify: {report.checked} checked, {report.ok} ok, {len(report.lost)} lost, "
            f"{len(report.trashed)} in the trash, {len(report.not_in_album)} not in the album"
        )
        if report.repair:
            summary += f"; {report.forgotten} forgotten, {report.linked} linked"
        return ended(code, [], summary)

    return guarded(ending, body)


# -- status and export ---------------------------------------------------------------------------
def run_status(args: argparse.Namespace) -> int:
    """``status`` and ``export``: the history, read only."""
    from ..status import export, status

    secrets: list[str] = []
    try:
        sources = Sources({"env_file": args.env_file, "history": args.history})
        # The key is not needed here, but if a history from an older version (or anything in
        # it) holds it, status must not be the one to print it.
        secrets += sources.secrets()
        for warning in sources.warnings:
            say(f"async-uploader: warning: {warning}", secrets, err=True)
        if args.command == "export":
            for line in export(sources.history_file()):
                say(line, secrets)
        else:
            say(status(sources.history_file(), args.json), secrets)
    except UploaderError as exc:
        say(f"async-uploader: error: {exc}", secrets, err=True)
        if args.json:
            message = one_line(redact(str(exc), secrets))
            say(json.dumps({"error": message, "exit_code": exc.exit_code}))
        return exc.exit_code
    return EXIT_OK


# -- check ---------------------------------------------------------------------------------------
def run_check(args: argparse.Namespace) -> int:
    from ..check import exit_code, render, run_check

    try:
        config = load_config(flags_of(args))
    except UploaderError as exc:
        say(f"  FAIL  configuration  {exc}\n        fix: see .env.example\nUsable: no (1 to fix)")
        return exc.exit_code
    secrets = config.secrets
    setup_logging(log_file=None, secrets=secrets, quiet=True, debug=args.debug)
    rows = anyio.run(run_check, config, backend="asyncio")
    say(render(rows), secrets)
    return exit_code(rows)
