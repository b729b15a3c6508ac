"""The local side: which files to send and their times. Knows nothing of the server or HTTP.

Only reads: nothing here (or anywhere in the uploader) writes, moves or deletes a user's file.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import os
import re
import sqlite3
import stat as statmod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

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


class FileList:
    """The files a scan offers for upload, in path order. Up to ``spill`` of them are a list in
    memory; past that they go to a temporary SQLite database (a private file SQLite deletes when
    it is closed), so a backfill of a million files holds none of them in memory, only the pages
    being read. Counts and bytes per extension are kept as they come, so ``len``, ``bytes`` and
    the views (``only``, ``nonempty``, ``empties``) cost nothing to ask."""

    SPILL = 20_000
    _COLUMNS = "rel, fspath, size, mtime_ns, birth_ns, ext"

    def __init__(self, spill: int | None = None) -> None:
        self._spill = FileList.SPILL if spill is None else spill
        self._mem: list[LocalFile] = []
        self._db: sqlite3.Connection | None = None
        self._rows: list[tuple[object, ...]] = []  # appended, not yet in the database
        self._stats: dict[str, list[int]] = {}  # extension -> [files, bytes, empty files]
        self._exts: frozenset[str] | None = None  # a view: only these extensions
        self._sizes = ""  # a view: "" every file, "> 0" non-empty ones, "= 0" empty ones

    # -- filling (the scan) --------------------------------------------------------------------
    def append(self, f: LocalFile) -> None:
        ext = extension(f.name)
        stats = self._stats.get(ext)
        if stats is None:
            stats = self._stats[ext] = [0, 0, 0]
        stats[0] += 1
        stats[1] += f.size
        stats[2] += not f.size
        if self._db is None:
            self._mem.append(f)
            if len(self._mem) > self._spill:
                self._to_disk()
            return
        self._rows.append(self._row(f, ext))
        if len(self._rows) >= 5000:
            self._flush()

    @staticmethod
    def _row(f: LocalFile, ext: str) -> tuple[object, ...]:
        return (sql_text(f.rel), sql_text(f.fspath), f.size, f.mtime_ns, f.birth_ns, ext)

    def _to_disk(self) -> None:
        self._db = sqlite3.connect("", isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode = OFF")  # scratch: nothing to recover
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute("PRAGMA cache_size = -256")  # KiB: written once, read in order
        self._db.execute(f"CREATE TABLE scanned ({self._COLUMNS})")
        self._rows = [self._row(f, extension(f.name)) for f in self._mem]
        self._mem = []
        self._flush()

    def _flush(self) -> None:
        assert self._db is not None
        self._db.execute("BEGIN")
        self._db.executemany("INSERT INTO scanned VALUES (?, ?, ?, ?, ?, ?)", self._rows)
        self._db.execute("COMMIT")
        self._rows = []

    def finish(self) -> None:
        """The scan is over: in path order from now on."""
        if self._db is None:
            self._mem.sort(key=lambda f: f.rel)
            return
        self._flush()
        self._db.execute(
            f"CREATE TABLE files AS SELECT {self._COLUMNS} FROM scanned ORDER BY rel"
        )  # its rowids are the order
        self._db.execute("DROP TABLE scanned")

    def close(self) -> None:
        if self._db is not None:
            self._db.close()

    # -- views -------------------------------------------------------------------------------
    def _view(self, exts: frozenset[str] | None, sizes: str) -> FileList:
        view = FileList(self._spill)
        view._mem, view._db, view._stats = self._mem, self._db, self._stats
        view._exts, view._sizes = exts, sizes
        return view

    def only(self, accepts: Callable[[str], bool]) -> FileList:
        """The files of the extensions ``accepts`` takes."""
        exts = frozenset(e for e in self._stats if accepts(e))
        return self._view(exts if self._exts is None else exts & self._exts, self._sizes)

    def nonempty(self) -> FileList:
        return self._view(self._exts, "> 0")

    def empties(self) -> FileList:
        return self._view(self._exts, "= 0")

    def _counts(self) -> tuple[int, int]:
        files = total = 0
        for ext, (n, size, empty) in self._stats.items():
            if self._exts is None or ext in self._exts:
                files += n if not self._sizes else n - empty if self._sizes == "> 0" else empty
                total += size if self._sizes != "= 0" else 0
        return files, total

    def __len__(self) -> int:
        return self._counts()[0]

    def __bool__(self) -> bool:
        return len(self) > 0

    @property
    def bytes(self) -> int:
        return self._counts()[1]

    def __iter__(self) -> Iterator[LocalFile]:
        if self._db is None:
            exts, sizes = self._exts, self._sizes
            for f in self._mem:
                if exts is not None and extension(f.name) not in exts:
                    continue
                if (sizes == "> 0" and not f.size) or (sizes == "= 0" and f.size):
                    continue
                yield f
            return
        where = [f"size {self._sizes}"] if self._sizes else []
        exts_list = sorted(self._exts) if self._exts is not None else []
        if self._exts is not None:
            where.append(f"ext IN ({', '.join('?' * len(exts_list))})")
        sql = f"SELECT rowid, {self._COLUMNS} FROM files WHERE rowid > ?"
        # 250 rows a page: a page of 1,000 was a megabyte of rows held at a time, and a page
        # costs one search of the rowid index.
        sql += "".join(f" AND {w}" for w in where) + " ORDER BY rowid LIMIT 250"
        last = 0
        while True:  # a page at a time, each its own query: nothing held open between pages
            rows = self._db.execute(sql, (last, *exts_list)).fetchall()
            if not rows:
                return
            for _rowid, rel, fspath, size, mtime_ns, birth_ns, _ext in rows:
                yield LocalFile(from_sql(fspath), from_sql(rel), size, mtime_ns, birth_ns)
            last = rows[-1][0]


@dataclass
class ScanResult:
    files: FileList = field(default_factory=FileList)
    unsupported: list[str] = field(default_factory=list)
    settling: list[str] = field(default_factory=list)  # modified too recently: next run
    ignored: int = 0  # hidden, partial downloads, junk folders
    excluded: int = 0  # by --include / --exclude
    errors: list[str] = field(default_factory=list)
    done: int = 0  # skipped: the history has them, unchanged (``skip``)
    symlinks: list[str] = field(default_factory=list)  # not followed (no --follow-symlinks)

    def only(self, accepts: Callable[[str], bool]) -> ScanResult:
        """The same scan, keeping the files of the types ``accepts`` takes."""
        kept = self.files.only(accepts)
        others = self.files.only(lambda ext: not accepts(ext))
        unsupported = [*self.unsupported, *(f.rel for f in others)]
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


_BY_FD = os.scandir in os.supports_fd


def _list(directory: str) -> tuple[Any, int | None]:  # (os.scandir's iterator, its fd)
    """The folder's entries; where the system can, listed through a descriptor of the folder,
    so that each entry's stat resolves its name alone, not the whole path again (a tenth of an
    idle run over a million files)."""
    if not _BY_FD:
        return os.scandir(directory), None
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        return os.scandir(fd), fd
    except OSError:
        os.close(fd)
        raise


@contextlib.contextmanager
def _closing(fd: int | None) -> Iterator[None]:
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)


def scan(walk: Walk) -> ScanResult:
    """``walk`` done by this process alone (``shares.scan_split``: by several)."""
    result = ScanResult()
    walk(result, result.files.append)
    result.files.finish()
    return result


@dataclass(frozen=True)
class Walk:
    """One scan's settings, to walk the folder with: the whole of it, or one share of its files
    (``shares``: the scan split among processes).

    Every file of a supported type (``accepts(".ext")``; None: any), by stat alone: nothing is
    opened. ``skip(rel, size, mtime_ns)`` leaves out (and counts) files already done. A symlink
    is not followed (it may point anywhere: ``passwd.png -> /etc/passwd``): it is listed in
    ``symlinks``. With ``follow_symlinks`` it counts as what it points to, and linked folders are
    entered once each (a link back up the tree is no endless loop)."""

    folder: Path
    accepts: Callable[[str], bool] | None
    recursive: bool = False
    settle_seconds: float = 0.0
    now: float | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    skip: Callable[[str, int, int], bool] | None = None
    follow_symlinks: bool = False

    def __call__(
        self,
        result: ScanResult,
        add: Callable[[LocalFile], object],
        share: tuple[int, int] | None = None,
    ) -> None:
        """Walks the folder into ``result``, each file to send to ``add``. With ``share``
        ``(parts, mine)`` only the files whose path hashes to ``mine`` (of ``parts``) are looked
        at; every walker of a split scan lists every folder, but only share 0 reports one it
        cannot read, so that each problem is named once."""
        recursive, include, exclude = self.recursive, self.include, self.exclude
        accepts, skip, follow_symlinks = self.accepts, self.skip, self.follow_symlinks
        now_ns = int((self.now if self.now is not None else datetime.now(UTC).timestamp()) * 1e9)
        settle_ns = int(self.settle_seconds * 1e9)
        filtered = bool(include or exclude)
        parts, mine = share if share is not None else (1, 0)
        birth = _birth_ns if _HAS_BIRTH else None
        partial, is_regular = PARTIAL_SUFFIXES, statmod.S_ISREG
        done = 0
        stack = [("", os.fspath(self.folder))]
        seen_dirs: set[tuple[int, int]] = set()
        if follow_symlinks and recursive:
            top = os.stat(self.folder)
            seen_dirs.add((top.st_dev, top.st_ino))
        # This loop runs once per file of a million-file folder: it is kept lean on purpose.
        while stack:
            prefix, directory = stack.pop()
            try:
                entries, fd = _list(directory)
            except OSError as exc:
                if not mine:
                    result.errors.append(f"cannot read folder {directory}: {exc.strerror}")
                continue
            here = directory + os.sep
            with entries, _closing(fd):
                for entry in entries:
                    name = entry.name
                    rel = prefix + name
                    if recursive:  # otherwise a folder fails the S_ISREG test below
                        try:
                            is_dir = entry.is_dir(follow_symlinks=False)
                        except OSError:
                            continue
                        if is_dir:
                            if name in JUNK_DIRS or name[0] == ".":
                                result.ignored += not mine  # every walker lists every folder
                            elif not (exclude and matches(rel, exclude)):
                                if follow_symlinks:  # so that a link to it is not entered again
                                    st = entry.stat(follow_symlinks=False)
                                    seen_dirs.add((st.st_dev, st.st_ino))
                                stack.append((rel + "/", here + name))
                            continue
                    if parts > 1 and hash(rel) % parts != mine:
                        continue  # another walker's
                    dot = name.rfind(".")
                    ext = name[dot:] if dot > 0 else ""  # as extension(), but inline
                    # is_ignored_name(), inline
                    if name[0] == "." or name[-1] == "~" or ext.lower() in partial:
                        result.ignored += 1
                        continue
                    if filtered and (
                        matches(rel, exclude) or (include and not matches(rel, include))
                    ):
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
                            stack.append((rel + "/", here + name))
                        continue
                    mtime_ns = st.st_mtime_ns
                    if now_ns - mtime_ns < settle_ns:
                        result.settling.append(rel)
                        continue
                    if skip is not None and skip(rel, st.st_size, mtime_ns):
                        done += 1
                        continue
                    add(
                        LocalFile(
                            here + name, rel, st.st_size, mtime_ns, birth(st) if birth else None
                        )
                    )
        result.done += done


def sha1_file(
    path: str | os.PathLike[str], chunk: int = 1024 * 1024, follow_symlinks: bool = False
) -> str:
    h = hashlib.sha1()
    with open(path, "rb", buffering=0, opener=opener(follow_symlinks)) as fh:
        # One buffer per file, no bigger than the file needs (a 2 kB screenshot had a megabyte
        # allocated for each of its two reads); 64 KiB at least, should the file grow meanwhile.
        size = os.fstat(fh.fileno()).st_size
        view = memoryview(bytearray(min(chunk, max(size + 1, 64 * 1024))))
        while n := fh.readinto(view):
            h.update(view[:n])
    return h.hexdigest()
