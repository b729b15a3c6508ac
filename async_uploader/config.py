"""Configuration: built-in defaults < ``.env`` file < environment < command-line flags.

Owns reading and checking every setting; knows nothing of HTTP or of the run. The ``.env`` file is
read with ``dotenv_values`` and never exported into ``os.environ``. The API key comes only from the
environment or ``.env`` (flags show in ``ps`` and shell history) and is wrapped in ``Secret`` so that
no repr, log line or traceback can show it.
"""

from __future__ import annotations

import difflib
import os
import re
import socket
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotenv import dotenv_values

from .errors import ConfigError
from .store.legacy import database_path

HISTORY_NAME = "immich_upload_history.sqlite"
LOG_NAME = "immich_backup.log"
DEFAULT_CONCURRENCY = "auto"  # tuned while uploading (phases/tuning.py); a number fixes it
MAX_CONCURRENCY = 64


class Secret:
    """A value that never prints itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def scrub(self, text: str) -> str:
        """``text`` without the key: see ``redact``."""
        return redact(text, [self._value])

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def redact(text: str, secrets: list[str]) -> str:
    """``text`` with every secret, and any run of characters that starts like one (its first 8
    characters, then anything of a key's alphabet: a truncated echo), replaced by ``***``."""
    for secret in secrets:
        if not secret:
            continue
        if secret in text:
            text = text.replace(secret, "***")
        head = secret[:8]
        if head in text:
            text = re.sub(re.escape(head) + r"[A-Za-z0-9_\-+/=.~]*", "***", text)
    return text


@dataclass(frozen=True)
class Setting:
    """One setting: its variable, its flag, its default and what the docs say of them. The one
    table of them (``SETTINGS``) is where every default lives: ``Config`` and ``load_config``
    read it, and tests/test_architecture.py checks .env.example and the README against it."""

    env: str
    flag: str  # as the README's table shows it ("" for none)
    default: Any  # None: no default (required, or unset)
    shown: str  # the default as the README's table shows it
    help: str
    low: float | None = None  # a number's range
    high: float | None = None


# One row a line, so the table reads as one (the formatter would fold each row over several).
# fmt: off
SETTINGS: tuple[Setting, ...] = (
    Setting("SCREENSHOTS_PATH", "`--folder`", None, "required", "the folder to upload"),
    Setting("IMMICH_API_KEY", "(never a flag)", None, "required", "the Immich API key"),
    Setting("IMMICH_LOCAL_URL", "`--local-url`", None, "", "the server's LAN address, tried first"),
    Setting("IMMICH_EXTERNAL_URL", "`--external-url`", None, "", "the server's public address"),
    Setting("IMMICH_ALBUM_NAME", "`--album`", None, "required", "the album every file goes to"),
    Setting("IMMICH_HISTORY_FILE", "`--history`", HISTORY_NAME, f"`{HISTORY_NAME}` beside `.env`", "the history (an SQLite database; a `.json` name means the `.sqlite` beside it)"),
    Setting("IMMICH_LOG_FILE", "`--log-file`", LOG_NAME, f"`{LOG_NAME}` beside `.env`", "the log file"),
    Setting("IMMICH_CONCURRENCY", "`--concurrency`", DEFAULT_CONCURRENCY, "auto", "uploads at once: `auto` (tuned while uploading) or a number", 1, MAX_CONCURRENCY),
    Setting("IMMICH_LOCAL_TIMEOUT", "", 1.5, "1.5", "seconds the local URL has to answer the health check", 0.05, 120),
    Setting("IMMICH_EXTERNAL_TIMEOUT", "", 5.0, "5", "seconds the external URL has to answer it", 0.05, 300),
    Setting("IMMICH_RECURSIVE", "`--recursive`", False, "off", "also upload files in subfolders"),
    Setting("IMMICH_SETTLE_SECONDS", "", 3.0, "3", "leave files modified this recently for the next run", 0, 3600),
    Setting("IMMICH_STALL_TIMEOUT", "", 60.0, "60", "abort and retry an upload without progress this long", 1, 3600),
    Setting("IMMICH_RETRIES", "", 5, "5", "retries per request after a network or server error", 0, 100),
    Setting("IMMICH_RETRY_MAX_WAIT", "", 30.0, "30", "the longest wait between two attempts, in seconds", 0, 3600),
    Setting("IMMICH_REQUEST_TIMEOUT", "", 30.0, "30", "seconds one API call (not an upload) may take in all", 1, 3600),
    Setting("IMMICH_FOLLOW_SYMLINKS", "`--follow-symlinks`", False, "off", "upload what symlinks in the folder point to"),
    Setting("IMMICH_DEVICE_ID", "", None, "`async-uploader-<hostname>`", "the deviceId sent to Immich 2.x"),
    Setting("IMMICH_INCLUDE", "`--include GLOB`", (), "all", "only files matching these globs, comma-separated"),
    Setting("IMMICH_EXCLUDE", "`--exclude GLOB`", (), "none", "leave files and folders matching these globs"),
    Setting("IMMICH_SIDECAR", "`--no-sidecar`", True, "on", "send an XMP sidecar with the local capture time"),
    Setting("IMMICH_MAX_RATE", "`--max-rate RATE`", 0.0, "none", "cap the upload bytes per second of all streams together (`2MB`, `500kB`, `20Mbit`)"),
    Setting("IMMICH_PAUSE_JOBS", "`--pause-jobs`", False, "off", "pause the server's metadata, thumbnail and machine-learning jobs while uploading (an admin's key)"),
    Setting("IMMICH_EXTERNAL_MAX_UPLOAD", "", None, "learnt from a 413", "the external URL's body limit (`100MB`): bigger files wait for the local URL"),
)
# fmt: on
SETTING: dict[str, Setting] = {s.env: s for s in SETTINGS}
VARIABLES: dict[str, str] = {s.env: s.help for s in SETTINGS}


def default_device_id() -> str:
    return f"async-uploader-{socket.gethostname()}"


def _d(env: str) -> Any:
    return SETTING[env].default


@dataclass(frozen=True)
class Config:
    folder: Path
    api_key: Secret
    local_url: str | None
    external_url: str | None
    album: str
    history_file: Path
    log_file: Path
    concurrency: int | None = None  # uploads at once; None: auto (IMMICH_CONCURRENCY=auto)
    local_timeout: float = _d("IMMICH_LOCAL_TIMEOUT")
    external_timeout: float = _d("IMMICH_EXTERNAL_TIMEOUT")
    recursive: bool = _d("IMMICH_RECURSIVE")
    env_file: Path | None = None
    settle_seconds: float = _d("IMMICH_SETTLE_SECONDS")  # newer files: left for the next run
    stall_timeout: float = _d("IMMICH_STALL_TIMEOUT")  # no progress this long: abort, retry
    retries: int = _d("IMMICH_RETRIES")  # attempts per request after the first
    retry_max_wait: float = _d("IMMICH_RETRY_MAX_WAIT")  # the longest backoff
    request_timeout: float = _d("IMMICH_REQUEST_TIMEOUT")  # one JSON call, answer included
    follow_symlinks: bool = _d("IMMICH_FOLLOW_SYMLINKS")  # upload what links point to
    device_id: str = field(default_factory=default_device_id)
    sidecar: bool = _d("IMMICH_SIDECAR")  # an XMP sidecar with the capture time and offset
    include: tuple[str, ...] = ()  # globs; when given, only matching files are sent
    exclude: tuple[str, ...] = ()  # globs of files and folders to leave alone
    max_rate: float = _d("IMMICH_MAX_RATE")  # upload bytes per second in all; 0: no cap
    pause_jobs: bool = _d("IMMICH_PAUSE_JOBS")  # the server's heavy queues, while uploading
    # The external URL's body limit in bytes; None: learnt from a 413 there (phases/held.py)
    external_max_upload: int | None = _d("IMMICH_EXTERNAL_MAX_UPLOAD")
    dry_run: bool = False
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def urls(self) -> list[tuple[str, str, float]]:
        """(role, base URL, health-check timeout) for each configured URL, local first."""
        out = []
        if self.local_url:
            out.append(("local", self.local_url, self.local_timeout))
        if self.external_url:
            out.append(("external", self.external_url, self.external_timeout))
        return out


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def normalize_url(value: str, name: str) -> str:
    """A base URL without a trailing slash or ``/api``; the client adds ``/api`` itself."""
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{name} must be an http:// or https:// URL, not {value!r}")
    if parts.query or parts.fragment:
        raise ConfigError(f"{name} must not have a query or fragment: {value!r}")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ConfigError(f"{name} has an invalid port: {value!r}") from None
    path = parts.path.rstrip("/")
    if path.endswith("/api"):
        path = path[: -len("/api")]
    return f"{parts.scheme}://{parts.netloc}{path}"


def _bool(value: str, name: str) -> bool:
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, not {value!r}")


def _number(value: str, name: str, low: float, high: float, integer: bool = False) -> float:
    try:
        number = int(value) if integer else float(value)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise ConfigError(
            f"{name} must be {kind} from {low:g} to {high:g}, not {value!r}"
        ) from None
    if not low <= number <= high:
        raise ConfigError(f"{name} must be from {low:g} to {high:g}, not {value}")
    return number


_RATE = re.compile(r"(\d+(?:\.\d+)?)\s*(?:([kmg])(i)?)?(b|bit|bits|bps)?(?:/s)?", re.IGNORECASE)
_SCALE = {None: 1, "k": 1e3, "m": 1e6, "g": 1e9}
MIN_RATE = 1_000  # bytes per second: below this an upload of a screenshot takes minutes
MIN_BODY_LIMIT = 64_000  # no proxy limits bodies to less (nginx's default is 1 MB)


def _amount(value: str, name: str, example: str) -> tuple[str, float, str | None]:
    """A number with an optional SI or binary prefix (k, M, G, Ki, Mi, Gi): (the number as
    written, its scale, the unit after the prefix)."""
    match = _RATE.fullmatch(value.strip())
    if match is None:
        raise ConfigError(f"{name} must be {example} (or off), not {value.strip()!r}")
    number, prefix, binary, unit = match.groups()
    scale = _SCALE[prefix.lower() if prefix else None]
    if binary:
        scale = 1024 ** {"k": 1, "m": 2, "g": 3}[prefix.lower()]
    if unit == "b" and prefix:  # "Mb" reads as megabits to many: say which it is
        raise ConfigError(
            f"{name} {value.strip()!r} is ambiguous: write {number}{prefix}B for bytes or "
            f"{number}{prefix}bit for bits"
        )
    return number, scale, unit


def parse_rate(value: str, name: str) -> float:
    """Bytes per second from ``2MB``, ``500kB``, ``1.5MiB``, ``20Mbit`` or ``750000`` (bytes);
    ``0``, ``off`` or ``none``: no cap (0)."""
    if value.strip().lower() in ("", "0", "off", "none"):
        return 0.0
    example = "a rate in bytes per second such as 2MB, 500kB, 20Mbit or 750000"
    number, scale, unit = _amount(value, name, example)
    if unit and unit.lower() in ("bit", "bits", "bps"):
        scale /= 8
    rate = float(number) * scale
    if rate < MIN_RATE:
        raise ConfigError(
            f"{name} must be at least {MIN_RATE // 1000} kB per second, not {value.strip()!r}"
        )
    return rate


def parse_size(value: str, name: str) -> int | None:
    """Bytes from ``100MB``, ``1GiB``, ``512kB`` or ``1000000``; ``0``, ``off`` or ``none``:
    not set (None)."""
    if value.strip().lower() in ("", "0", "off", "none"):
        return None
    number, scale, unit = _amount(value, name, "a size such as 100MB, 1GiB or 1000000")
    if (unit and unit.lower() in ("bit", "bits", "bps")) or value.strip().lower().endswith("/s"):
        raise ConfigError(f"{name} is a size in bytes (such as 100MB), not {value.strip()!r}")
    size = int(float(number) * scale)
    if size < MIN_BODY_LIMIT:
        raise ConfigError(
            f"{name} must be at least {MIN_BODY_LIMIT // 1000} kB, not {value.strip()!r}"
        )
    return size


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _one_line(value: str, name: str, where: str) -> str:
    """A value with a newline or another control character is a mistake (a key pasted over two
    lines, say), never something to send: exit 2, naming the variable but never its value."""
    if _CONTROL.search(value):
        raise ConfigError(
            f"{name} (in {where}) contains a newline or another control character; "
            "put the value on one line"
        )
    return value


def unknown_names(
    file_values: Mapping[str, str], environ: Mapping[str, str], env_file: Path | None
) -> list[str]:
    """A warning for each name that looks like one of ours and is not: every IMMICH_/SCREENSHOTS
    name in .env that no setting has, and one in the environment when it is close to a setting's
    (other tools use IMMICH_ names there too: the official CLI's IMMICH_INSTANCE_URL, say)."""
    known = list(SETTING)
    out = []
    for where, names, always in (
        (str(env_file), file_values, True),
        ("the environment", environ, False),
    ):
        for name in names:
            if not name.startswith(("IMMICH_", "SCREENSHOT")) or name in SETTING:
                continue
            close = _closest(name, known)
            if close:
                out.append(
                    f"{name} (in {where}) is not a setting; did you mean {close[0]}? It is ignored"
                )
            elif always:
                out.append(f"{name} (in {where}) is not a setting of async-uploader; it is ignored")
    return out


def _closest(name: str, known: list[str]) -> list[str]:
    """The setting a name is a typo of, judged without the prefix they all share."""
    stem = name.removeprefix("IMMICH_")
    stems = {k.removeprefix("IMMICH_"): k for k in known}
    return [stems[m] for m in difflib.get_close_matches(stem, list(stems), n=1, cutoff=0.75)]


def find_env_file(explicit: Path | None, cwd: Path) -> Path | None:
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"--env-file {explicit}: no such file")
        return explicit
    candidate = cwd / ".env"
    return candidate if candidate.is_file() else None


