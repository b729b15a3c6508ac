"""The ``async-uploader`` command: argument parsing, signals, one line per error, exit codes.

Exit codes: 0 all done; 1 some files rejected or failed, or album links failed; 2 configuration or
usage error; 3 no server reachable or API key rejected; 4 another run is active; 130 interrupted
(Ctrl-C); 143 terminated (SIGTERM).
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from . import __version__
from .config import (
    DEFAULT_CONCURRENCY,
    MAX_CONCURRENCY,
    SETTING,
    Config,
    Sources,
    load_config,
    redact,
)
from .errors import (
    EXIT_CONFIG,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_TERMINATED,
    UploaderError,
    first_cause,
    first_uploader_error,
)
from .logsetup import log_to_file, one_line, setup_logging
from .malloc import share_arenas
from .outcomes import RunReport, counted
from .progress import BarAwareHandler, TerminalBar
from .store import History, RunLock, save_last_run

if TYPE_CHECKING:
    from .run import RunControl

log = logging.getLogger("async_uploader")
START = time.monotonic()

COMMANDS = ("sync", "watch", "check", "verify", "status", "export", "test-server", "demo")


class UsageError(Exception):
    pass


def _silence(stream: Any) -> None:
    """The reader went away (``status | head -2``): what is left to print goes nowhere, and
    the exit code stays the run's own."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def say(text: str, secrets: list[str] | None = None, *, err: bool = False) -> None:
    """One or more lines on stdout (stderr with ``err``): never the key, never a control
    character that could forge a line, and a closed pipe is no traceback."""
    stream = sys.stderr if err else sys.stdout
    lines = redact(text, secrets or []).split("\n")
    try:
        stream.write("\n".join(one_line(line) for line in lines) + "\n")
        stream.flush()
    except BrokenPipeError:
        _silence(stream)
    except OSError:
        pass  # a console that cannot be written to: the log file still has it


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # exit 2 with one line, as documented
        raise UsageError(message)


def _about(env: str, what: str | None = None) -> str:
    """A flag's help from the settings table: what it is, its variable, range and default."""
    setting = SETTING[env]
    notes = [env]
    if setting.low is not None and setting.high is not None:
        notes.append(f"{setting.low:g} to {setting.high:g}")
    if setting.shown and setting.shown != "required":
        notes.append(f"default {setting.shown.replace('`', '')}")
    return f"{what or setting.help} ({'; '.join(notes)})"


def _add_history_flags(parser: argparse.ArgumentParser) -> None:
    """status and export: where the .env is, or the history itself."""
    _add_env_file(parser)
    parser.add_argument("--history", metavar="FILE", help=_about("IMMICH_HISTORY_FILE"))


def _add_env_file(p: argparse.ArgumentParser, what: str = "settings") -> None:
    p.add_argument(
        "--env-file",
        type=Path,
        metavar="FILE",
        help=f"read {what} from this .env file (default ./.env)",
    )


def _add_folder_and_album(p: argparse.ArgumentParser) -> None:
    p.add_argument("--folder", metavar="DIR", help=_about("SCREENSHOTS_PATH"))
    p.add_argument("--album", metavar="NAME", help=_about("IMMICH_ALBUM_NAME"))


def _add_recursive(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--recursive",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=_about("IMMICH_RECURSIVE"),
    )


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    """Where the settings come from, the folder, the server, the album, the history."""
    _add_env_file(p)
    _add_folder_and_album(p)
    p.add_argument("--local-url", metavar="URL", help=_about("IMMICH_LOCAL_URL"))
    p.add_argument("--external-url", metavar="URL", help=_about("IMMICH_EXTERNAL_URL"))
    p.add_argument("--history", metavar="FILE", help=_about("IMMICH_HISTORY_FILE"))


def _add_scan_flags(p: argparse.ArgumentParser) -> None:
    """Which files go up, and how."""
    _add_recursive(p)
    p.add_argument(
        "--include",
        action="append",
        metavar="GLOB",
        help=_about("IMMICH_INCLUDE", "only files matching this glob (repeatable)"),
    )
    p.add_argument(
        "--exclude",
        action="append",
        metavar="GLOB",
        help=_about("IMMICH_EXCLUDE", "leave files and folders matching this glob (repeatable)"),
    )
    p.add_argument(
        "--follow-symlinks",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=_about(
            "IMMICH_FOLLOW_SYMLINKS",
            "upload what symlinks in the folder point to, even outside it (else skipped, named)",
        ),
    )


