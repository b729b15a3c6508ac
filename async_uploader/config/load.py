"""The configuration of a run: ``Config``, and ``load_config``, which merges the sources and
checks every value before anything else happens (a wrong one is one line and exit 2).

Built-in defaults < ``.env`` < environment < flags. Knows nothing of HTTP or of the run. The API
key comes only from the environment or ``.env`` (flags show in ``ps`` and shell history).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError
from .secret import Secret
from .settings import SETTING, SETTINGS, Setting
from .sources import Sources
from .values import normalize_url


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
    folder_albums: str = _d("IMMICH_FOLDER_ALBUMS")  # off, folder or path
    visibility: str = _d("IMMICH_VISIBILITY")  # timeline, archive or hidden, for uploads
    tags: tuple[str, ...] = ()  # tag values ("a/b" nests)
    session_tag: bool = _d("IMMICH_SESSION_TAG")  # and async-uploader/<start> as well
    since: datetime | None = None  # the date window: capture times since <= t < until
    until: datetime | None = None
    ping_url: str | None = None  # a health check to ping (never logged: it lets anyone ping)
    pause_jobs: str = _d("IMMICH_PAUSE_JOBS")  # the server's heavy queues: auto, on or off
    admin_key: Secret | None = None  # an admin's key, for the queues alone
    # The external URL's body limit in bytes; None: learnt from a 413 there (phases/held.py)
    external_max_upload: int | None = _d("IMMICH_EXTERNAL_MAX_UPLOAD")
    dry_run: bool = False
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def secrets(self) -> list[str]:
        """The keys, for the filters that keep them out of every line and file."""
        keys = [key.reveal() for key in (self.api_key, self.admin_key) if key is not None]
        return keys + ([self.ping_url] if self.ping_url else [])

    @property
    def urls(self) -> list[tuple[str, str, float]]:
        """(role, base URL, health-check timeout) for each configured URL, local first."""
        out = []
        if self.local_url:
            out.append(("local", self.local_url, self.local_timeout))
        if self.external_url:
            out.append(("external", self.external_url, self.external_timeout))
        return out


def _plain(src: Sources, setting: Setting) -> Any:
    """A plain setting's value: a flag's own (argparse made it a bool or a list already), else
    its text read by the setting's reader; the default when neither says anything."""
    assert setting.read is not None
    flag = src.flag(setting)
    if isinstance(flag, bool):  # --x / --no-x: on or off where the setting has modes
        return flag if isinstance(setting.default, bool) else ("on" if flag else "off")
    if isinstance(flag, list):
        if setting.item is None:
            return tuple(flag)
        name = "--" + setting.option.replace("_", "-")
        return tuple(dict.fromkeys(setting.item(str(v), name) for v in flag))
    text, name = src.text(setting)
    if text is None:  # the default: a value, or a text as one would write it ("auto")
        default = setting.default
        return setting.read(default, setting.env) if isinstance(default, str) else default
    numeric = isinstance(setting.default, int | float) and not isinstance(setting.default, bool)
    if numeric and not text.strip():
        return setting.default
    return setting.read(text, name)


SESSION_TAG = "async-uploader"  # the parent of every run's own tag


def session_tag(now: datetime | None = None) -> str:
    """This run's own tag: ``async-uploader/<its start, local time>`` (a watch's: its start)."""
    return f"{SESSION_TAG}/{(now or datetime.now()).strftime('%Y-%m-%d %H.%M')}"


def _together(plain: dict[str, Any]) -> None:
    """What the settings say together: folder albums need the subfolders read; a window must
    hold some time."""
    if plain["folder_albums"] != "off" and not plain["recursive"]:
        raise ConfigError(
            f"IMMICH_FOLDER_ALBUMS={plain['folder_albums']} needs IMMICH_RECURSIVE=true "
            "(or --recursive): without it no subfolder is read"
        )
    since, until = plain["since"], plain["until"]
    if since is not None and until is not None and since >= until:
        raise ConfigError(
            "IMMICH_SINCE is not before IMMICH_UNTIL: the date window holds no time at all"
        )


def _folder(src: Sources) -> Path:
    folder = src.path_of("folder", "SCREENSHOTS_PATH", None)
    if folder is None:
        raise ConfigError(
            "SCREENSHOTS_PATH is not set (in .env, the environment, or --folder); "
            + src.read_from("SCREENSHOTS_PATH")
        )
    if not folder.exists():
        raise ConfigError(f"SCREENSHOTS_PATH: folder {folder} does not exist")
    if not folder.is_dir():
        raise ConfigError(f"SCREENSHOTS_PATH: {folder} is not a folder")
    if not os.access(folder, os.R_OK | os.X_OK):
        raise ConfigError(f"SCREENSHOTS_PATH: folder {folder} is not readable")
    return folder


def _urls(src: Sources, warnings: list[str]) -> tuple[str | None, str | None]:
    urls: list[str | None] = []
    for env in ("IMMICH_LOCAL_URL", "IMMICH_EXTERNAL_URL"):
        value, name = src.text(SETTING[env])
        urls.append(normalize_url(value, name) if value and value.strip() else None)
    local, external = urls
    if not local and not external:
        raise ConfigError(
            "IMMICH_LOCAL_URL and IMMICH_EXTERNAL_URL are both empty; set at least one; "
            + src.read_from("IMMICH_LOCAL_URL", "IMMICH_EXTERNAL_URL")
        )
    loopback = ("localhost", "127.0.0.1", "::1")
    if external and external.startswith("http://") and urlsplit(external).hostname not in loopback:
        warnings.append(
            f"IMMICH_EXTERNAL_URL {external} is plain http://: your API key crosses the internet "
            "unencrypted; use https://"
        )
    return local, external


def load_config(
    flags: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Config:
    """Merge the sources and check every value; raises ConfigError naming what is wrong."""
    src = Sources(flags, environ, cwd)
    warnings = list(src.warnings)
    folder = _folder(src)
    key, _ = src.get("IMMICH_API_KEY")
    if not key or not key.strip():
        raise ConfigError(
            "IMMICH_API_KEY is not set (in .env or the environment; it is never taken from a "
            f"flag); {src.read_from('IMMICH_API_KEY')}"
        )
    local_url, external_url = _urls(src, warnings)
    album, _ = src.text(SETTING["IMMICH_ALBUM_NAME"])
    if not album or not album.strip():
        raise ConfigError(
            "IMMICH_ALBUM_NAME is not set (in .env, the environment, or --album); "
            + src.read_from("IMMICH_ALBUM_NAME")
        )
    plain = {s.field: _plain(src, s) for s in SETTINGS if s.read is not None}
    _together(plain)
    if plain["session_tag"]:
        plain["tags"] = (*plain["tags"], session_tag())
    admin, _ = src.get("IMMICH_ADMIN_API_KEY")
    device_id, _ = src.get("IMMICH_DEVICE_ID")
    return Config(
        folder=folder,
        api_key=Secret(key.strip()),
        admin_key=Secret(admin.strip()) if admin and admin.strip() else None,
        local_url=local_url,
        external_url=external_url,
        album=album.strip(),
        history_file=src.history_file(),
        log_file=src.log_file(),
        env_file=src.env_file,
        device_id=(device_id or "").strip() or default_device_id(),
        dry_run=bool(flags.get("dry_run", False)),
        warnings=tuple(warnings),
        **plain,
    )
