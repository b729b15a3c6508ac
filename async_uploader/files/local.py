"""A file of the folder as the scan saw it, and what is said of files by name alone: their
extension, whether they are left alone (hidden, partial downloads), whether a glob matches,
how a name is kept in SQLite. Never opens a file but through ``opener``, which refuses symlinks.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from ..text import valid_utf8

PARTIAL_SUFFIXES = frozenset({".part", ".crdownload", ".tmp", ".download", ".partial", ".!qb"})
JUNK_DIRS = frozenset({"@eaDir", ".thumbnails", "$RECYCLE.BIN", "#recycle", ".Trash", "lost+found"})


class LocalFile(NamedTuple):
    """A file offered for upload, as the scan saw it (a tuple: 100,000 of them are cheap)."""

    fspath: str  # the full path; ``path`` makes a Path of it only when one is needed
    rel: str  # path relative to the folder, with "/" separators: the history key
    size: int
    mtime_ns: int
    birth_ns: int | None  # where the system has it (macOS, BSD, Windows)

    @property
    def path(self) -> Path:
        return Path(self.fspath)

    @property
    def name(self) -> str:
        return self.rel.rpartition("/")[2]

    @property
    def upload_name(self) -> str:
        """The name as sent to the server: the exact name, except that bytes which are not
        UTF-8 (kept by Python as lone surrogates) become U+FFFD, so the request can be encoded.
        The history keeps ``rel`` itself: lossless."""
        return valid_utf8(self.name)

    @property
    def created(self) -> datetime:
        return _utc(self.birth_ns if self.birth_ns is not None else self.mtime_ns)

    @property
    def modified(self) -> datetime:
        return _utc(self.mtime_ns)

    @property
    def device_asset_id(self) -> str:
        # Stable for the file, as the official CLI does it: base name and size, no white space.
        return re.sub(r"\s+", "", f"{self.upload_name}-{self.size}")


def sql_text(text: str) -> str | bytes:
    """A name as SQLite keeps it: text, or the bytes on disk of one that is not UTF-8 (Python
    holds those as lone surrogates, which no SQLite text can carry)."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape")


def from_sql(value: str | bytes) -> str:
    return value if isinstance(value, str) else value.decode("utf-8", "surrogateescape")


def _no_follow(path: str, flags: int) -> int:
    return os.open(path, flags | getattr(os, "O_NOFOLLOW", 0))


def opener(follow_symlinks: bool) -> Callable[[str, int], int] | None:
    """For ``open(..., opener=...)``: refuse to open through a symlink (a file the scan saw as
    a plain file and that became a link since), unless links are to be followed."""
    return None if follow_symlinks else _no_follow


def _utc(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, UTC)


def iso_utc(dt: datetime) -> str:
    """UTC with milliseconds and ``Z``: what Immich 2 and 3 both accept."""
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def matches(rel: str, patterns: tuple[str, ...]) -> bool:
    """A glob without "/" matches the name at any depth; one with "/" the path from the folder."""
    name = rel.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(rel if "/" in p else name, p) for p in patterns)


def extension(name: str) -> str:
    """ ".png" for "a.png", "" for "a" and ".hidden" (as os.path.splitext, but cheaper)."""
    stem, dot, ext = name.rpartition(".")
    return dot + ext if stem.strip(".") and dot else ""


def is_ignored_name(name: str) -> bool:
    if name.startswith(".") or name.endswith("~"):
        return True
    return extension(name).lower() in PARTIAL_SUFFIXES