def _add_run_flags(p: argparse.ArgumentParser) -> None:
    """The flags of a run that uploads: sync and watch."""
    _add_config_flags(p)
    p.add_argument("--log-file", metavar="FILE", help=_about("IMMICH_LOG_FILE"))
    p.add_argument("--concurrency", metavar="N", help=_about("IMMICH_CONCURRENCY"))
    p.add_argument("--max-rate", metavar="RATE", help=_about("IMMICH_MAX_RATE"))
    p.add_argument(
        "--pause-jobs",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=_about("IMMICH_PAUSE_JOBS"),
    )
    _add_scan_flags(p)
    p.add_argument(
        "--no-sidecar",
        dest="sidecar",
        action="store_false",
        default=None,
        help=_about("IMMICH_SIDECAR", "send no generated XMP sidecar"),
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar or lines")
    _add_output_flags(p)


def _add_output_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--quiet", action="store_true", help="only warnings, errors and a failed summary"
    )
    p.add_argument(
        "--debug", action="store_true", help="HTTP detail and tracebacks (never the key)"
    )


KEY_NOTE = (
    "The API key comes only from IMMICH_API_KEY (in .env or the environment), never from a\n"
    "flag, and is never printed or logged."
)
EPILOG = f"""\
main flags (of sync; 'async-uploader sync --help' lists them all):
  --folder DIR, --album NAME, --local-url URL, --external-url URL
  --dry-run         hash and ask the server, say what a run would send and link; change nothing
  --json            one JSON summary on stdout
  --concurrency N   uploads at once (1 to {MAX_CONCURRENCY}; default {DEFAULT_CONCURRENCY}: tuned while uploading)

{KEY_NOTE}
Settings: .env in the current folder (see .env.example), the environment, then flags.
Exit codes: 0 done, 1 some files failed, 2 configuration, 3 server or key, 4 another run active,
130/143 interrupted."""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="async-uploader",
        description="Upload every new file of a folder to an Immich album, once, concurrently. "
        "Without a command: sync.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"async-uploader {__version__}")
    sub = parser.add_subparsers(
        dest="command", parser_class=_Parser, title="commands", metavar="COMMAND"
    )

    def command(
        name: str, summary: str, description: str, key: bool = True
    ) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            help=summary,
            description=f"{description}\n\n{KEY_NOTE}" if key else description,
            epilog=None,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    sync = command(
        "sync",
        "upload what is new, link it to the album, exit (the default command)",
        "One run: scan the folder, skip what the history knows, upload the rest (the server's\n"
        "duplicates are only linked), add everything to the album, save the history. When\n"
        "nothing is new it ends without contacting the server.",
    )
    _add_run_flags(sync)
    sync.add_argument(
        "--json", action="store_true", help="print one JSON summary on stdout, nothing else"
    )
    sync.add_argument(
        "--dry-run",
        action="store_true",
        help="hash the new files and ask the server which it has (read-only); say what a run "
        "would send, link and skip; change nothing",
    )
    watch = command(
        "watch",
        "keep running; upload each new file once it is complete",
        "Sync, then keep watching the folder: each new file is uploaded once it has stopped\n"
        "changing. Ctrl-C (or SIGTERM) stops after the uploads in flight.",
    )
    _add_run_flags(watch)
    watch.set_defaults(json=False, dry_run=False)
    check = command(
        "check",
        "is the configuration usable? a table of what is fine and how to fix the rest",
        "Check the settings, both URLs, the key and its permissions, the album, the folder, the\n"
        "history and the lock. Read-only: uploads, creates and writes nothing. Exit 0 when usable.",
    )
    _add_config_flags(check)
    check.add_argument(
        "--debug", action="store_true", help="HTTP detail and tracebacks (never the key)"
    )
    verify = command(
        "verify",
        "is everything the history says was sent still on the server, and in the album?",
        "Check every file the history records as uploaded against the server: its bytes still\n"
        "there (by SHA-1), not in the trash, in the album. A table (or --json); exit 0 when all\n"
        "is well, 1 otherwise. Changes nothing unless --repair; never a local file, and never\n"
        "deletes anything on the server.",
    )
    _add_config_flags(verify)
    verify.add_argument("--log-file", metavar="FILE", help=_about("IMMICH_LOG_FILE"))
    verify.add_argument(
        "--repair",
        action="store_true",
        help="forget what the server lost (the next sync uploads it again) and link what the "
        "album misses",
    )
    verify.add_argument("--json", action="store_true", help="one JSON object on stdout")
    _add_output_flags(verify)
    verify.set_defaults(dry_run=False)
    status = command(
        "status",
        "what the history holds (--json too); changes nothing",
        "What the history holds and what the last run did, without the server. Exit 1 when\n"
        "there is no history where it looked.",
        key=False,
    )
    _add_history_flags(status)
    status.add_argument("--json", action="store_true", help="one JSON object on stdout")
    export = command(
        "export",
        "the whole history as JSON on stdout; changes nothing",
        "Every record of the history (the SQLite database) as one JSON object, a line per\n"
        "file, and the last run's record: for people, jq and scripts. Reads only.",
        key=False,
    )
    _add_history_flags(export)
    export.set_defaults(json=False)
    demo = command(
        "demo",
        "a whole sync against the built-in test server",
        "Start the built-in test server, sync the configured folder (else a generated sample of\n"
        "screenshots) into it, list what it holds, run again as cron would, stop. Nothing real\n"
        "is touched: the history and log go to a temporary folder, the key is the test server's.",
        key=False,
    )
    _add_env_file(demo, "SCREENSHOTS_PATH and IMMICH_ALBUM_NAME")
    _add_folder_and_album(demo)
    _add_recursive(demo)
    _add_output_flags(demo)
    demo.set_defaults(json=False, dry_run=False)
    # Only listed here: "test-server" is dispatched before parsing (main), so a sync never
    # imports the test server.
    sub.add_parser("test-server", help="run the Immich-compatible test server (--help for more)")
    return parser


