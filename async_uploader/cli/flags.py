"""The command line's grammar: every command and flag, their help made from the settings table.

Parsing only: what a command does is in ``commands``. A usage error is one line and exit 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import DEFAULT_CONCURRENCY, MAX_CONCURRENCY, SETTING, SETTINGS

COMMANDS = ("sync", "watch", "check", "verify", "status", "export", "test-server", "demo")


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
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
    p.add_argument("--since", metavar="WHEN", help=_about("IMMICH_SINCE"))
    p.add_argument("--until", metavar="WHEN", help=_about("IMMICH_UNTIL"))
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
    _add_album_flags(p)
    p.add_argument(
        "--no-sidecar",
        dest="sidecar",
        action="store_false",
        default=None,
        help=_about("IMMICH_SIDECAR", "send no generated XMP sidecar"),
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar or lines")
    _add_output_flags(p)


def _add_album_flags(p: argparse.ArgumentParser) -> None:
    """Where uploads go in Immich: their albums, their visibility, their tags."""
    p.add_argument(
        "--folder-albums",
        metavar="MODE",
        choices=("off", "folder", "path"),
        help=_about("IMMICH_FOLDER_ALBUMS"),
    )
    p.add_argument(
        "--visibility",
        metavar="V",
        choices=("timeline", "archive", "hidden", "locked"),  # locked: refused with its reason
        help=_about("IMMICH_VISIBILITY"),
    )
    p.add_argument(
        "--tag",
        dest="tags",
        action="append",
        metavar="NAME",
        help=_about("IMMICH_TAGS", "tag every asset the run uploads or finds (repeatable)"),
    )
    p.add_argument(
        "--session-tag",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=_about("IMMICH_SESSION_TAG"),
    )


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
130/143 interrupted.
Documentation: docs/ beside the README of the source (docs/configuration.md: every setting)."""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="async-uploader",
        description="Upload every new file of a folder to an Immich album, once, concurrently. "
        "Without a command: sync.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"async-uploader {__version__}")
    sub = parser.add_subparsers(
        dest="command", parser_class=Parser, title="commands", metavar="COMMAND"
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
        "nothing is new it ends without contacting the server. With IMMICH_PING_URL (in .env;\n"
        "never a flag) a health check is pinged at the start and with the outcome.",
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
        "changing. Ctrl-C (or SIGTERM) stops after the uploads in flight. With IMMICH_PING_URL\n"
        "a health check is pinged after each pass, and every 15 minutes while idle.",
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
    _add_recursive(check)  # with folder albums a setting of its own needs it
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
    _add_recursive(verify)
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


def flags_of(args: argparse.Namespace) -> dict[str, Any]:
    """The settings a command's flags give: every setting's flag (from the settings table; a
    command without that flag gives None for it), the .env file, and --dry-run."""
    flags = {s.option: getattr(args, s.option, None) for s in SETTINGS if s.option}
    flags["env_file"] = getattr(args, "env_file", None)
    flags["dry_run"] = bool(getattr(args, "dry_run", False))
    return flags
