"""The ``async-uploader`` command: which command runs, and its exit code.

    flags     the grammar: commands, flags, help from the settings table
    commands  what each command does (one ladder of errors, one lock)
    signals   Ctrl-C and SIGTERM during a run; the progress it shows
    output    what is said: lines, summaries, the error line, the log's first and last line

Exit codes: 0 all done; 1 some files rejected or failed, or album links failed; 2 configuration or
usage error; 3 no server reachable or API key rejected; 4 another run is active; 130 interrupted
(Ctrl-C); 143 terminated (SIGTERM).
"""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Callable

from ..errors import EXIT_CONFIG, EXIT_INTERRUPTED
from ..malloc import share_arenas
from . import commands
from .flags import COMMANDS, Parser, UsageError, build_parser
from .output import say

__all__ = ["main"]

# command -> what runs it ("test-server" is dispatched before parsing, so that a sync never
# imports the test server).
RUNNERS: dict[str, Callable[..., int]] = {
    "sync": commands.run_sync,
    "demo": commands.run_demo,
    "watch": commands.run_watch,
    "verify": commands.run_verify,
    "check": commands.run_check,
    "status": commands.run_status,
    "export": commands.run_status,
}
# The runs that hash and upload in worker threads: their allocator is set before any starts.
THREADED = frozenset({"sync", "demo", "watch", "verify"})


def _test_server(argv: list[str]) -> int:
    from ..testserver.cli import build_parser as build_server_parser
    from ..testserver.cli import run as run_server

    server_parser = build_server_parser(Parser(prog="async-uploader test-server"))
    try:
        server_args = server_parser.parse_args(argv)
    except UsageError as exc:
        print(f"async-uploader: usage error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        return run_server(server_args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "test-server":
        return _test_server(argv[1:])
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
    if args.command in THREADED:
        share_arenas()
    return RUNNERS[args.command](args)