def _flags(args: argparse.Namespace) -> dict[str, Any]:
    """The settings a command's flags give (a command without a flag gives None for it)."""
    keys = (
        *("env_file", "folder", "album", "local_url", "external_url", "history", "log_file"),
        *("concurrency", "recursive", "include", "exclude", "sidecar", "follow_symlinks"),
        *("max_rate", "pause_jobs"),
    )
    flags = {k: getattr(args, k, None) for k in keys}
    flags["dry_run"] = bool(getattr(args, "dry_run", False))
    return flags


async def _run_with_signals(
    config: Config, control: RunControl, run: Any
) -> tuple[RunReport | None, int | None]:
    """Run a sync. Before the uploads a Ctrl-C/SIGTERM stops at once; from then on the first
    one lets in-flight uploads finish, a second cuts them, and either way the album links and
    the history are saved and the report says what was done (a third one changes nothing)."""
    control.stop = anyio.Event()
    control.abort = anyio.Event()
    seen: list[int] = []
    result: list[RunReport] = []

    async with anyio.create_task_group() as tg:
        work = anyio.CancelScope()

        async def signals() -> None:
            try:
                with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as received:
                    async for signum in received:
                        seen.append(signum)
                        assert control.stop is not None and control.abort is not None
                        name = signal.Signals(signum).name
                        if not control.uploading:
                            work.cancel()
                        elif len(seen) == 1:
                            log.warning("%s: finishing in-flight uploads (again to stop now)", name)
                            control.stop.set()
                        elif len(seen) == 2:
                            log.warning("%s: stopping now; saving what was done", name)
                            control.stop.set()
                            control.abort.set()
                        else:
                            log.warning("%s: saving the history, a moment more", name)
            except NotImplementedError:  # Windows: Ctrl-C arrives as KeyboardInterrupt instead
                return

        tg.start_soon(signals)
        failure: list[UploaderError] = []
        try:
            with work:
                result.append(await run(config, control))
        except UploaderError as exc:  # raised below, outside the task group's exception group
            failure.append(exc)
        except BaseExceptionGroup as group:  # out of a task group of the run's (watch's, say)
            if (error := first_uploader_error(group)) is None:
                raise
            failure.append(error)
        finally:
            tg.cancel_scope.cancel()
    if failure:
        raise failure[0]
    return (result[0] if result else None), (seen[0] if seen else None)


def _progress_control(args: argparse.Namespace, console: BarAwareHandler) -> RunControl:
    """A bar on a terminal; a log line every 5 s otherwise; nothing with --no-progress/--quiet."""
    from .run import RunControl

    if args.no_progress or args.quiet:
        return RunControl(progress_seconds=0)
    if sys.stderr.isatty():
        bar = TerminalBar(sys.stderr)
        console.bar = bar
        return RunControl(progress_seconds=0.25, on_progress=bar.update)
    return RunControl(progress_seconds=5.0)


