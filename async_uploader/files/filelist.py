"""The files a scan offers for upload: a list in memory, spilled to a private temporary SQLite
file past a bound, with counts and bytes per extension kept as they come."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator

from ..limits import DEFAULT
from .local import LocalFile, extension, from_sql, sql_text


class FileList:
    """The files a scan offers for upload, in path order. Up to ``spill`` of them are a list in
    memory; past that they go to a temporary SQLite database (a private file SQLite deletes when
    it is closed), so a backfill of a million files holds none of them in memory, only the pages
    being read. Counts and bytes per extension are kept as they come, so ``len``, ``bytes`` and
    the views (``only``, ``nonempty``, ``empties``) cost nothing to ask."""

    _COLUMNS = "rel, fspath, size, mtime_ns, birth_ns, ext"

    def __init__(self, spill: int | None = None) -> None:
        self._spill = DEFAULT.spill if spill is None else spill
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
