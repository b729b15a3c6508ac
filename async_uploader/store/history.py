"""The local history: what was sent, what the server answered, what is linked to the album.

A versioned JSON file keyed by the path relative to the folder. Saved atomically (``atomic``) so a
crash leaves the previous version or the new one, never a torn file. Knows nothing of the server;
the lock beside it (``lock``) keeps two runs from sharing it.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import HistoryError
from ..outcomes import Outcome
from .atomic import atomic_write

log = logging.getLogger(__name__)

VERSION = 1
# Outcomes that mean "leave this file alone while it is unchanged": uploaded (or imported from an
# older history), or empty (Immich refuses a 0-byte file; it is sent once it has content).
DONE = frozenset(
    o.value for o in (Outcome.CREATED, Outcome.DUPLICATE, Outcome.LEGACY, Outcome.EMPTY)
)
LEGACY, STALE = Outcome.LEGACY.value, Outcome.STALE.value
LINKED = frozenset(o.value for o in (Outcome.CREATED, Outcome.DUPLICATE))  # an asset in the album
# Each file's record is a list in this order ("fields" in the file says so too): a third of the
# size of named keys, and quick to read back for 100,000 files.
FIELDS = ("size", "mtime_ns", "outcome", "asset_id", "sha1", "album_id", "at", "message")


@dataclass(slots=True)
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

    def to_row(self) -> list[Any]:
        # By hand, in FIELDS order: dataclasses.asdict costs seconds for 100,000 records.
        return [
            self.size,
            self.mtime_ns,
            self.outcome,
            self.asset_id,
            self.sha1,
            self.album_id,
            self.at,
            self.message,
        ]


class History:
    def __init__(
        self,
        path: Path,
        records: dict[str, Record] | None = None,
        rows: dict[str, list[Any]] | None = None,
    ) -> None:
        self.path = path
        # Rows as read from the file become Records only when touched: an idle run over 100,000
        # files compares a few fields of each row and never builds 100,000 objects.
        self._rows: dict[str, list[Any]] = rows or {}
        self._objs: dict[str, Record] = records or {}
        self._last_at = ""
        self.dirty = False

    def get(self, rel: str) -> Record | None:
        rec = self._objs.get(rel)
        if rec is None and (row := self._rows.get(rel)) is not None:
            rec = self._objs[rel] = Record(*row)
        return rec

    @property
    def records(self) -> dict[str, Record]:
        """Every record (builds them all: for reports, not for the hot path)."""
        for rel in self._rows.keys() - self._objs.keys():
            self.get(rel)
        return self._objs

    # -- reading -----------------------------------------------------------------------------
    @classmethod
    def load(cls, path: Path, repair: bool = True) -> History:
        """Read the history; a corrupt one is moved aside with a warning and we start afresh
        (with ``repair=False``, for read-only commands, it raises HistoryError instead)."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(path)
        except OSError as exc:
            raise HistoryError(f"cannot read history {path}: {exc.strerror}") from None
        try:
            data = json.loads(text)
            history = cls._from_data(path, data)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            if not repair:
                raise HistoryError(f"history {path} is corrupt: {exc}") from None
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            aside = path.with_name(f"{path.name}.corrupt-{stamp}")
            try:
                os.replace(path, aside)
            except OSError as err:
                raise HistoryError(
                    f"history {path} is corrupt and cannot be moved aside: {err.strerror}"
                ) from None
            log.warning(
                "history %s is corrupt (%s); moved it to %s and starting afresh",
                path,
                exc,
                aside.name,
            )
            return cls(path)
        return history

    @classmethod
    def _from_data(cls, path: Path, data: Any) -> History:
        if isinstance(data, dict) and "version" in data and "files" in data:
            if data["version"] != VERSION:
                raise ValueError(f"unknown history version {data['version']!r}")
            if tuple(data.get("fields", ())) != FIELDS:
                raise ValueError("unexpected record fields")
            rows = data["files"]
            # Every row a list of len(FIELDS): checked in C loops (a generator costs 40 ms here).
            if not isinstance(rows, dict) or (
                rows
                and (
                    {*map(type, rows.values())} != {list}
                    or {*map(len, rows.values())} != {len(FIELDS)}
                )
            ):
                raise ValueError("malformed records")
            return cls(path, rows=rows)
        # The seed script's history: a list of file names, or a dict keyed by file name.
        if isinstance(data, list | dict):
            names = list(data)
            if not all(isinstance(n, str) for n in names):
                raise ValueError("not a list of file names")
            records = {n: Record(size=None, mtime_ns=None, outcome=LEGACY) for n in names}
            log.info("imported %d entries from an older history format", len(records))
            history = cls(path, records)
            history.dirty = True
            return history
        raise ValueError("not a history")

    # -- decisions ------------------------------------------------------------------------------
    def is_done(self, rel: str, size: int, mtime_ns: int) -> bool:
        """Uploaded before and unchanged since: skip it without opening it."""
        rec = self._objs.get(rel)
        if rec is None:
            row = self._rows.get(rel)
            if row is None:
                return False
            if row[0] == size and row[1] == mtime_ns:  # FIELDS: size, mtime_ns, outcome
                return row[2] in DONE
            rec = self.get(rel)
            assert rec is not None
        if rec.size == size and rec.mtime_ns == mtime_ns:
            return rec.outcome in DONE
        if rec.outcome == LEGACY and rec.size is None:
            # First sight since the import: remember its size and time from now on.
            rec.size, rec.mtime_ns = size, mtime_ns
            self.dirty = True
            return True
        return False

    def done_check(self) -> Callable[[str, int, int], bool]:
        """is_done as a closure over the rows: it runs once per file of an idle 100,000-file
        scan, where the method's attribute lookups alone cost a tenth of the run."""
        rows, objs, done, slow = self._rows, self._objs, DONE, self.is_done

        def check(rel: str, size: int, mtime_ns: int) -> bool:
            row = rows.get(rel)
            if row is not None and row[0] == size and row[1] == mtime_ns and rel not in objs:
                return row[2] in done  # FIELDS: size, mtime_ns, outcome
            return slow(rel, size, mtime_ns)

        return check

    def pending_links(self, album_id: str) -> dict[str, str]:
        """rel -> asset id of every recorded asset not yet linked to this album."""
        linked = LINKED
        pending = {
            rel: row[3]  # FIELDS: outcome [2], asset_id [3], album_id [5]
            for rel, row in self._rows.items()
            if rel not in self._objs and row[2] in linked and row[3] and row[5] != album_id
        }
        for rel, rec in self._objs.items():
            if rec.outcome in linked and rec.asset_id and rec.album_id != album_id:
                pending[rel] = rec.asset_id
        return pending

    # -- writing ----------------------------------------------------------------------------
    def record(self, rel: str, rec: Record) -> None:
        if not rec.at:
            at = datetime.now(UTC).isoformat(timespec="seconds")
            # The records of one second share one string: 100,000 of them would hold 7 MB.
            rec.at = self._last_at = self._last_at if at == self._last_at else at
        self._objs[rel] = rec
        self.dirty = True

    def mark_linked(self, rels: list[str], album_id: str) -> None:
        for rel in rels:
            rec = self.get(rel)
            if rec is not None:
                rec.album_id = album_id
        self.dirty = True

    def forget(self, rel: str) -> None:
        """The server lost this asset: the next run sends the file again."""
        rec = self.get(rel)
        if rec is not None:
            rec.outcome = STALE
            self.dirty = True

    def check_writable(self) -> None:
        """Fail now, before any upload, if the history could not be saved later."""
        folder = self.path.parent
        probe = folder / f".{self.path.name}.{os.getpid()}.probe"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with open(probe, "w") as fh:
                fh.write("probe")
            probe.unlink()
        except OSError as exc:
            raise HistoryError(
                f"cannot write the history beside {self.path}: {exc.strerror or exc}"
            ) from None

    def save(self) -> None:
        """The records, atomically. An idle run changes none and does not rewrite them."""
        atomic_write(self.path, self._json_pieces())
        self.dirty = False

    def _json_pieces(self, per_piece: int = 2000) -> Iterator[str]:
        """The file's JSON in pieces of a few thousand records, each encoded by the C encoder:
        the same text as one json.dumps, without a second copy of the whole history in memory."""
        head = {
            "version": VERSION,
            "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "fields": FIELDS,
        }
        yield json.dumps(head, ensure_ascii=False, separators=(",", ":"))[:-1] + ',"files":{'
        objs = self._objs
        rows = ((rel, row) for rel, row in self._rows.items() if rel not in objs)
        everything = itertools.chain(rows, ((rel, rec.to_row()) for rel, rec in objs.items()))
        sep = ""
        while piece := dict(itertools.islice(everything, per_piece)):
            yield sep + json.dumps(piece, ensure_ascii=False, separators=(",", ":"))[1:-1]
            sep = ","
        yield "}}"