def _exit_for_signal(signum: int | None) -> int:
    return EXIT_TERMINATED if signum == signal.SIGTERM else EXIT_INTERRUPTED


def _print_report(
    report: RunReport,
    args: argparse.Namespace,
    secrets: list[str],
    code: int,
    stopped: bool = False,
) -> None:
    """The summary (``stopped``: of a run that ended in an error, printed even with --quiet)."""
    if args.json:
        say(json.dumps({**report.to_json(), "exit_code": code}), secrets)
        return
    if args.quiet and report.ok and not report.interrupted and not stopped:
        return
    if report.dry_run:
        on_server = f", {report.duplicates} already on the server" if report.duplicates else ""
        if not report.server_checked:  # an upper bound: some may be on the server already
            on_server = " at most (the server could not be asked which it has)"
        say(
            f"Dry run: would upload {counted(len(report.would_upload), 'file')}{on_server}, and "
            f"link {counted(report.would_link, 'asset')} to the album; nothing was changed."
        )
        return
    head = "Stopped: " if stopped else "Interrupted: " if report.interrupted else "Done: "
    lines = [head + report.summary()]
    lines += [f"  {problem}" for problem in report.problems[:20]]
    if len(report.problems) > 20:
        lines.append(f"  ... and {len(report.problems) - 20} more (see the log)")
    say("\n".join(lines), secrets)


def _fail(
    args: argparse.Namespace,
    message: str,
    code: int,
    secrets: list[str],
    report: RunReport | None = None,
) -> int:
    """The one way a run ends in an error: its summary when it did something, one line on
    stderr (and in the log), and with --json one object that says both."""
    message = redact(message, secrets)
    if report is not None and not args.json:
        _print_report(report, args, secrets, code, stopped=True)
    say(f"async-uploader: error: {message}", secrets, err=True)
    log_to_file(logging.ERROR, message)
    if getattr(args, "json", False):
        body = report.to_json() if report is not None else {}
        say(json.dumps({**body, "error": one_line(message), "exit_code": code}), secrets)
    return code


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


def run_sync(args: argparse.Namespace, demo: bool = False) -> int:
    secrets: list[str] = []
    control: list[RunControl] = []  # the run's, once it has one: its report outlives an error
    reports: list[RunReport] = []  # the run's final report, once it has one
    try:
        if demo:
            from .demo import run_demo

            return run_demo(args)
        config = load_config(_flags(args))
        secrets.append(config.api_key.reveal())
        console = _start_log(args, config, secrets, "sync")
        with one_run_at_a_time(config):
            return _ended(_sync_locked(args, config, secrets, control, console, reports), reports)
    except UploaderError as exc:
        if args.debug:
            log.exception("error")
        _log_early(args, secrets)
        report = control[0].report if control and control[0].uploading else None
        return _ended(_fail(args, str(exc), exc.exit_code, secrets, report), [*reports, report])
    except KeyboardInterrupt:
        return _ended(_fail(args, "interrupted", EXIT_INTERRUPTED, secrets), reports)
    except Exception as exc:  # a bug: one line, the traceback under --debug, never the key
        return _ended(_unexpected(args, exc, secrets), reports)


def _start_log(
    args: argparse.Namespace, config: Config, secrets: list[str], command: str
) -> BarAwareHandler:
    """The console and the log file, the configuration's warnings, and the run's first line in
    the log: consecutive runs (cron's, say) read apart."""
    console = setup_logging(
        log_file=config.log_file, secrets=secrets, quiet=args.quiet, debug=args.debug
    )
    for warning in config.warnings:
        log.warning("%s", warning)
    log_to_file(
        logging.INFO,
        f"start: async-uploader {__version__} {command}{' --dry-run' if config.dry_run else ''}: "
        f"folder {config.folder}, album {config.album!r}, local URL {config.local_url or '-'}, "
        f"external URL {config.external_url or '-'}",
    )
    return console


def _ended(code: int, reports: Sequence[RunReport | None], summary: str | None = None) -> int:
    """The run's last line in the log: its exit code and what it did."""
    report = next((r for r in reversed(reports) if r is not None), None)
    what = summary or (report.summary() if report is not None else "nothing was done")
    log_to_file(logging.INFO, f"end: exit {code}: {what}")
    return code


