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
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import HistoryCorrupt, HistoryError
from ..files import from_sql, sql_text
from . import known, opening
from .legacy import database_path
from .meta import Meta
from .pending import PendingLinks
from .schema import (
    COLUMNS,
    LEGACY,
    PUT_TAG,
    SETTLED,
    STALE,
    TAG_PUT,
    UPSERT,
    Record,
    corrupt,
    read_error,
)
from .tagqueue import TagQueue

log = logging.getLogger(__name__)


class History(PendingLinks, TagQueue):
    """The records of one folder's files. Reads and records on the event loop; ``save`` may run
    in a worker thread meanwhile (the connection and the pending changes are locked)."""

    def __init__(self, path: Path, db: sqlite3.Connection, journal: str = "wal") -> None:
        super().__init__(path, db)
        self.journal = journal  # "wal", or the rollback journal's mode where WAL cannot work
        self._lock = threading.Lock()  # the pending changes, swapped out by a save
        self._changed: dict[str, Record] = {}
        self._saving: dict[str, Record] = {}  # being committed by a save in another thread
        # rel -> album id of stored records linked since (mark_linked): an UPDATE at the next
        # save, so that linking a page of thousands does not read their records into memory.
        self._links: dict[str, str] = {}
        self._links_saving: dict[str, str] = {}
        self._meta: dict[str, str] = {}
        # ((tag, asset id), to put) in the order they came: tags to put, and tags put
        self._tags: list[tuple[tuple[str, str], bool]] = []
        self._tags_saving: list[tuple[tuple[str, str], bool]] = []
        self._last_at = ""
        # Set by unchanged_check: how many files it knows as settled, and whether it answers
        # from them alone (no file imported from a list of names, whose size it learns as it
        # sees it).
        self.settled_files, self.settled_exact = 0, True

    @property
    def dirty(self) -> bool:
        return bool(self._changed or self._meta or self._links or self._tags)

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
            if not corrupt(exc):
                raise HistoryError(f"cannot open history {path}: {exc}") from None
            if not repair or readonly:
                raise HistoryCorrupt(path, str(exc)) from None
            return cls.afresh(path, str(exc))

    @classmethod
    def afresh(cls, path: Path, reason: str) -> History:
        """A corrupt history moved aside with a warning, and a new one in its place (files
        already on the server come back as duplicates)."""
        aside = opening.move_aside(path)
        log.warning(
            "history %s is corrupt (%s); moved it to %s and starting afresh",
            path,
            reason,
            aside.name,
        )
        return cls._open_file(path, readonly=False)

    @classmethod
    def _in_memory(cls, path: Path) -> History:
        db = opening.in_memory()
        opening.create(db, path, quiet=True)
        return cls(path, db, journal="memory")

    @classmethod
    def _open_file(cls, path: Path, readonly: bool) -> History:
        db, journal, fresh = opening.connect(path, readonly)
        if fresh and readonly:  # an empty file: read what an older version left, as a run would
            db.close()
            return cls._in_memory(path)
        if fresh:
            opening.create(db, path, quiet=False)
        return cls(path, db, journal=journal)

    def close(self) -> None:
        with self._db_lock, contextlib.suppress(sqlite3.Error):
            self._db.close()

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
        rec = Record.stored(row)
        album = self._links.get(rel) or self._links_saving.get(rel)
        return rec if album is None else replace(rec, album_id=album)

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
        return self.meta(Meta.LAST_RUN)

    def meta(self, key: Meta) -> dict[str, Any]:
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
    def is_settled(self, rel: str, size: int, mtime_ns: int) -> bool:
        """Uploaded before and unchanged since: skip it without opening it."""
        rec = self.get(rel)
        if rec is None:
            return False
        if rec.matches(size, mtime_ns):
            return rec.outcome in SETTLED
        if rec.outcome == LEGACY and rec.size is None:
            # First sight since the import: remember its size and time from now on.
            self._put(rel, replace(rec, size=size, mtime_ns=mtime_ns))
            return True
        return False

    def unchanged_check(self) -> Callable[[str, int, int], bool]:
        """is_settled for the scan at the start of a run, once per file of the folder, from the
        settled files' fingerprints (``known``). Only files imported from a list of names, size
        not yet known, are looked up one by one."""
        with self._db_lock:
            try:
                keys, unsized = known.fingerprints(self._db)
            except sqlite3.Error as exc:
                raise read_error(self.path, exc) from None
        self.settled_files, self.settled_exact = len(keys), not unsized
        return known.unchanged_check(keys, self.is_settled if unsized else None)

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

    def retarget(self, album_of: Callable[[str], str | None]) -> int:
        """Every record's album name made ``album_of(its path)`` (folder albums were turned on,
        off, or changed), in one transaction, a page of paths at a time: a million never in
        memory. Returns how many records changed; their links to their new albums are pending
        from then on (a file stays in the album it was linked to before)."""
        for rel, rec in list(self._changed.items()):
            if rec.album != (album := album_of(rel)):
                self._put(rel, replace(rec, album=album))
        changed = 0
        with self._db_lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                last: Any = None
                while True:
                    after = "" if last is None else " WHERE path > ?"
                    rows = self._db.execute(
                        f"SELECT path, album FROM files{after} ORDER BY path LIMIT 5000",
                        () if last is None else (last,),
                    ).fetchall()
                    if not rows:
                        break
                    moves = [
                        (album, path)
                        for path, old in rows
                        if (album := album_of(from_sql(path))) != old
                    ]
                    self._db.executemany("UPDATE files SET album = ? WHERE path = ?", moves)
                    changed += len(moves)
                    last = rows[-1][0]
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise HistoryError(f"cannot write history {self.path}: {exc}") from None
        return changed

    def set_last_run(self, record: dict[str, Any]) -> None:
        """The last run's record, committed by the next save together with the files."""
        self.set_meta(Meta.LAST_RUN, record)

    def set_meta(self, key: Meta, value: dict[str, Any]) -> None:
        """Committed by the next save, together with the files."""
        with self._lock:
            self._meta[key] = json.dumps(value, ensure_ascii=False)

    def check_writable(self) -> None:
        """Fail now, before any upload, if the history could not be saved later."""
        with self._db_lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute(
                    "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                    (Meta.OPENED_AT, datetime.now(UTC).isoformat(timespec="seconds")),
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
            changed, meta, links, tags = self._changed, self._meta, self._links, self._tags
            if not changed and not meta and not links and not tags:
                return
            self._changed, self._meta, self._saving = {}, {}, changed
            self._links, self._links_saving = {}, links
            self._tags, self._tags_saving = [], tags
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
                    for (tag, asset_id), wanted in tags:  # in order: a pair put, then done
                        self._db.execute(PUT_TAG if wanted else TAG_PUT, (tag, asset_id))
                    self._db.execute("COMMIT")
                except BaseException:
                    self._rollback()
                    raise
        except (sqlite3.Error, OSError) as exc:
            with self._lock:
                self._changed = {**changed, **self._changed}
                self._meta = {**meta, **self._meta}
                self._tags = [*tags, *self._tags]
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
                self._saving, self._links_saving, self._tags_saving = {}, {}, []
