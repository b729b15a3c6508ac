"""The local side: which files to send and their times. Knows nothing of the server or HTTP.

Only reads: nothing here (or anywhere in the uploader) writes, moves or deletes a user's file.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import stat as statmod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

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


@dataclass
class ScanResult:
    files: list[LocalFile] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    settling: list[str] = field(default_factory=list)  # modified too recently: next run
    ignored: int = 0  # hidden, partial downloads, junk folders
    excluded: int = 0  # by --include / --exclude
    errors: list[str] = field(default_factory=list)
    done: int = 0  # skipped: the history has them, unchanged (``skip``)
    symlinks: list[str] = field(default_factory=list)  # not followed (no --follow-symlinks)

    def only(self, accepts: Callable[[str], bool]) -> ScanResult:
        """The same scan, keeping the files of the types ``accepts`` takes."""
        kept: list[LocalFile] = []
        unsupported = list(self.unsupported)
        for f in self.files:
            if accepts(extension(f.name)):
                kept.append(f)
            else:
                unsupported.append(f.rel)
        settling = [r for r in self.settling if accepts(extension(r.rpartition("/")[2]))]
        # Links to folders (no extension) are worth naming too.
        links = [
            r for r in self.symlinks if accepts(ext := extension(r.rpartition("/")[2])) or not ext
        ]
        return ScanResult(
            kept, unsupported, settling, self.ignored, self.excluded, self.errors, self.done, links
        )


def valid_utf8(text: str) -> str:
    """``text`` with the lone surrogates of undecodable bytes replaced by U+FFFD."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


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


_HAS_BIRTH = hasattr(os.stat_result, "st_birthtime")


def _birth_ns(st: os.stat_result) -> int | None:
    birth = getattr(st, "st_birthtime_ns", None)
    if birth is None and (b := getattr(st, "st_birthtime", None)) is not None:
        birth = int(b * 1e9)
    return birth if birth else None


def scan(
    folder: Path,
    accepts: Callable[[str], bool] | None,
    *,
    recursive: bool = False,
    settle_seconds: float = 0.0,
    now: float | None = None,
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    skip: Callable[[str, int, int], bool] | None = None,
    follow_symlinks: bool = False,
) -> ScanResult:
    """Every file of a supported type (``accepts(".ext")``; None: any), by stat alone: nothing is
    opened. ``skip(rel, size, mtime_ns)`` leaves out (and counts) files already done.

    A symlink is not followed (it may point anywhere: ``passwd.png -> /etc/passwd``): it is
    listed in ``symlinks``. With ``follow_symlinks`` it counts as what it points to, and linked
    folders are entered once each (a link back up the tree is no endless loop)."""
    result = ScanResult()
    now_ns = int((now if now is not None else datetime.now(UTC).timestamp()) * 1e9)
    settle_ns = int(settle_seconds * 1e9)
    filtered = bool(include or exclude)
    files = result.files
    birth = _birth_ns if _HAS_BIRTH else None
    partial, is_regular = PARTIAL_SUFFIXES, statmod.S_ISREG
    done = 0
    stack = [("", os.fspath(folder))]
    seen_dirs: set[tuple[int, int]] = set()
    if follow_symlinks and recursive:
        top = os.stat(folder)
        seen_dirs.add((top.st_dev, top.st_ino))
    # This loop runs once per file of a 100,000-file folder: it is kept lean on purpose.
    while stack:
        prefix, directory = stack.pop()
        try:
            entries = os.scandir(directory)
        except OSError as exc:
            result.errors.append(f"cannot read folder {directory}: {exc.strerror}")
            continue
        with entries:
            for entry in entries:
                name = entry.name
                rel = prefix + name
                if recursive:  # otherwise a folder fails the S_ISREG test below like any non-file
                    try:
                        is_dir = entry.is_dir(follow_symlinks=False)
                    except OSError:
                        continue
                    if is_dir:
                        if name in JUNK_DIRS or name[0] == ".":
                            result.ignored += 1
                        elif not (exclude and matches(rel, exclude)):
                            if follow_symlinks:  # so that a link to it is not entered again
                                st = entry.stat(follow_symlinks=False)
                                seen_dirs.add((st.st_dev, st.st_ino))
                            stack.append((rel + "/", entry.path))
                        continue
                dot = name.rfind(".")
                ext = name[dot:] if dot > 0 else ""  # as extension(), but inline
                if name[0] == "." or name[-1] == "~" or ext.lower() in partial:  # is_ignored_name()
                    result.ignored += 1
                    continue
                if filtered and (matches(rel, exclude) or (include and not matches(rel, include))):
                    result.excluded += 1
                    continue
                if accepts is not None and not accepts(ext):
                    result.unsupported.append(rel)
                    continue
                try:
                    link = entry.is_symlink()
                    if link and not follow_symlinks:
                        result.symlinks.append(rel)
                        continue
                    st = entry.stat()  # a followed link: what it points to
                except OSError as exc:
                    result.errors.append(f"cannot stat {rel}: {exc.strerror}")
                    continue
                if not is_regular(st.st_mode):
                    folder_id = (st.st_dev, st.st_ino)
                    if (
                        link
                        and recursive
                        and statmod.S_ISDIR(st.st_mode)
                        and folder_id not in seen_dirs
                        and not (exclude and matches(rel, exclude))
                    ):
                        seen_dirs.add(folder_id)
                        stack.append((rel + "/", entry.path))
                    continue
                mtime_ns = st.st_mtime_ns
                if now_ns - mtime_ns < settle_ns:
                    result.settling.append(rel)
                    continue
                if skip is not None and skip(rel, st.st_size, mtime_ns):
                    done += 1
                    continue
                files.append(
                    LocalFile(entry.path, rel, st.st_size, mtime_ns, birth(st) if birth else None)
                )
    result.done = done
    files.sort(key=lambda f: f.rel)
    return result


def sha1_file(path: Path, chunk: int = 1024 * 1024, follow_symlinks: bool = False) -> str:
    h = hashlib.sha1()
    with open(path, "rb", opener=opener(follow_symlinks)) as fh:
        while data := fh.read(chunk):
            h.update(data)
    return h.hexdigest()