def _log_early(args: argparse.Namespace, secrets: list[str]) -> None:
    """An error before the log was opened (a setting wrong or missing): into the log all the same
    when the settings say where it is (a .env was found, or IMMICH_LOG_FILE/--log-file), so a
    scheduled run that fails this way leaves a line where its other runs do. Never a log file
    in a folder that has no .env."""
    if logging.getLogger().handlers:
        return  # set up already (the log file may have failed since: then it stays off)
    try:
        sources = Sources(_flags(args))
        key, _ = sources.get("IMMICH_API_KEY")
        secrets += [key.strip()] if key and key.strip() else []
        explicit = getattr(args, "log_file", None) or sources.get("IMMICH_LOG_FILE")[0]
        if sources.env_file is None and not explicit:
            return
        setup_logging(log_file=sources.log_file(), secrets=secrets, quiet=True)
    except (UploaderError, OSError):
        return  # the log is what is wrong, or cannot be found: the console line must do


def _unexpected(args: argparse.Namespace, exc: Exception, secrets: list[str]) -> int:
    if args.debug:
        log.exception("unexpected error")
    cause = first_cause(exc)
    message = f"unexpected error: {type(cause).__name__}: {cause} (run with --debug for details)"
    return _fail(args, message, EXIT_PARTIAL, secrets)


def _sync_locked(
    args: argparse.Namespace,
    config: Config,
    secrets: list[str],
    controls: list[RunControl],
    console: BarAwareHandler,
    reports: list[RunReport],
) -> int:
    from .local import done, offline_report, read_local

    # The history and the folder first: when nothing is new, the run ends here, without the
    # server and without importing the HTTP side at all.
    history, scanned = read_local(config)
    idle = offline_report(config, history, scanned)
    if idle is not None:
        reports.append(idle[0])
        return _finish_idle(args, config, history, secrets, scanned, *idle)
    from .run import sync

    control = _progress_control(args, console)
    controls.append(control)
    control.prefetched = done((history, scanned))
    try:
        report, signum = anyio.run(_run_with_signals, config, control, sync, backend="asyncio")
    finally:
        if console.bar is not None:
            console.bar.close()
            console.bar = None
    if report is None:
        log.warning("interrupted before the uploads began; nothing was uploaded")
        return _fail(
            args, "interrupted before the uploads began", _exit_for_signal(signum), secrets
        )
    reports.append(report)
    code = (
        _exit_for_signal(signum) if report.interrupted else EXIT_OK if report.ok else EXIT_PARTIAL
    )
    _print_report(report, args, secrets, code)
    return code


