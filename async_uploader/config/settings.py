"""The one table of settings: each variable, its flag, its default, how its text is read, and what
the docs say of it. ``load`` reads every setting through it; the CLI's help is made from it, and
docs/configuration.md and ``.env.example`` are checked against it (tests/unit/test_config_settings.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .values import (
    parse_bool,
    parse_concurrency,
    parse_folder_albums,
    parse_globs,
    parse_mode,
    parse_number,
    parse_ping_url,
    parse_rate,
    parse_size,
    parse_tag,
    parse_tags,
    parse_visibility,
)
from .when import parse_since, parse_until

HISTORY_NAME = "immich_upload_history.sqlite"
LOG_NAME = "immich_backup.log"
DEFAULT_CONCURRENCY = "auto"  # tuned while uploading (phases/tuning.py); a number fixes it
MAX_CONCURRENCY = 64

Reader = Callable[[str, str], Any]  # (text, the name to blame) -> the value


@dataclass(frozen=True)
class Setting:
    """One setting. ``field`` is the ``Config`` field a plain setting sets (through ``read``,
    from the flag ``option`` if given, else the variable); the few read apart (the folder, the
    key, the URLs, the album, the history and the log) have none."""

    env: str
    flag: str  # as docs/configuration.md's table shows it ("" for none)
    default: Any  # None: no default (required, or unset)
    shown: str  # the default as docs/configuration.md's table shows it
    help: str
    low: float | None = None  # a number's range
    high: float | None = None
    field: str = ""
    option: str = ""  # the flag's name in the parsed arguments
    read: Reader | None = None
    item: Reader | None = None  # a repeatable flag's: how each of its values is read


def number(low: float, high: float) -> Reader:
    return lambda text, name: parse_number(text, name, low, high)


def whole(low: int, high: int) -> Reader:
    return lambda text, name: int(parse_number(text, name, low, high, integer=True))


def concurrency(text: str, name: str) -> int | None:
    return parse_concurrency(text, name, MAX_CONCURRENCY)


# One row a line, so the table reads as one (the formatter would fold each row over several).
# fmt: off
SETTINGS: tuple[Setting, ...] = (
    Setting("SCREENSHOTS_PATH", "`--folder`", None, "required", "the folder to upload", option="folder"),
    Setting("IMMICH_API_KEY", "(never a flag)", None, "required", "the Immich API key"),
    Setting("IMMICH_LOCAL_URL", "`--local-url`", None, "", "the server's LAN address, tried first", option="local_url"),
    Setting("IMMICH_EXTERNAL_URL", "`--external-url`", None, "", "the server's public address", option="external_url"),
    Setting("IMMICH_ALBUM_NAME", "`--album`", None, "required", "the album every file goes to (with folder albums: every file at the folder's top level)", option="album"),
    Setting("IMMICH_FOLDER_ALBUMS", "`--folder-albums MODE`", "off", "off", "an album per subfolder (needs `IMMICH_RECURSIVE`): `folder` (named after the file's folder), `path` (its path under the folder, parts joined by ` / `) or `off`", field="folder_albums", option="folder_albums", read=parse_folder_albums),
    Setting("IMMICH_VISIBILITY", "`--visibility V`", "timeline", "timeline", "where uploads show in Immich: `timeline`, `archive` (out of the timeline, in the archive) or `hidden`; assets the server already had are never changed", field="visibility", option="visibility", read=parse_visibility),
    Setting("IMMICH_TAGS", "`--tag NAME`", (), "none", "tags for every asset the run uploads or finds on the server, comma-separated (`/` nests: `Screens/Work`)", field="tags", option="tags", read=parse_tags, item=parse_tag),
    Setting("IMMICH_SESSION_TAG", "`--session-tag`", False, "off", "also tag them `async-uploader/<the run's start, local time>`, so one run's files can be found (and undone) together", field="session_tag", option="session_tag", read=parse_bool),
    Setting("IMMICH_HISTORY_FILE", "`--history`", HISTORY_NAME, f"`{HISTORY_NAME}` beside `.env`", "the history (an SQLite database; a `.json` name means the `.sqlite` beside it)", option="history"),
    Setting("IMMICH_LOG_FILE", "`--log-file`", LOG_NAME, f"`{LOG_NAME}` beside `.env`", "the log file", option="log_file"),
    Setting("IMMICH_CONCURRENCY", "`--concurrency`", DEFAULT_CONCURRENCY, "auto", "uploads at once: `auto` (tuned while uploading) or a number", 1, MAX_CONCURRENCY, "concurrency", "concurrency", concurrency),
    Setting("IMMICH_LOCAL_TIMEOUT", "", 1.5, "1.5", "seconds the local URL has to answer the health check", 0.05, 120, "local_timeout", read=number(0.05, 120)),
    Setting("IMMICH_EXTERNAL_TIMEOUT", "", 5.0, "5", "seconds the external URL has to answer it", 0.05, 300, "external_timeout", read=number(0.05, 300)),
    Setting("IMMICH_RECURSIVE", "`--recursive`", False, "off", "also upload files in subfolders", field="recursive", option="recursive", read=parse_bool),
    Setting("IMMICH_SETTLE_SECONDS", "", 3.0, "3", "leave files modified this recently for the next run", 0, 3600, "settle_seconds", read=number(0, 3600)),
    Setting("IMMICH_STALL_TIMEOUT", "", 60.0, "60", "abort and retry an upload without progress this long", 1, 3600, "stall_timeout", read=number(1, 3600)),
    Setting("IMMICH_RETRIES", "", 5, "5", "retries per request after a network or server error", 0, 100, "retries", read=whole(0, 100)),
    Setting("IMMICH_RETRY_MAX_WAIT", "", 30.0, "30", "the longest wait between two attempts, in seconds", 0, 3600, "retry_max_wait", read=number(0, 3600)),
    Setting("IMMICH_REQUEST_TIMEOUT", "", 30.0, "30", "seconds one API call (not an upload) may take in all", 1, 3600, "request_timeout", read=number(1, 3600)),
    Setting("IMMICH_FOLLOW_SYMLINKS", "`--follow-symlinks`", False, "off", "upload what symlinks in the folder point to", field="follow_symlinks", option="follow_symlinks", read=parse_bool),
    Setting("IMMICH_DEVICE_ID", "", None, "`async-uploader-<hostname>`", "the deviceId sent to Immich 2.x"),
    Setting("IMMICH_INCLUDE", "`--include GLOB`", (), "all", "only files matching these globs, comma-separated", field="include", option="include", read=parse_globs),
    Setting("IMMICH_EXCLUDE", "`--exclude GLOB`", (), "none", "leave files and folders matching these globs", field="exclude", option="exclude", read=parse_globs),
    Setting("IMMICH_SINCE", "`--since WHEN`", None, "none", "only files captured from then on: a date (`2024-05-01`), a date and time (`2024-05-01T18:30`) or an age (`30d`, `12h`, `2w`); the others wait for a run whose window holds them", field="since", option="since", read=parse_since),
    Setting("IMMICH_UNTIL", "`--until WHEN`", None, "none", "only files captured until then (a date: to the end of that day; an age: files at least that old)", field="until", option="until", read=parse_until),
    Setting("IMMICH_SIDECAR", "`--no-sidecar`", True, "on", "send an XMP sidecar with the local capture time", field="sidecar", option="sidecar", read=parse_bool),
    Setting("IMMICH_MAX_RATE", "`--max-rate RATE`", 0.0, "none", "cap the upload bytes per second of all streams together (`2MB`, `500kB`, `20Mbit`)", field="max_rate", option="max_rate", read=parse_rate),
    Setting("IMMICH_PAUSE_JOBS", "`--pause-jobs`", "auto", "auto", "pause the server's metadata, thumbnail and machine-learning jobs while uploading: `auto` (a run of 100 files or more, when a key may), `on` (any run), `off`", field="pause_jobs", option="pause_jobs", read=parse_mode),
    Setting("IMMICH_ADMIN_API_KEY", "(never a flag)", None, "none", "an admin's API key, for the server's job queues only (everything else uses `IMMICH_API_KEY`)"),
    Setting("IMMICH_PING_URL", "(never a flag)", None, "none", "a health-check URL (healthchecks.io or compatible) pinged by `sync` and `watch`: `/start`, then the URL itself on success or `/<exit code>`, with the summary", field="ping_url", read=parse_ping_url),
    Setting("IMMICH_EXTERNAL_MAX_UPLOAD", "", None, "learnt from a 413", "the external URL's body limit (`100MB`): bigger files wait for the local URL", field="external_max_upload", read=parse_size),
)
# fmt: on
SETTING: dict[str, Setting] = {s.env: s for s in SETTINGS}
