"""The history's schema: the tables and indexes, the statements that read and write them, the
record of one file, and where SQLite's WAL can be used. Plain data and SQL text; no connection
is opened here.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from hashlib import blake2b
from pathlib import Path
from struct import Struct
from typing import Any

from ..errors import HistoryCorrupt, HistoryError
from ..files import sql_text
from ..outcomes import Outcome
from .legacy import FIELDS as LEGACY_FIELDS

SCHEMA = 3  # PRAGMA user_version; version 1 was the JSON file, 2 had no album names nor tags
# A record's fields, in the table's order: the older JSON history's, and the name of the album
# the file belongs in (its folder's album; NULL: the main album, IMMICH_ALBUM_NAME)
FIELDS = (*LEGACY_FIELDS, "album")
# Outcomes that mean "leave this file alone while it is unchanged": uploaded (or imported from an
# older history), or empty (Immich refuses a 0-byte file; it is sent once it has content).
SETTLED = frozenset(
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
# A recorded asset, which belongs in the album (the same words in the index and its queries, so
# that SQLite counts pending links from the index alone).
LINKABLE = "outcome IN ('created', 'duplicate') AND asset_id IS NOT NULL AND asset_id != ''"
# The linkable records by album name and the album they are linked to: what each album lacks,
# and the counts of every album at once (GROUP BY album, album_id), from the index alone.
# The tags waiting to be put on assets (phases/tags.py), kept across a crash.
TARGETS = (
    f"CREATE INDEX files_target ON files (album, album_id) WHERE {LINKABLE}",
    "CREATE TABLE IF NOT EXISTS tags_pending (tag TEXT NOT NULL, asset_id TEXT NOT NULL,"
    " PRIMARY KEY (asset_id, tag)) WITHOUT ROWID",
)
CREATE = (
    # A name that is not UTF-8 (lone surrogates in Python) is kept as a BLOB of its bytes.
    "CREATE TABLE files (path TEXT PRIMARY KEY NOT NULL, size INTEGER, mtime_ns INTEGER,"
    " outcome TEXT NOT NULL, asset_id TEXT, sha1 TEXT, album_id TEXT, at TEXT NOT NULL DEFAULT '',"
    " message TEXT, done_key INTEGER, album TEXT) WITHOUT ROWID",
    # done_key: the fingerprint of (path, size, mtime_ns) of a file that is done (``_fingerprint``);
    # the scan checks each file against these alone, read in key order.
    "CREATE INDEX files_done ON files (done_key) WHERE done_key IS NOT NULL",
    "CREATE INDEX files_unsized ON files (path) WHERE size IS NULL",
    *TARGETS,
    "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) WITHOUT ROWID",
    f"PRAGMA user_version = {SCHEMA}",
)
# Schema 2 to 3, in place: O(1) for the column, one pass over the linkable rows for the index.
UPGRADE_2 = (
    "ALTER TABLE files ADD COLUMN album TEXT",
    "DROP INDEX IF EXISTS files_album",
    *TARGETS,
    f"PRAGMA user_version = {SCHEMA}",
)
# A schema-2 history read without writing (status, check, verify, a dry run): seen through
# temporary objects (temp is searched before main), so that every query of schema 3 works.
READ_2 = (
    "CREATE TEMP VIEW files AS SELECT *, NULL AS album FROM main.files",
    "CREATE TEMP TABLE tags_pending (tag TEXT NOT NULL, asset_id TEXT NOT NULL,"
    " PRIMARY KEY (asset_id, tag)) WITHOUT ROWID",
)
COLUMNS = ", ".join(FIELDS)
UPSERT = f"INSERT OR REPLACE INTO files (path, {COLUMNS}, done_key) VALUES (?{', ?' * 10})"
# The records of one album (its name: "album IS ?") not linked to it (its id: "album_id IS NOT ?")
PENDING = f"FROM files WHERE {LINKABLE} AND album IS ? AND album_id IS NOT ?"
# The same, for pages in path order: "+album" keeps SQLite off the targets index, which would
# read every row of the album and sort them for each page (quadratic over a million records);
# the primary key gives them in order, a page at a time.
PENDING_BY_PATH = f"FROM files WHERE {LINKABLE} AND +album IS ? AND album_id IS NOT ?"
# The same as EXISTS (SELECT 1 {PENDING}), in three parts that SQLite each answers from the
# targets index ("IS NOT ?" makes it read the whole of the album's part).
ANY_PENDING = " OR ".join(
    f"EXISTS (SELECT 1 FROM files WHERE {LINKABLE} AND album IS ? AND album_id {test})"
    for test in ("IS NULL", "< ?", "> ?")
)
PUT_TAG = "INSERT OR IGNORE INTO tags_pending (tag, asset_id) VALUES (?, ?)"
TAG_PUT = "DELETE FROM tags_pending WHERE tag = ? AND asset_id = ?"
PACK = Struct("<qq").pack
BLAKE = blake2b(digest_size=8)  # copied for each file: cheaper than a new one with its options


def fingerprint(rel: str, size: int, mtime_ns: int) -> int:
    """63 bits of BLAKE2b over the name's bytes, then size and time (an SQLite integer, never
    negative): a changed or new file matches a done one by chance once in 10^13, for a history
    of a million. (``known.unchanged_check`` has it inline.)"""
    h = BLAKE.copy()
    h.update(rel.encode("utf-8", "surrogateescape"))
    h.update(PACK(size, mtime_ns))
    return int.from_bytes(h.digest(), "little") >> 1


def corrupt(exc: BaseException) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def read_error(path: Path, exc: sqlite3.Error) -> HistoryError:
    if corrupt(exc):
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
    album: str | None = None  # the name of the album it belongs in; None: the main album

    @classmethod
    def stored(cls, row: Any) -> Record:
        """A record as the database row has it, each field of the type a record holds: a row
        changed by hand may hold anything SQLite takes (a size as text, an id as a number), and
        such a field reads as missing rather than stopping a command later."""
        size, mtime_ns, outcome, asset_id, sha1, album_id, at, message, album = row
        return cls(
            size if type(size) is int else None,
            mtime_ns if type(mtime_ns) is int else None,
            outcome if isinstance(outcome, str) else "",
            _text(asset_id),
            _text(sha1),
            _text(album_id),
            at if isinstance(at, str) else "",
            _text(message),
            _text(album),
        )

    def matches(self, size: int, mtime_ns: int) -> bool:
        return self.size == size and self.mtime_ns == mtime_ns

    def row(self, rel: str) -> tuple[Any, ...]:
        """The database row: the key, FIELDS in order, and the fingerprint of a settled file."""
        key = (
            fingerprint(rel, self.size, self.mtime_ns)
            if self.outcome in SETTLED and self.size is not None and self.mtime_ns is not None
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
            self.album,
            key,
        )


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes):  # a BLOB, where the tool writes text
        return value.decode("utf-8", "surrogateescape")
    return str(value)


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