def _finish_idle(
    args: argparse.Namespace,
    config: Config,
    history: History,
    secrets: list[str],
    scanned: Any,
    report: RunReport,
    facts: dict[str, Any],
) -> int:
    """A run with nothing for the server: say so, keep the history's bookkeeping, exit 0."""
    from .local import warn_symlinks

    warn_symlinks(scanned, report)
    log.info(
        "nothing new: %s, all in the history and in the album%s; the server was not contacted",
        counted(report.scanned, "file"),
        f" ({report.settling} still being written, left for the next run)"
        if report.settling
        else "",
    )
    if not config.dry_run:
        report.duration_s = time.monotonic() - START
        # The facts unchanged: nothing new learnt. Committed with the sizes and times learnt for
        # records imported from a list of names, if any.
        save_last_run(history, report, facts)
    history.close()
    report.duration_s = time.monotonic() - START
    _print_report(report, args, secrets, EXIT_OK)
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
    if argv and not argv[0].startswith("-") and argv[0] not in COMMANDS:
        # "async-uploader stauts": a command mistyped, not a sync with a stray word.
        close = difflib.get_close_matches(argv[0], COMMANDS, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        say(
            f"async-uploader: unknown command {argv[0]!r}{hint} (commands: {', '.join(COMMANDS)})",
            err=True,
        )
        return EXIT_CONFIG
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help", "--version")):
        argv.insert(0, "sync")
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        say(f"async-uploader: usage error: {exc}", err=True)
        if "--json" in argv:  # one JSON object on every exit, this one too
            say(json.dumps({"error": f"usage error: {exc}", "exit_code": EXIT_CONFIG}))
        return EXIT_CONFIG
    if args.command in ("sync", "demo", "watch", "verify"):
        share_arenas()  # the runs that hash and upload in worker threads; before any starts
    if args.command in ("status", "export"):
        return run_status(args)
    if args.command == "watch":
        return run_watch(args)
    if args.command == "check":
        return run_check_command(args)
    if args.command == "verify":
        return run_verify(args)
    return run_sync(args, demo=args.command == "demo")


def run_watch(args: argparse.Namespace) -> int:
    from .watch import WatchTotals, watch

    secrets: list[str] = []
    totals = WatchTotals()
    try:
        config = load_config(_flags(args))
        secrets.append(config.api_key.reveal())
        console = _start_log(args, config, secrets, "watch")
        control = _progress_control(args, console)

        async def until_stopped(config: Config, control: RunControl) -> WatchTotals:
            return await watch(config, control, totals)

        try:
            with one_run_at_a_time(config):
                _, signum = anyio.run(
                    _run_with_signals, config, control, until_stopped, backend="asyncio"
                )
        finally:
            if console.bar is not None:
                console.bar.close()
        say(f"Stopped watching: {totals.summary()}", secrets)
        code = _exit_for_signal(signum) if signum else EXIT_OK
        return _ended(code, [], f"stopped watching: {totals.summary()}")
    except UploaderError as exc:
        _log_early(args, secrets)
        code = _fail(args, str(exc), exc.exit_code, secrets)
        return _ended(code, [], f"watched: {totals.summary()}")
    except KeyboardInterrupt:
        return _ended(EXIT_INTERRUPTED, [], f"stopped watching: {totals.summary()}")
    except Exception as exc:  # a bug: one line, the traceback under --debug, never the key
        return _unexpected(args, exc, secrets)


def run_verify(args: argparse.Namespace) -> int:
    from .verify import verify

    secrets: list[str] = []
    try:
        config = load_config(_flags(args))
        secrets.append(config.api_key.reveal())
        _start_log(args, config, secrets, "verify" + (" --repair" if args.repair else ""))
        # Only a repair writes the history: then one run at a time, as a sync.
        lock = RunLock(config.history_file) if args.repair else contextlib.nullcontext()
        with lock:
            report = anyio.run(verify, config, args.repair, backend="asyncio")
    except UploaderError as exc:
        _log_early(args, secrets)
        return _ended(_fail(args, str(exc), exc.exit_code, secrets), [], "verify stopped")
    except KeyboardInterrupt:
        say("async-uploader: interrupted; the history was not changed", secrets, err=True)
        return _ended(EXIT_INTERRUPTED, [], "verify interrupted")
    except Exception as exc:  # a bug: one line, the traceback under --debug, never the key
        return _unexpected(args, exc, secrets)
    code = report.exit_code
    if args.json:
        say(json.dumps({**report.to_json(), "exit_code": code}), secrets)
    else:
        say(report.render(), secrets)
    summary = (
        f"verify: {report.checked} checked, {report.ok} ok, {len(report.lost)} lost, "
        f"{len(report.trashed)} in the trash, {len(report.not_in_album)} not in the album"
    )
    return _ended(
        code,
        [],
        summary
        + (f"; {report.forgotten} forgotten, {report.linked} linked" if report.repair else ""),
    )


def run_status(args: argparse.Namespace) -> int:
    """``status`` and ``export``: the history, read only."""
    from .status import export, status

    secrets: list[str] = []
    try:
        sources = Sources({"env_file": args.env_file, "history": args.history})
        # The key is not needed here, but if a history from an older version (or anything in
        # it) holds it, status must not be the one to print it.
        key, _ = sources.get("IMMICH_API_KEY")
        secrets += [key.strip()] if key and key.strip() else []
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
            say(
                json.dumps(
                    {"error": one_line(redact(str(exc), secrets)), "exit_code": exc.exit_code}
                )
            )
        return exc.exit_code
    return EXIT_OK


def run_check_command(args: argparse.Namespace) -> int:
    from .check import exit_code, render, run_check

    try:
        config = load_config(_flags(args))
    except UploaderError as exc:
        say(f"  FAIL  configuration  {exc}\n        fix: see .env.example\nUsable: no (1 to fix)")
        return exc.exit_code
    secrets = [config.api_key.reveal()]
    setup_logging(log_file=None, secrets=secrets, quiet=True, debug=args.debug)
    rows = anyio.run(run_check, config, backend="asyncio")
    say(render(rows), secrets)
    return exit_code(rows)
