"""What every part of ``History`` reads through: its connection, held under one lock, and a
query whose SQLite error becomes the project's (a damaged file: ``HistoryCorrupt``)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

from .schema import read_error


class Reader:
    """The connection of a history and the one way its parts query it."""

    def __init__(self, path: Path, db: sqlite3.Connection) -> None:
        self.path = path
        self._db = db
        self._db_lock = threading.RLock()

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        with self._db_lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise read_error(self.path, exc) from None
