"""Opening the history's database: a file of our own schema or a new one (0600 from its first
byte), read-only without creating anything beside it, the journal the file system allows, an
older version's JSON history taken over once, and a corrupt file moved aside. ``History`` holds
what this returns."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from ..errors import HistoryError, HistoryUnusable
from .legacy import legacy_path, read_legacy
from .meta import Meta
from .private import private
from .schema import (
    BUSY_SECONDS,
    CACHE_KIB,
    CREATE,
    NETWORK_FS,
    READ_2,
    SCHEMA,
    UPGRADE_2,
    UPSERT,
    Record,
    filesystem_type,
)

log = logging.getLogger(__name__)
SKIPS_SHOWN = 10  # malformed records of an older history named one by one; the rest counted


def _text(value: bytes) -> str:
    """A TEXT value as Python holds a name that is not UTF-8: its bytes kept (surrogateescape).
    The tool writes such names as BLOBs; another SQLite tool may write them as TEXT, and a
    strict decode would stop every command that reads the history."""
    return value.decode("utf-8", "surrogateescape")


def _connect(
    target: str, *, uri: bool = False, timeout: float = BUSY_SECONDS
) -> sqlite3.Connection:
    db = sqlite3.connect(
        target, uri=uri, timeout=timeout, isolation_level=None, check_same_thread=False
    )
    db.text_factory = _text
    return db


def in_memory() -> sqlite3.Connection:
    return _connect(":memory:")


def connect(path: Path, readonly: bool) -> tuple[sqlite3.Connection, str, bool]:
    """(the connection, its journal mode, whether the file was empty): the history at ``path``,
    checked to be ours and of this schema. sqlite3.DatabaseError when it is damaged."""
    if readonly:
        # A run that ended closed its log (-wal) into the file: read the file as it is, and
        # create nothing beside it (a reader of a WAL database makes a -shm). While a run is
        # going, or after one was killed, read through its log.
        live = os.path.exists(f"{path}-wal")
        uri = f"file:{quote(str(path))}?mode=ro" + ("" if live else "&immutable=1")
        db = _connect(uri, uri=True)
    else:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # 0600 from the first byte: the history names every file and what the server said.
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            private(fd)
            os.close(fd)
        except OSError as exc:
            raise HistoryError(f"cannot open history {path}: {exc.strerror or exc}") from None
        db = _connect(str(path))
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error:
        db.close()
        raise
    if version > SCHEMA:
        db.close()
        raise HistoryUnusable(
            f"history {path} was written by a newer async-uploader (schema {version}; this one "
            f"knows {SCHEMA}): upgrade async-uploader, or set IMMICH_HISTORY_FILE to another "
            "file. Nothing was changed"
        )
    fresh = version == 0 and not tables
    if version == 2 and {"files", "meta"} <= tables:
        try:
            _from_schema_2(db, path, readonly)
        except sqlite3.Error:
            db.close()
            raise
        version = SCHEMA
    if not fresh and (version != SCHEMA or not {"files", "meta"} <= tables):
        db.close()
        raise HistoryUnusable(
            f"{path} is an SQLite database but not an async-uploader history (schema "
            f"{version}, tables {', '.join(sorted(tables)) or 'none'}); nothing was changed: "
            "set IMMICH_HISTORY_FILE to another file"
        )
    if readonly:
        return db, "readonly", fresh
    db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    return db, _journal(db, path), fresh


def _from_schema_2(db: sqlite3.Connection, path: Path, readonly: bool) -> None:
    """A history of the version before: upgraded in place, in one transaction (read only: seen
    as schema 3 through temporary objects, the file untouched)."""
    if readonly:
        for statement in READ_2:
            db.execute(statement)
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        for statement in UPGRADE_2:
            db.execute(statement)
        db.execute("COMMIT")
    except sqlite3.Error:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    log.info("history %s: upgraded to schema %d (album names, tags to put)", path.name, SCHEMA)


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


def create(db: sqlite3.Connection, path: Path, quiet: bool) -> None:
    """The schema, and an older version's history taken over, in one transaction."""
    db.execute("BEGIN IMMEDIATE")
    for statement in CREATE:
        db.execute(statement)
    source = legacy_path(path)
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
            for rel, why in list(old.skipped.items())[:SKIPS_SHOWN]:
                log.warning("the older history %s: %r not taken over: %s", source.name, rel, why)
            if len(old.skipped) > SKIPS_SHOWN:
                log.warning(
                    "the older history %s: %d more records not taken over (malformed)",
                    source.name,
                    len(old.skipped) - SKIPS_SHOWN,
                )
            records = ((rel, Record(*row)) for rel, row in old.rows.items())
            db.executemany(UPSERT, (rec.row(rel) for rel, rec in records))
            if old.last_run:
                db.execute(
                    "INSERT INTO meta VALUES (?, ?)",
                    (Meta.LAST_RUN, json.dumps(old.last_run, ensure_ascii=False)),
                )
            taken = f"took over {len(old.rows)} records from {source.name} ({old.kind})"
    db.execute("COMMIT")
    if taken and not quiet:
        log.info("history: %s, which is left as it was and no longer used", taken)
    elif taken:
        log.info("history: %s is not in use yet; read from %s", path.name, source.name)


def move_aside(path: Path) -> Path:
    """A corrupt database (and its log) renamed out of the way, for a new one in its place."""
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


def describe(path: Path, journal: str) -> str:
    """For ``check``: what the history is kept in, when it is not the usual."""
    if journal == "memory":
        source = legacy_path(path)
        if source.exists():
            return f" (not created yet: the next run takes over {source.name})"
        return " (not created yet)"
    fstype = filesystem_type(path.parent)
    if fstype in NETWORK_FS:
        return f" (on {fstype}: a rollback journal is used, not WAL)"
    return ""


def unwritable(path: Path) -> str | None:
    """Why a run could not write the history at ``path``, judged without writing (``check``)."""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # a run creates the missing folders
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return f"cannot write history {path}: permission denied"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"cannot write history beside {path}: {folder} is not writable"
    return None
