"""The ``async-uploader`` command: argument parsing, signals, one line per error, exit codes.

Exit codes: 0 all done; 1 some files rejected or failed, or album links failed; 2 configuration or
usage error; 3 no server reachable or API key rejected; 4 another run is active; 130 interrupted
(Ctrl-C); 143 terminated (SIGTERM).
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from . import __version__
from .config import Config, Sources, load_config
from .errors import (
    EXIT_CONFIG,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_TERMINATED,
    UploaderError,
)
from .history import History, RunLock
from .logsetup import Redact, log_to_file, setup_logging
from .progress import BarAwareHandler, TerminalBar
from .report import RunReport

if TYPE_CHECKING:
    from .pipeline import RunControl

log = logging.getLogger("async_uploader")
START = time.monotonic()

COMMANDS = ("sync", "watch", "check", "status", "test-server", "demo")


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # exit 2 with one line, as documented
        raise UsageError(message)


def _add_sync_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--env-file", type=Path, help="read settings from this .env file (default ./.env)"
    )
    p.add_argument("--folder", help="the folder to upload (SCREENSHOTS_PATH)")
    p.add_argument("--album", help="the album to put every file in (IMMICH_ALBUM_NAME)")
    p.add_argument("--local-url", help="the server's LAN URL (IMMICH_LOCAL_URL)")
    p.add_argument("--external-url", help="the server's public URL (IMMICH_EXTERNAL_URL)")
    p.add_argument("--history", help="the history file (IMMICH_HISTORY_FILE)")
    p.add_argument("--log-file", help="the log file (IMMICH_LOG_FILE)")
    p.add_argument("--concurrency", help="uploads at once (IMMICH_CONCURRENCY)")
    p.add_argument(
        "--recursive",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="include subfolders (IMMICH_RECURSIVE)",
    )
    p.add_argument("--include", action="append", metavar="GLOB",
                   help="only files matching this glob (repeatable; IMMICH_INCLUDE)")  # fmt: skip
    p.add_argument("--exclude", action="append", metavar="GLOB",
                   help="leave files and folders matching this glob (repeatable; IMMICH_EXCLUDE)")  # fmt: skip
    p.add_argument("--no-sidecar", dest="sidecar", action="store_false", default=None,
                   help="send no generated XMP sidecar (IMMICH_SIDECAR=false)")  # fmt: skip
    p.add_argument(
        "--json", action="store_true", help="print one JSON summary on stdout, nothing else"
    )
    p.add_argument(
        "--dry-run", action="store_true", help="say what would be uploaded; change nothing"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress lines")
    p.add_argument("--quiet", action="store_true", help="only warnings and errors")
    p.add_argument(
        "--debug", action="store_true", help="HTTP detail and tracebacks (never the key)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="async-uploader",
        description="Upload every new file of a folder to an Immich album, once, concurrently.",
    )
    parser.add_argument("--version", action="version", version=f"async-uploader {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    _add_sync_flags(sub.add_parser("sync", help="upload new files (the default command)"))
    _add_sync_flags(sub.add_parser("watch", help="keep running; upload each new file once it is complete"))  # fmt: skip
    _add_sync_flags(sub.add_parser("check", help="is the configuration usable? what to fix"))
    status = sub.add_parser("status", help="what the history holds; changes nothing")
    status.add_argument("--env-file", type=Path, help="read settings from this .env file")
    status.add_argument("--history", help="the history file (IMMICH_HISTORY_FILE)")
    status.add_argument("--json", action="store_true", help="one JSON object on stdout")
    demo = sub.add_parser("demo", help="a whole sync against the built-in test server")
    _add_sync_flags(demo)
    # Only listed here: "test-server" is dispatched before parsing (main), so a sync never
    # imports the test server.
    sub.add_parser("test-server", help="run the Immich-compatible test server (--help for more)")
    return parser


def _flags(args: argparse.Namespace) -> dict[str, Any]:
    keys = ("env_file", "folder", "album", "local_url", "external_url", "history", "log_file")
    flags = {k: getattr(args, k, None) for k in keys}
    flags["concurrency"] = args.concurrency
    flags["recursive"] = args.recursive
    flags["dry_run"] = args.dry_run
    flags["include"] = args.include
    flags["exclude"] = args.exclude
    flags["sidecar"] = args.sidecar
    return flags


async def _run_with_signals(
    config: Config, control: RunControl, run: Any
) -> tuple[RunReport | None, int | None]:
    """Run a sync; the first Ctrl-C/SIGTERM stops new uploads, a second one stops at once."""
    control.stop = anyio.Event()
    seen: list[int] = []
    result: list[RunReport] = []

    async with anyio.create_task_group() as tg:
        work = anyio.CancelScope()

        async def signals() -> None:
            try:
                with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as received:
                    async for signum in received:
                        seen.append(signum)
                        assert control.stop is not None
                        if len(seen) == 1 and control.uploading:
                            name = signal.Signals(signum).name
                            log.warning("%s: finishing in-flight uploads (again to stop now)", name)
                            control.stop.set()
                        else:
                            work.cancel()
            except NotImplementedError:  # Windows: Ctrl-C arrives as KeyboardInterrupt instead
                return

        tg.start_soon(signals)
        failure: list[UploaderError] = []
        try:
            with work:
                result.append(await run(config, control))
        except UploaderError as exc:  # raised below, outside the task group's exception group
            failure.append(exc)
        finally:
            tg.cancel_scope.cancel()
    if failure:
        raise failure[0]
    return (result[0] if result else None), (seen[0] if seen else None)


def _progress_control(args: argparse.Namespace, console: BarAwareHandler) -> RunControl:
    """A bar on a terminal; a log line every 5 s otherwise; nothing with --no-progress/--quiet."""
    from .pipeline import RunControl

    if args.no_progress or args.quiet:
        return RunControl(progress_seconds=0)
    if sys.stderr.isatty():
        bar = TerminalBar(sys.stderr)
        console.bar = bar
        return RunControl(progress_seconds=0.25, on_progress=bar.update)
    return RunControl(progress_seconds=5.0)


def _exit_for_signal(signum: int | None) -> int:
    return EXIT_TERMINATED if signum == signal.SIGTERM else EXIT_INTERRUPTED


def _print_report(report: RunReport, args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps(report.to_json()), flush=True)
        return
    if args.quiet and report.ok and not report.interrupted:
        return
    if report.dry_run:
        print(f"Dry run: would upload {len(report.would_upload)} files; nothing was changed.")
        return
    print(("Interrupted: " if report.interrupted else "Done: ") + report.summary(), flush=True)
    for problem in report.problems[:20]:
        print(f"  {problem}", flush=True)
    if len(report.problems) > 20:
        print(f"  ... and {len(report.problems) - 20} more (see the log)", flush=True)


def run_sync(args: argparse.Namespace, demo: bool = False) -> int:
    secrets: list[str] = []
    try:
        if demo:
            from .demo import run_demo

            return run_demo(args)
        config = load_config(_flags(args))
        secrets.append(config.api_key.reveal())
        lock = RunLock(config.history_file)
        if not config.dry_run:
            lock.acquire()  # before anything is read: one run at a time, reading included
        try:
            return _sync_locked(args, config, secrets)
        finally:
            lock.release()
    except UploaderError as exc:
        message = Redact(secrets).clean(str(exc))
        if args.debug:
            log.exception("error")
        print(f"async-uploader: error: {message}", file=sys.stderr, flush=True)
        log_to_file(logging.ERROR, message)
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug: one line, the traceback under --debug, never the key
        message = Redact(secrets).clean(f"{type(exc).__name__}: {exc}")
        if args.debug:
            log.exception("unexpected error")
        print(
            f"async-uploader: unexpected error: {message} (run with --debug for details)",
            file=sys.stderr,
            flush=True,
        )
        log_to_file(logging.ERROR, f"unexpected error: {message}")
        return EXIT_PARTIAL


def _sync_locked(args: argparse.Namespace, config: Config, secrets: list[str]) -> int:
    from .local import done, offline_report, read_local

    console = setup_logging(
        log_file=config.log_file,
        secrets=secrets,
        quiet=args.quiet,
        debug=args.debug,
    )
    for warning in config.warnings:
        log.warning("warning: %s", warning)
    # The history and the folder first: when nothing is new, the run ends here, without the
    # server and without importing the HTTP side at all.
    history, scanned = read_local(config)
    idle = offline_report(config, history, scanned)
    if idle is not None:
        return _finish_idle(args, config, history, *idle)
    from .pipeline import sync

    control = _progress_control(args, console)
    control.prefetched = done((history, scanned))
    run = functools.partial(sync, locked=True)  # the lock is held by run_sync
    try:
        report, signum = anyio.run(_run_with_signals, config, control, run, backend="asyncio")
    finally:
        if console.bar is not None:
            console.bar.close()
            console.bar = None
    if report is None:
        log.warning("interrupted before the uploads began; nothing was changed")
        return _exit_for_signal(signum)
    _print_report(report, args)
    if report.interrupted:
        return _exit_for_signal(signum)
    return EXIT_OK if report.ok else EXIT_PARTIAL


def _finish_idle(args: argparse.Namespace, config: Config, history: History, report: RunReport, facts: dict[str, Any]) -> int:  # fmt: skip
    """A run with nothing for the server: say so, keep the history's bookkeeping, exit 0."""
    from .local import FACTS_KEY

    log.info(
        "nothing new: %d files, all in the history and in the album%s; the server was not contacted",
        report.scanned,
        f" ({report.settling} still being written, left for the next run)"
        if report.settling
        else "",
    )
    if not config.dry_run:
        if history.dirty:  # sizes and times learnt for records imported from an older history
            history.save()
        report.duration_s = time.monotonic() - START
        history.save_last_run(
            {
                "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                **report.to_json(),
                "ok": True,
                "interrupted": False,
                FACTS_KEY: facts,  # carried over unchanged: this run learnt nothing new
            }
        )
    report.duration_s = time.monotonic() - START
    _print_report(report, args)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "test-server":
        from .testserver.cli import build_parser as build_server_parser
        from .testserver.cli import run as run_server

        server_parser = build_server_parser(_Parser(prog="async-uploader test-server"))
        try:
            server_args = server_parser.parse_args(argv[1:])
        except UsageError as exc:
            print(f"async-uploader: usage error: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        try:
            return run_server(server_args)
        except KeyboardInterrupt:
            return EXIT_INTERRUPTED
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help", "--version")):
        argv.insert(0, "sync")
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        print(f"async-uploader: usage error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.command == "status":
        return run_status(args)
    if args.command == "watch":
        return run_watch(args)
    if args.command == "check":
        return run_check_command(args)
    return run_sync(args, demo=args.command == "demo")


def run_watch(args: argparse.Namespace) -> int:
    from .watch import WatchTotals, watch

    secrets: list[str] = []
    totals = WatchTotals()
    try:
        config = load_config(_flags(args))
        secrets.append(config.api_key.reveal())
        console = setup_logging(
            log_file=config.log_file, secrets=secrets, quiet=args.quiet, debug=args.debug
        )
        for warning in config.warnings:
            log.warning("warning: %s", warning)
        control = _progress_control(args, console)

        async def until_stopped(config: Config, control: RunControl) -> WatchTotals:
            return await watch(config, control, totals)

        try:
            _, signum = anyio.run(_run_with_signals, config, control, until_stopped, backend="asyncio")  # fmt: skip
        finally:
            if console.bar is not None:
                console.bar.close()
        print(f"Stopped watching: {totals.summary()}", flush=True)
        return _exit_for_signal(signum) if signum else EXIT_OK
    except UploaderError as exc:
        message = Redact(secrets).clean(str(exc))
        print(f"async-uploader: error: {message}", file=sys.stderr, flush=True)
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def run_status(args: argparse.Namespace) -> int:
    from .status import status

    try:
        history_file = Sources({"env_file": args.env_file, "history": args.history}).history_file()
        print(status(history_file, args.json))
    except UploaderError as exc:
        print(f"async-uploader: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return EXIT_OK


def run_check_command(args: argparse.Namespace) -> int:
    from .check import exit_code, render, run_check

    try:
        config = load_config(_flags(args))
    except UploaderError as exc:
        print(f"  FAIL  configuration  {exc}\n        fix: see .env.example", flush=True)
        print("Usable: no (1 to fix)")
        return exc.exit_code
    setup_logging(log_file=None, secrets=[config.api_key.reveal()], quiet=True, debug=args.debug)
    rows = anyio.run(run_check, config, backend="asyncio")
    print(render(rows), flush=True)
    return exit_code(rows)