def _env_file_warnings(path: Path) -> list[str]:
    try:
        mode = path.stat().st_mode
    except OSError:
        return []
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        return [f"{path} is readable by other users and holds your API key; run: chmod 600 {path}"]
    return []


class Sources:
    """The flags, the environment and the ``.env`` file, in that order of precedence."""

    def __init__(
        self,
        flags: Mapping[str, Any],
        environ: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.flags = flags
        self.environ = os.environ if environ is None else environ
        self.cwd = cwd or Path.cwd()
        self.env_file = find_env_file(flags.get("env_file"), self.cwd)
        self.file_values: dict[str, str] = {}
        self.warnings: list[str] = []
        if self.env_file is not None:
            try:
                raw = dotenv_values(self.env_file)
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"cannot read {self.env_file}: {exc}") from None
            self.file_values = {k: v for k, v in raw.items() if v is not None}
            self.warnings += _env_file_warnings(self.env_file)
        # Relative paths in .env are relative to its folder; history and log live beside it.
        self.base_dir = self.env_file.parent.resolve() if self.env_file else self.cwd
        self.warnings += unknown_names(self.file_values, self.environ, self.env_file)

    def read_from(self, *names: str) -> str:
        """For an error about a missing setting: a name that looks like it mistyped, and which
        .env was read (run from another folder, there is none, and that is most often why)."""
        typos = [
            w.split(" is not a setting")[0]
            for w in self.warnings
            if any(f"mean {name}?" in w for name in names)
        ]
        typo = f"{typos[0]} looks like it, mistyped; " if typos else ""
        if self.env_file is not None:
            return f"{typo}read {self.env_file}"
        return (
            f"{typo}no .env found in {self.cwd} (run from the folder of your .env, or --env-file)"
        )

    def get(self, name: str) -> tuple[str | None, Path]:
        """The value of a variable and the folder its relative paths are relative to."""
        if name in self.environ:
            return _one_line(self.environ[name], name, "the environment"), self.cwd
        if name in self.file_values:
            return _one_line(self.file_values[name], name, str(self.env_file)), self.base_dir
        return None, self.cwd

    def path_of(self, flag: str, name: str, default: Path | None) -> Path | None:
        if self.flags.get(flag) is not None:
            return (self.cwd / Path(self.flags[flag]).expanduser()).resolve()
        value, rel = self.get(name)
        if value:
            return (rel / Path(value).expanduser()).resolve()
        return default

    def history_file(self) -> Path:
        """The history's database. A ``.json`` name (what an older version wrote) means the
        database beside it, ``<name>.sqlite``, which takes that JSON over on its first run."""
        default = self.base_dir / HISTORY_NAME
        return database_path(self.path_of("history", "IMMICH_HISTORY_FILE", default) or default)

    def log_file(self) -> Path:
        default = self.base_dir / LOG_NAME
        return self.path_of("log_file", "IMMICH_LOG_FILE", default) or default


