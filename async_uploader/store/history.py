"""The local history: what was sent, what the server answered, what is linked to the album.

An SQLite database (the stdlib's ``sqlite3``): a table of files keyed by the path relative to the
folder, and the last run's record in the same database, so both commit together. Each save
commits only what changed since the last one, in one transaction; the upload phase saves from a
worker thread while it goes on recording. WAL with ``synchronous=NORMAL`` (a crash loses at most
the last commit, never the file), a rollback journal on a network file system, where WAL's shared
memory cannot work. Knows nothing of the server; the lock beside it (``lock``) keeps two runs from
sharing it, and an older version's JSON history (``legacy``) is taken over once, left untouched.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from hashlib import blake2b
from operator import itemgetter
from pathlib import Path
from struct import Struct
from typing import Any
from urllib.parse import quote

from ..errors import HistoryCorrupt, HistoryError, HistoryUnusable
from ..files import from_sql, sql_text
from ..outcomes import Outcome
from .legacy import FIELDS, database_path, legacy_path, read_legacy
from .private import private

log = logging.getLogger(__name__)

SCHEMA = 2  # PRAGMA user_version; version 1 was the JSON file
# Outcomes that mean "leave this file alone while it is unchanged": uploaded (or imported from an
# older history), or empty (Immich refuses a 0-byte file; it is sent once it has content).
DONE = frozenset(
    o.value for o in (Outcome.CREATED, Outcome.DUPLICATE, Outcome.LEGACY, Outcome.EMPTY)
)
LEGACY, STALE = Outcome.LEGACY.value, Outcome.STALE.value
LINKED = frozenset(o.value for o in (Outcome.CREATED, Outcome.DUPLICATE))  # an asset in the album
# File systems where SQLite's WAL (shared memory beside the file) is unsafe or refused.
NETWORK_FS = frozenset(
    [
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "ncpfs",
        "afs",
        "9p",
        "drvfs",
        "ceph",
        "glusterfs",
        "lustre",
        "gpfs",
        "fuse.sshfs",
        "fuse.rclone",
        "fuse.s3fs",
        "davfs",
        "fuse.davfs2",
    ]
)
# How long a save waits for another program (an sqlite3 shell, say) holding the database's write
# lock; two runs never do (``lock``), and readers never block a writer under WAL.
BUSY_SECONDS = 5.0
# SQLite's page cache for a run's connection, in KiB (its default is 2,000): a backfill's
# checkpoints fill the whole cache, 2 MB of the run's memory, and an idle run reads the files
# table once, in order, through the file system's cache anyway.
CACHE_KIB = 512
LAST_RUN = "last_run"  # the meta key of the last run's record (``last_run``)
# A recorded asset, which belongs in the album (the same words in the index and its queries, so
# that SQLite counts pending links from the index alone).
LINKABLE = "outcome IN ('created', 'duplicate') AND asset_id IS NOT NULL AND asset_id != ''"
CREATE = (
    # A name that is not UTF-8 (lone surrogates in Python) is kept as a BLOB of its bytes.
    "CREATE TABLE files (path TEXT PRIMARY KEY NOT NULL, size INTEGER, mtime_ns INTEGER,"
    " outcome TEXT NOT NULL, asset_id TEXT, sha1 TEXT, album_id TEXT, at TEXT NOT NULL DEFAULT '',"
    " message TEXT, done_key INTEGER) WITHOUT ROWID",
    # done_key: the fingerprint of (path, size, mtime_ns) of a file that is done (``_fingerprint``);
    # the scan checks each file against these alone, read in key order.
    "CREATE INDEX files_done ON files (done_key) WHERE done_key IS NOT NULL",
    "CREATE INDEX files_unsized ON files (path) WHERE size IS NULL",
    f"CREATE INDEX files_album ON files (album_id) WHERE {LINKABLE}",
    "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) WITHOUT ROWID",
    f"PRAGMA user_version = {SCHEMA}",
)
COLUMNS = ", ".join(FIELDS)
UPSERT = f"INSERT OR REPLACE INTO files (path, {COLUMNS}, done_key) VALUES (?{', ?' * 9})"
PENDING = f"FROM files WHERE {LINKABLE} AND album_id IS NOT ?"
# The same as EXISTS (SELECT 1 {PENDING}), in three parts that SQLite each answers from the
# album index ("IS NOT ?" makes it read the whole index).
ANY_PENDING = " OR ".join(
    f"EXISTS (SELECT 1 FROM files WHERE {LINKABLE} AND album_id {test})"
    for test in ("IS NULL", "< ?", "> ?")
)
_pack = Struct("<qq").pack
_BLAKE = blake2b(digest_size=8)  # copied for each file: cheaper than a new one with its options


def _fingerprint(rel: str, size: int, mtime_ns: int) -> int:
    """63 bits of BLAKE2b over the name's bytes, then size and time (an SQLite integer, never
    negative): a changed or new file matches a done one by chance once in 10^13, for a history
    of a million. (done_check has it inline.)"""
    h = _BLAKE.copy()
    h.update(rel.encode("utf-8", "surrogateescape"))
    h.update(_pack(size, mtime_ns))
    return int.from_bytes(h.digest(), "little") >> 1


def _corrupt(exc: BaseException) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _read_error(path: Path, exc: sqlite3.Error) -> HistoryError:
    if _corrupt(exc):
        return HistoryCorrupt(path, str(exc))
    return HistoryError(f"cannot read history {path}: {exc}")


@dataclass(slots=True, frozen=True)
class Record:
    size: int | None
    mtime_ns: int | None
    outcome: str  # an Outcome's value: one of Outcome.RECORDED
    asset_id: str | None = None
    sha1: str | None = None
    album_id: str | None = None  # the album it is linked to; None while the link is pending
    at: str = ""
    message: str | None = None

    def matches(self, size: int, mtime_ns: int) -> bool:
        return self.size == size and self.mtime_ns == mtime_ns

    def row(self, rel: str) -> tuple[Any, ...]:
        """The database row: the key, FIELDS in order, and the done fingerprint."""
        done = (
            _fingerprint(rel, self.size, self.mtime_ns)
            if self.outcome in DONE and self.size is not None and self.mtime_ns is not None
            else None
        )
        return (
            sql_text(rel),
            self.size,
            self.mtime_ns,
            self.outcome,
            self.asset_id,
            self.sha1,
            self.album_id,
            self.at,
            self.message,
            done,
        )


def filesystem_type(folder: Path, mountinfo: str | None = None) -> str | None:
    """The type of the file system ``folder`` is on, from /proc/self/mountinfo (Linux), or None."""
    if mountinfo is None:
        try:
            with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as fh:
                mountinfo = fh.read()
        except OSError:
            return None
    where = str(folder.resolve())
    best, fstype = -1, None
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        fields = left.split()
        if not sep or len(fields) < 5 or not right:
            continue
        point = fields[4].replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\")
        inside = where == point or where.startswith(point.rstrip("/") + "/")
        if inside and len(point) > best:
            best, fstype = len(point), right.split()[0]
    return fstype


class History:
    """The records of one folder's files. Reads and records on the event loop; ``save`` may run
    in a worker thread meanwhile (the connection and the pending changes are locked)."""

    def __init__(self, path: Path, db: sqlite3.Connection, journal: str = "wal") -> None:
        self.path = path
        self.journal = journal  # "wal", or the rollback journal's mode where WAL cannot work
        self._db = db
        self._db_lock = threading.RLock()
        self._lock = threading.Lock()  # the pending changes, swapped out by a save
        self._changed: dict[str, Record] = {}
        self._saving: dict[str, Record] = {}  # being committed by a save in another thread
        # rel -> album id of stored records linked since (mark_linked): an UPDATE at the next
        # save, so that linking a page of thousands does not read their records into memory.
        self._links: dict[str, str] = {}
        self._links_saving: dict[str, str] = {}
        self._meta: dict[str, str] = {}
        self._last_at = ""
        # Set by done_check: how many files it knows as done, and whether it answers from them
        # alone (no file imported from a list of names, whose size it learns as it sees it).
        self.done_files, self.done_exact = 0, True

    @property
    def dirty(self) -> bool:
        return bool(self._changed or self._meta or self._links)

    @property
    def unsaved(self) -> int:
        """Records changed since the last save began."""
        return len(self._changed) + len(self._links)

    # -- opening ------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: Path, *, readonly: bool = False, repair: bool = True) -> History:
        """The history at ``path``, created if missing (taking over an older version's JSON
        beside it). A corrupt database is moved aside with a warning and a new one started
        (with ``repair=False`` it raises HistoryError instead). ``readonly`` (status, check)
        writes nothing anywhere: no database yet reads as the older JSON history, or empty."""
        path = database_path(path)  # never a database under an older version's JSON name
        try:
            if readonly and not path.exists():
                return cls._in_memory(path)
            return cls._open_file(path, readonly)
        except sqlite3.DatabaseError as exc:
            if not _corrupt(exc):
                raise HistoryError(f"cannot open history {path}: {exc}") from None
            if not repair or readonly:
                raise HistoryCorrupt(path, str(exc)) from None
            return cls.afresh(path, str(exc))

    @classmethod
    def afresh(cls, path: Path, reason: str) -> History:
        """A corrupt history moved aside with a warning, and a new one in its place (files
        already on the server come back as duplicates)."""
        aside = cls._move_aside(path)
        log.warning(
            "history %s is corrupt (%s); moved it to %s and starting afresh",
            path,
            reason,
            aside.name,
        )
        return cls._open_file(path, readonly=False)

    @classmethod
    def _in_memory(cls, path: Path) -> History:
        db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        history = cls(path, db, journal="memory")
        history._create(quiet=True)
        return history

    @classmethod
    def _open_file(cls, path: Path, readonly: bool) -> History:
        if readonly:
            # A run that ended closed its log (-wal) into the file: read the file as it is, and
            # create nothing beside it (a reader of a WAL database makes a -shm). While a run
            # is going, or after one was killed, read through its log.
            live = os.path.exists(f"{path}-wal")
            uri = f"file:{quote(str(path))}?mode=ro" + ("" if live else "&immutable=1")
            db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        else:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                # 0600 from the first byte: the history names every file and what the server said.
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
                private(fd)
                os.close(fd)
            except OSError as exc:
                raise HistoryError(f"cannot open history {path}: {exc.strerror or exc}") from None
            db = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=BUSY_SECONDS
            )
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            tables = {
                r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
        except sqlite3.Error:
            db.close()
            raise
        if version > SCHEMA:
            db.close()
            raise HistoryUnusable(
                f"history {path} was written by a newer async-uploader (schema {version}; this "
                f"one knows {SCHEMA}): upgrade async-uploader, or set IMMICH_HISTORY_FILE to another file. "
                "Nothing was changed"
            )
        fresh = version == 0 and not tables
        if not fresh and (version != SCHEMA or not {"files", "meta"} <= tables):
            db.close()
            raise HistoryUnusable(
                f"{path} is an SQLite database but not an async-uploader history (schema "
                f"{version}, tables {', '.join(sorted(tables)) or 'none'}); nothing was changed: "
                "set IMMICH_HISTORY_FILE to another file"
            )
        if readonly:
            history = cls(path, db, journal="readonly")
            if fresh:  # an empty file: read what an older version left, as a run would
                db.close()
                history._db = sqlite3.connect(
                    ":memory:", isolation_level=None, check_same_thread=False
                )
                history._create(quiet=True)
            return history
        db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        history = cls(path, db, journal=cls._journal(db, path))
        if fresh:
            history._create(quiet=False)
        return history

    @staticmethod
    def _journal(db: sqlite3.Connection, path: Path) -> str:
        fstype = filesystem_type(path.parent)
        if fstype in NETWORK_FS:
            db.execute("PRAGMA journal_mode = DELETE")
            db.execute("PRAGMA synchronous = FULL")
            log.info(
                "history %s is on a network file system (%s): using a rollback journal, as "
                "SQLite's WAL needs memory shared beside the file",
                path.name,
                fstype,
            )
            return "delete"
        mode = str(db.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
        if mode != "wal":
            db.execute("PRAGMA synchronous = FULL")
            log.info("history %s: WAL refused here; using a %s journal", path.name, mode)
            return mode
        db.execute("PRAGMA synchronous = NORMAL")
        return "wal"

    def _create(self, quiet: bool) -> None:
        """The schema, and an older version's history taken over, in one transaction."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        for statement in CREATE:
            db.execute(statement)
        source = legacy_path(self.path)
        taken = ""
        if source.exists():
            try:
                old = read_legacy(source)
            except ValueError as exc:
                log.warning(
                    "the older history %s cannot be read (%s); not taken over, and left as it is",
                    source,
                    exc,
                )
            else:
                self._import(old.rows)
                if old.last_run:
                    db.execute(
                        "INSERT INTO meta VALUES (?, ?)",
                        (LAST_RUN, json.dumps(old.last_run, ensure_ascii=False)),
                    )
                taken = f"took over {len(old.rows)} records from {source.name} ({old.kind})"
        db.execute("COMMIT")
        if taken and not quiet:
            log.info("history: %s, which is left as it was and no longer used", taken)
        elif taken:
            log.info("history: %s is not in use yet; read from %s", self.path.name, source.name)

    def _import(self, rows: dict[str, list[Any]]) -> None:
        records = ((rel, Record(*row)) for rel, row in rows.items())
        self._db.executemany(UPSERT, (rec.row(rel) for rel, rec in records))

    @staticmethod
    def _move_aside(path: Path) -> Path:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        aside = path.with_name(f"{path.name}.corrupt-{stamp}")
        try:
            os.replace(path, aside)
            for suffix in ("-wal", "-shm"):  # a log of the old file must not meet the new one
                with contextlib.suppress(FileNotFoundError):
                    os.replace(f"{path}{suffix}", f"{aside}{suffix}")
        except OSError as err:
            raise HistoryError(
                f"history {path} is corrupt and cannot be moved aside: {err.strerror}"
            ) from None
        return aside

    def describe(self) -> str:
        """For ``check``: what the history is kept in, when it is not the usual."""
        if self.journal == "memory":
            source = legacy_path(self.path)
            if source.exists():
                return f" (not created yet: the next run takes over {source.name})"
            return " (not created yet)"
        fstype = filesystem_type(self.path.parent)
        if fstype in NETWORK_FS:
            return f" (on {fstype}: a rollback journal is used, not WAL)"
        return ""

    def unwritable(self) -> str | None:
        """Why a run could not write this history, judged without writing (for ``check``)."""
        folder = self.path.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent  # a run creates the missing folders
        if self.path.exists() and not os.access(self.path, os.R_OK | os.W_OK):
            return f"cannot write history {self.path}: permission denied"
        if not os.access(folder, os.W_OK | os.X_OK):
            return f"cannot write history beside {self.path}: {folder} is not writable"
        return None

    def close(self) -> None:
        with self._db_lock, contextlib.suppress(sqlite3.Error):
            self._db.close()

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        with self._db_lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise _read_error(self.path, exc) from None

    # -- reading ------------------------------------------------------------------------------
    def get(self, rel: str) -> Record | None:
        rec = self._changed.get(rel)
        if rec is None:
            rec = self._saving.get(rel)
        if rec is not None:
            return rec
        rows = self._query(f"SELECT {COLUMNS} FROM files WHERE path = ?", (sql_text(rel),))
        return self._stored_record(rel, rows[0]) if rows else None

    def _stored_record(self, rel: str, row: Any) -> Record:
        """A record as the database has it, with a link made since applied."""
        rec = Record(*row)
        album = self._links.get(rel) or self._links_saving.get(rel)
        return rec if album is None else replace(rec, album_id=album)

    def _linked_since(self, rel: str, album_id: str) -> bool:
        return album_id in (self._links.get(rel), self._links_saving.get(rel))

    def get_many(self, rels: list[str]) -> dict[str, Record]:
        """The records of these files that exist, a query per 500 of them."""
        found: dict[str, Record] = {}
        stored: list[str] = []
        for rel in rels:
            rec = self._changed.get(rel)
            if rec is None:
                rec = self._saving.get(rel)
            if rec is not None:
                found[rel] = rec
            else:
                stored.append(rel)
        for i in range(0, len(stored), 500):
            keys = [sql_text(rel) for rel in stored[i : i + 500]]
            marks = ", ".join("?" * len(keys))
            sql = f"SELECT path, {COLUMNS} FROM files WHERE path IN ({marks})"
            for path, *row in self._query(sql, tuple(keys)):
                rel = from_sql(path)
                found[rel] = self._stored_record(rel, row)
        return found

    def rows(self) -> Iterator[tuple[str, Record]]:
        """Every record, in path order, streamed (status, export)."""
        overlay = {**self._saving, **self._changed}
        with self._db_lock:
            cursor = self._db.execute(f"SELECT path, {COLUMNS} FROM files ORDER BY path")
        for path, *row in cursor:
            rel = from_sql(path)
            if rel not in overlay:
                yield rel, self._stored_record(rel, row)
        yield from sorted(overlay.items())

    @property
    def records(self) -> dict[str, Record]:
        """Every record in one dict: for tests and small reports, not for the hot path."""
        return dict(self.rows())

    def count(self) -> int:
        new = sum(1 for rel in {**self._saving, **self._changed} if self._stored(rel) is None)
        return int(self._query("SELECT count(*) FROM files")[0][0]) + new

    def _stored(self, rel: str) -> tuple[Any, ...] | None:
        rows = self._query("SELECT 1 FROM files WHERE path = ?", (sql_text(rel),))
        return rows[0] if rows else None

    def last_run(self) -> dict[str, Any]:
        return self.meta(LAST_RUN)

    def meta(self, key: str) -> dict[str, Any]:
        """A JSON object kept beside the records (``{}`` when there is none, or it is unreadable):
        the last run's record, what a run learnt of the server."""
        text = self._meta.get(key)
        if text is None:
            rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
            text = rows[0][0] if rows else None
        try:
            data = json.loads(text) if text else {}
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    # -- decisions ------------------------------------------------------------------------------
    def is_done(self, rel: str, size: int, mtime_ns: int) -> bool:
        """Uploaded before and unchanged since: skip it without opening it."""
        rec = self.get(rel)
        if rec is None:
            return False
        if rec.matches(size, mtime_ns):
            return rec.outcome in DONE
        if rec.outcome == LEGACY and rec.size is None:
            # First sight since the import: remember its size and time from now on.
            self._put(rel, replace(rec, size=size, mtime_ns=mtime_ns))
            return True
        return False

    def done_check(self) -> Callable[[str, int, int], bool]:
        """is_done for the scan at the start of a run, once per file of the folder: each file's
        fingerprint looked up among those of the done files, read in order into 8 bytes each,
        with where each of their leading-bit buckets starts (a query per file, or per batch of
        files, costs more than the scan's own stat). Only files imported from a list of names,
        size not yet known, are looked up one by one."""
        with self._db_lock:
            try:
                cursor = self._db.execute(
                    "SELECT done_key FROM files WHERE done_key IS NOT NULL ORDER BY done_key"
                )
                keys = array("q", map(itemgetter(0), cursor))
                unsized = self._db.execute(
                    "SELECT EXISTS (SELECT 1 FROM files WHERE size IS NULL)"
                ).fetchone()[0]
            except sqlite3.Error as exc:
                raise _read_error(self.path, exc) from None
        n, slow = len(keys), self.is_done if unsized else None
        self.done_files, self.done_exact = n, not unsized
        bits = (n // 32).bit_length()  # buckets of 16 to 32 keys, by their leading bits
        shift = 63 - bits
        # edges[b]: where bucket b starts; edges[-1] == n
        edges = array("q", (bisect_left(keys, b << shift) for b in range((1 << bits) + 1)))
        copy, pack, as_int, find = _BLAKE.copy, _pack, int.from_bytes, bisect_left

        def check(rel: str, size: int, mtime_ns: int) -> bool:
            # _fingerprint, inline: this runs once per file of a million-file folder.
            h = copy()
            h.update(rel.encode("utf-8", "surrogateescape"))
            h.update(pack(size, mtime_ns))
            key = as_int(h.digest(), "little") >> 1
            b = key >> shift
            i = find(keys, key, edges[b], edges[b + 1])
            if i < n and keys[i] == key:
                return True
            return slow is not None and slow(rel, size, mtime_ns)

        return check

    def pending_links(self, album_id: str) -> dict[str, str]:
        """rel -> asset id of every recorded asset not yet linked to this album."""
        overlay = {**self._saving, **self._changed}
        pending = {
            rel: asset_id
            for path, asset_id in self._query(f"SELECT path, asset_id {PENDING}", (album_id,))
            if (rel := from_sql(path)) not in overlay and not self._linked_since(rel, album_id)
        }
        for rel, rec in overlay.items():
            if rec.outcome in LINKED and rec.asset_id and rec.album_id != album_id:
                pending[rel] = rec.asset_id
        return pending

    def pending_pages(self, album_id: str, size: int) -> Iterator[dict[str, str]]:
        """Pages of rel -> asset id not yet linked to this album, in path order, read from the
        database page by page (a million are never all in memory): ``save`` first, so that it
        holds everything recorded. Changes made meanwhile (a page linked) do not move the pages,
        which go by the last path seen."""
        last: str | bytes | None = None
        while True:
            params: tuple[object, ...] = (album_id,) if last is None else (album_id, last)
            after = "" if last is None else " AND path > ?"
            sql = f"SELECT path, asset_id {PENDING}{after} ORDER BY path LIMIT ?"
            rows = self._query(sql, (*params, size))
            if not rows:
                return
            page = {from_sql(path): asset_id for path, asset_id in rows}
            if self._links or self._links_saving:  # linked since (a save that failed)
                page = {r: a for r, a in page.items() if not self._linked_since(r, album_id)}
            yield page
            last = rows[-1][0]

    def pending_bound(self, album_id: str) -> int:
        """At least as many as pending_count, without building anything: the database's pending
        rows (from its index) and every change not yet saved."""
        stored = self._query(f"SELECT count(*) {PENDING}", (album_id,))[0][0]
        return int(stored) + len(self._changed) + len(self._saving)

    def any_pending(self, album_id: str) -> bool:
        """Whether any recorded asset is not yet linked to this album: three searches of the
        album index that stop at the first row (a count reads all of it: 0.4 s per million)."""
        if self._changed or self._saving or self._links or self._links_saving:
            return bool(self.pending_links(album_id))
        found = self._query(f"SELECT {ANY_PENDING}", (album_id, album_id))
        return bool(found[0][0])

    def pending_count(self, album_id: str) -> int:
        if self._changed or self._saving or self._links or self._links_saving:
            return len(self.pending_links(album_id))
        # Both counts from the partial index: all linkable, less those linked to this album.
        every = self._query(f"SELECT count(*) FROM files WHERE {LINKABLE}")[0][0]
        linked = self._query(
            f"SELECT count(*) FROM files WHERE {LINKABLE} AND album_id = ?", (album_id,)
        )
        return int(every) - int(linked[0][0])

    # -- writing ----------------------------------------------------------------------------
    def _put(self, rel: str, rec: Record) -> None:
        with self._lock:
            self._changed[rel] = rec
            self._links.pop(rel, None)  # superseded: this record says which album it is in

    def record(self, rel: str, rec: Record) -> None:
        if not rec.at:
            at = datetime.now(UTC).isoformat(timespec="seconds")
            # The records of one second share one string.
            self._last_at = self._last_at if at == self._last_at else at
            rec = replace(rec, at=self._last_at)
        self._put(rel, rec)

    def mark_linked(self, rels: list[str], album_id: str) -> None:
        """Records in memory get the album; stored ones an UPDATE at the next save (a file
        with no record at all: nothing, as before)."""
        for rel in rels:
            rec = self._changed.get(rel) or self._saving.get(rel)
            if rec is not None:
                self._put(rel, replace(rec, album_id=album_id))
            else:
                with self._lock:
                    self._links[rel] = album_id

    def forget(self, rel: str) -> None:
        """The server lost this asset: the next run sends the file again."""
        rec = self.get(rel)
        if rec is not None:
            self._put(rel, replace(rec, outcome=STALE))

    def set_last_run(self, record: dict[str, Any]) -> None:
        """The last run's record, committed by the next save together with the files."""
        self.set_meta(LAST_RUN, record)

    def set_meta(self, key: str, value: dict[str, Any]) -> None:
        """Committed by the next save, together with the files."""
        with self._lock:
            self._meta[key] = json.dumps(value, ensure_ascii=False)

    def check_writable(self) -> None:
        """Fail now, before any upload, if the history could not be saved later."""
        with self._db_lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('opened_at', ?)",
                    (datetime.now(UTC).isoformat(timespec="seconds"),),
                )
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise HistoryError(f"cannot write history {self.path}: {exc}") from None

    def _rollback(self) -> None:
        if self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")

    def save(self) -> None:
        """What changed since the last save, in one transaction. Safe in a worker thread while
        the event loop records more: those wait for the next save. On failure nothing of this
        save is on disk and all of it is kept for the next one."""
        with self._lock:
            changed, meta, links = self._changed, self._meta, self._links
            if not changed and not meta and not links:
                return
            self._changed, self._meta, self._saving = {}, {}, changed
            self._links, self._links_saving = {}, links
        try:
            rows = [rec.row(rel) for rel, rec in changed.items()]
            with self._db_lock:
                try:
                    self._db.execute("BEGIN IMMEDIATE")
                    self._db.executemany(UPSERT, rows)
                    self._db.executemany(
                        "UPDATE files SET album_id = ? WHERE path = ?",
                        ((album, sql_text(rel)) for rel, album in links.items()),
                    )
                    self._db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta.items())
                    self._db.execute("COMMIT")
                except BaseException:
                    self._rollback()
                    raise
        except (sqlite3.Error, OSError) as exc:
            with self._lock:
                self._changed = {**changed, **self._changed}
                self._meta = {**meta, **self._meta}
                # Kept but for files recorded again meanwhile (their record says it all).
                self._links = {
                    **{r: a for r, a in links.items() if r not in self._changed},
                    **self._links,
                }
            raise HistoryError(
                f"cannot write history {self.path}: {exc} (what it holds is as the last save left it)"
            ) from None
        finally:
            with self._lock:
                self._saving, self._links_saving = {}, {}
