"""The album links a history still has to make: for each album (the main one, or a folder's, by
name) the recorded assets not yet linked to it, counted, listed or paged from the targets index,
with what was recorded or linked since the last save laid over them. A part of ``History``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from ..files import from_sql
from .reader import Reader
from .schema import ANY_PENDING, LINKABLE, LINKED, PENDING, PENDING_BY_PATH, Record


class PendingLinks(Reader):
    """The pending links of ``History``, which has the connection and the unsaved changes."""

    _changed: dict[str, Record]
    _saving: dict[str, Record]
    _links: dict[str, str]
    _links_saving: dict[str, str]
    _lock: threading.Lock

    def _linked_since(self, rel: str, album_id: str) -> bool:
        return album_id in (self._links.get(rel), self._links_saving.get(rel))

    def pending_links(self, album_id: str, album: str | None = None) -> dict[str, str]:
        """rel -> asset id of every recorded asset of this album (``album``: its name, None for
        the main album) not yet linked to it (``album_id``)."""
        overlay = {**self._saving, **self._changed}
        rows = self._query(f"SELECT path, asset_id {PENDING}", (album, album_id))
        pending = {
            rel: asset_id
            for path, asset_id in rows
            if (rel := from_sql(path)) not in overlay and not self._linked_since(rel, album_id)
        }
        for rel, rec in overlay.items():
            linkable = rec.outcome in LINKED and rec.asset_id and rec.album == album
            if linkable and rec.album_id != album_id:
                assert rec.asset_id is not None
                pending[rel] = rec.asset_id
        return pending

    def pending_pages(
        self, album_id: str, size: int, album: str | None = None
    ) -> Iterator[dict[str, str]]:
        """Pages of rel -> asset id not yet linked to this album, in path order, read from the
        database page by page (a million are never all in memory): ``save`` first, so that it
        holds everything recorded. Changes made meanwhile (a page linked) do not move the pages,
        which go by the last path seen."""
        last: str | bytes | None = None
        while True:
            params: tuple[object, ...] = (
                (album, album_id) if last is None else (album, album_id, last)
            )
            after = "" if last is None else " AND path > ?"
            sql = f"SELECT path, asset_id {PENDING_BY_PATH}{after} ORDER BY path LIMIT ?"
            rows = self._query(sql, (*params, size))
            if not rows:
                return
            page = {from_sql(path): asset_id for path, asset_id in rows}
            if self._links or self._links_saving:  # linked since (a save that failed)
                page = {r: a for r, a in page.items() if not self._linked_since(r, album_id)}
            yield page
            last = rows[-1][0]

    def pending_bound(self, album_id: str, album: str | None = None) -> int:
        """At least as many as pending_count, without building anything: the database's pending
        rows (from its index) and every change not yet saved."""
        stored = self._query(f"SELECT count(*) {PENDING}", (album, album_id))[0][0]
        return int(stored) + len(self._changed) + len(self._saving)

    def any_pending(self, album_id: str, album: str | None = None) -> bool:
        """Whether any recorded asset of this album is not yet linked to it: three searches of
        the targets index that stop at the first row (a count reads all of it: 0.4 s per
        million)."""
        if self._changed or self._saving or self._links or self._links_saving:
            return bool(self.pending_links(album_id, album))
        found = self._query(f"SELECT {ANY_PENDING}", (album, album, album_id, album, album_id))
        return bool(found[0][0])

    def pending_count(self, album_id: str, album: str | None = None) -> int:
        if self._changed or self._saving or self._links or self._links_saving:
            return len(self.pending_links(album_id, album))
        # Both counts from the partial index: the album's linkable, less those linked to it.
        every = self._query(f"SELECT count(*) FROM files WHERE {LINKABLE} AND album IS ?", (album,))
        linked = self._query(
            f"SELECT count(*) FROM files WHERE {LINKABLE} AND album IS ? AND album_id = ?",
            (album, album_id),
        )
        return int(every[0][0]) - int(linked[0][0])

    def album_names(self) -> set[str | None]:
        """The names of the albums recorded assets belong in (None: the main album), saved or
        recorded since."""
        names = set(self.album_counts())
        names.update(r.album for r in (*self._saving.values(), *self._changed.values()))
        return names

    def album_counts(self) -> dict[str | None, dict[str | None, int]]:
        """As saved: album name (None: the main album) -> the album id its records are linked
        to (None: not linked) -> how many; one pass over the targets index."""
        sql = f"SELECT album, album_id, count(*) FROM files WHERE {LINKABLE} GROUP BY 1, 2"
        out: dict[str | None, dict[str | None, int]] = {}
        for album, album_id, n in self._query(sql):
            out.setdefault(_name(album), {})[_name(album_id)] = int(n)
        return out


def _name(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else str(value)