def load_config(
    flags: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Config:
    """Merge the sources and check every value; raises ConfigError naming what is wrong."""
    src = Sources(flags, environ, cwd)
    get, path_of = src.get, src.path_of
    warnings = list(src.warnings)
    env_file, cwd = src.env_file, src.cwd

    folder = path_of("folder", "SCREENSHOTS_PATH", None)
    if folder is None:
        raise ConfigError(
            f"SCREENSHOTS_PATH is not set (in .env, the environment, or --folder); {src.read_from('SCREENSHOTS_PATH')}"
        )
    if not folder.exists():
        raise ConfigError(f"SCREENSHOTS_PATH: folder {folder} does not exist")
    if not folder.is_dir():
        raise ConfigError(f"SCREENSHOTS_PATH: {folder} is not a folder")
    if not os.access(folder, os.R_OK | os.X_OK):
        raise ConfigError(f"SCREENSHOTS_PATH: folder {folder} is not readable")

    key, _ = get("IMMICH_API_KEY")
    if not key or not key.strip():
        raise ConfigError(
            "IMMICH_API_KEY is not set (in .env or the environment; it is never taken from a "
            f"flag); {src.read_from('IMMICH_API_KEY')}"
        )

    urls: dict[str, str | None] = {}
    for flag, name in (("local_url", "IMMICH_LOCAL_URL"), ("external_url", "IMMICH_EXTERNAL_URL")):
        value = flags.get(flag)
        if value is None:
            value, _ = get(name)
        label = f"--{flag.replace('_', '-')}" if flags.get(flag) is not None else name
        urls[flag] = normalize_url(value, label) if value and value.strip() else None
    if not urls["local_url"] and not urls["external_url"]:
        raise ConfigError(
            "IMMICH_LOCAL_URL and IMMICH_EXTERNAL_URL are both empty; set at least one; "
            + src.read_from("IMMICH_LOCAL_URL", "IMMICH_EXTERNAL_URL")
        )
    external = urls["external_url"]
    loopback = ("localhost", "127.0.0.1", "::1")
    if external and external.startswith("http://") and urlsplit(external).hostname not in loopback:
        warnings.append(
            f"IMMICH_EXTERNAL_URL {external} is plain http://: your API key crosses the internet "
            "unencrypted; use https://"
        )

    album = flags.get("album")
    if album is None:
        album, _ = get("IMMICH_ALBUM_NAME")
    if not album or not album.strip():
        raise ConfigError(
            f"IMMICH_ALBUM_NAME is not set (in .env, the environment, or --album); {src.read_from('IMMICH_ALBUM_NAME')}"
        )

    def num(flag: str | None, name: str, integer: bool = False) -> float:
        setting = SETTING[name]
        assert setting.low is not None and setting.high is not None
        low, high = setting.low, setting.high
        if flag and flags.get(flag) is not None:
            return _number(str(flags[flag]), f"--{flag}", low, high, integer)
        value, _ = get(name)
        if value is None or value.strip() == "":
            return float(setting.default)
        return _number(value.strip(), name, low, high, integer)

    def concurrency() -> int | None:
        flag = flags.get("concurrency")
        value, _ = (str(flag), None) if flag is not None else get("IMMICH_CONCURRENCY")
        name = "--concurrency" if flag is not None else "IMMICH_CONCURRENCY"
        text = (value or "").strip()
        if text.lower() in ("", "auto"):
            return None
        if text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_CONCURRENCY:
            return int(text)
        raise ConfigError(
            f"{name} must be auto or a whole number from 1 to {MAX_CONCURRENCY}, not {text!r}"
        )

    recursive = flags.get("recursive")
    if recursive is None:
        value, _ = get("IMMICH_RECURSIVE")
        recursive = (
            _bool(value, "IMMICH_RECURSIVE") if value is not None else _d("IMMICH_RECURSIVE")
        )

    def globs(flag: str, name: str) -> tuple[str, ...]:
        if flags.get(flag):
            return tuple(flags[flag])
        value, _ = get(name)
        return tuple(g.strip() for g in (value or "").split(",") if g.strip())

    sidecar = flags.get("sidecar")
    if sidecar is None:
        value, _ = get("IMMICH_SIDECAR")
        sidecar = _bool(value, "IMMICH_SIDECAR") if value is not None else _d("IMMICH_SIDECAR")

    follow = flags.get("follow_symlinks")
    if follow is None:
        value, _ = get("IMMICH_FOLLOW_SYMLINKS")
        follow = (
            _bool(value, "IMMICH_FOLLOW_SYMLINKS")
            if value is not None
            else _d("IMMICH_FOLLOW_SYMLINKS")
        )

    def max_rate() -> float:
        if flags.get("max_rate") is not None:
            return parse_rate(str(flags["max_rate"]), "--max-rate")
        value, _ = get("IMMICH_MAX_RATE")
        return parse_rate(value or "", "IMMICH_MAX_RATE")

    pause_jobs = flags.get("pause_jobs")
    if pause_jobs is None:
        value, _ = get("IMMICH_PAUSE_JOBS")
        pause_jobs = _bool(value, "IMMICH_PAUSE_JOBS") if value is not None else False
    external_max_upload, _ = get("IMMICH_EXTERNAL_MAX_UPLOAD")
    device_id, _ = get("IMMICH_DEVICE_ID")
    return Config(
        folder=folder,
        api_key=Secret(key.strip()),
        local_url=urls["local_url"],
        external_url=urls["external_url"],
        album=album.strip(),
        history_file=src.history_file(),
        log_file=src.log_file(),
        concurrency=concurrency(),
        local_timeout=num(None, "IMMICH_LOCAL_TIMEOUT"),
        external_timeout=num(None, "IMMICH_EXTERNAL_TIMEOUT"),
        recursive=bool(recursive),
        env_file=env_file,
        settle_seconds=num(None, "IMMICH_SETTLE_SECONDS"),
        stall_timeout=num(None, "IMMICH_STALL_TIMEOUT"),
        retries=int(num(None, "IMMICH_RETRIES", integer=True)),
        retry_max_wait=num(None, "IMMICH_RETRY_MAX_WAIT"),
        request_timeout=num(None, "IMMICH_REQUEST_TIMEOUT"),
        follow_symlinks=bool(follow),
        device_id=(device_id or "").strip() or default_device_id(),
        sidecar=bool(sidecar),
        include=globs("include", "IMMICH_INCLUDE"),
        exclude=globs("exclude", "IMMICH_EXCLUDE"),
        max_rate=max_rate(),
        pause_jobs=bool(pause_jobs),
        external_max_upload=parse_size(external_max_upload or "", "IMMICH_EXTERNAL_MAX_UPLOAD"),
        dry_run=bool(flags.get("dry_run", False)),
        warnings=tuple(warnings),
    )
