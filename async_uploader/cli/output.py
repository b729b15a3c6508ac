"""What a command says: lines on stdout and stderr (never the key, never a forged line, a closed
pipe no traceback), a run's summary, the one error line and exit code, and the log file's first
and last line of each run."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from .. import __version__
from ..config import Config, Sources, redact
from ..errors import EXIT_PARTIAL, UploaderError, first_cause
from ..logsetup import log_to_file, setup_logging
from ..outcomes import RunReport
from ..progress import BarAwareHandler
from ..text import counted, one_line
from .flags import flags_of

log = logging.getLogger("async_uploader")
START = time.monotonic()


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


def print_report(
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


def fail(
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
        print_report(report, args, secrets, code, stopped=True)
    say(f"async-uploader: error: {message}", secrets, err=True)
    log_to_file(logging.ERROR, message)
    if getattr(args, "json", False):
        body = report.to_json() if report is not None else {}
        say(json.dumps({**body, "error": one_line(message), "exit_code": code}), secrets)
    return code


def unexpected(args: argparse.Namespace, exc: Exception, secrets: list[str]) -> int:
    """A bug: one line, the traceback under --debug, never the key."""
    if getattr(args, "debug", False):
        log.exception("unexpected error")
    cause = first_cause(exc)
    message = f"unexpected error: {type(cause).__name__}: {cause} (run with --debug for details)"
    return fail(args, message, EXIT_PARTIAL, secrets)


def start_log(
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


_LAST_END = [""]


def ended(code: int, reports: Sequence[RunReport | None], summary: str | None = None) -> int:
    """The run's last line in the log: its exit code and what it did."""
    report = next((r for r in reversed(reports) if r is not None), None)
    what = summary or (report.summary() if report is not None else "nothing was done")
    _LAST_END[0] = f"exit {code}: {what}"
    log_to_file(logging.INFO, f"end: {_LAST_END[0]}")
    return code


def last_end() -> str:
    """The last line ``ended`` wrote: what a health-check ping says of the run."""
    return _LAST_END[0]


def log_early(args: argparse.Namespace, secrets: list[str]) -> None:
    """An error before the log was opened (a setting wrong or missing): into the log all the same
    when the settings say where it is (a .env was found, or IMMICH_LOG_FILE/--log-file), so a
    scheduled run that fails this way leaves a line where its other runs do. Never a log file
    in a folder that has no .env."""
    if logging.getLogger().handlers:
        return  # set up already (the log file may have failed since: then it stays off)
    try:
        sources = Sources(flags_of(args))
        secrets += sources.secrets()
        explicit = getattr(args, "log_file", None) or sources.get("IMMICH_LOG_FILE")[0]
        if sources.env_file is None and not explicit:
            return
        setup_logging(log_file=sources.log_file(), secrets=secrets, quiet=True)
    except (UploaderError, OSError):
        return  # the log is what is wrong, or cannot be found: the console line must do
