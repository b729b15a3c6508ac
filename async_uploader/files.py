"""The local side: which files to send and their times. Knows nothing of the server or HTTP.

Only reads: nothing here (or anywhere in the uploader) writes, moves or deletes a user's file.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import stat as statmod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

PARTIAL_SUFFIXES = frozenset({".part", ".crdownload", ".tmp", ".download", ".partial", ".!qb"})
JUNK_DIRS = frozenset({"@eaDir", ".thumbnails", "$RECYCLE.BIN", "#recycle", ".Trash", "lost+found"})


@dataclass(frozen=True)
class LocalFile:
    path: Path
    rel: str  # path relative to the folder, with "/" separators: the history key
    size: int
    mtime_ns: int
    birth_ns: int | None  # where the system has it (macOS, BSD, Windows)

    @property
    def created(self) -> datetime:
        return _utc(self.birth_ns if self.birth_ns is not None else self.mtime_ns)

    @property
    def modified(self) -> datetime:
        return _utc(self.mtime_ns)

    @property
    def device_asset_id(self) -> str:
        # Stable for the file, as the official CLI does it: base name and size, no white space.
        return re.sub(r"\s+", "", f"{self.path.name}-{self.size}")


@dataclass
class ScanResult:
    files: list[LocalFile] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    settling: list[str] = field(default_factory=list)  # modified too recently: next run
    ignored: int = 0  # hidden, partial downloads, junk folders
    excluded: int = 0  # by --include / --exclude
    errors: list[str] = field(default_factory=list)


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


def is_ignored_name(name: str) -> bool:
    if name.startswith(".") or name.endswith("~"):
        return True
    return os.path.splitext(name)[1].lower() in PARTIAL_SUFFIXES


def _birth_ns(st: os.stat_result) -> int | None:
    birth = getattr(st, "st_birthtime_ns", None)
    if birth is None and (b := getattr(st, "st_birthtime", None)) is not None:
        birth = int(b * 1e9)
    return birth if birth else None


def _walk(
    folder: Path, recursive: bool, result: ScanResult, exclude: tuple[str, ...] = ()
) -> Iterator[tuple[str, os.DirEntry[str]]]:
    stack = [("", folder)]
    while stack:
        prefix, directory = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError as exc:
            result.errors.append(f"cannot read folder {directory}: {exc.strerror}")
            continue
        for entry in entries:
            rel = f"{prefix}{entry.name}"
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_dir:
                wanted = entry.name not in JUNK_DIRS and not entry.name.startswith(".")
                if recursive and wanted and not matches(rel, exclude):
                    stack.append((rel + "/", Path(entry.path)))
                elif recursive:
                    result.ignored += 1
                continue
            yield rel, entry


def scan(
    folder: Path,
    accepts: Callable[[str], bool],
    *,
    recursive: bool = False,
    settle_seconds: float = 0.0,
    now: float | None = None,
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
) -> ScanResult:
    """Every file of a supported type, by stat alone (nothing is opened)."""
    result = ScanResult()
    now_ns = int((now if now is not None else datetime.now(UTC).timestamp()) * 1e9)
    settle_ns = int(settle_seconds * 1e9)
    for rel, entry in _walk(folder, recursive, result, exclude):
        if is_ignored_name(entry.name):
            result.ignored += 1
            continue
        if matches(rel, exclude) or (include and not matches(rel, include)):
            result.excluded += 1
            continue
        if not accepts(os.path.splitext(entry.name)[1]):
            result.unsupported.append(rel)
            continue
        try:
            st = entry.stat()  # follows a symlink to a file
        except OSError as exc:
            result.errors.append(f"cannot stat {rel}: {exc.strerror}")
            continue
        if not statmod.S_ISREG(st.st_mode):
            continue
        if now_ns - st.st_mtime_ns < settle_ns:
            result.settling.append(rel)
            continue
        result.files.append(
            LocalFile(Path(entry.path), rel, st.st_size, st.st_mtime_ns, _birth_ns(st))
        )
    result.files.sort(key=lambda f: f.rel)
    return result


def sha1_file(path: Path, chunk: int = 1024 * 1024) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as fh:
        while data := fh.read(chunk):
            h.update(data)
    return h.hexdigest()
