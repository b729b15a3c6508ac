"""The tags a history still has to put on assets (IMMICH_TAGS, the session tag): (tag, asset id)
pairs in the ``tags_pending`` table, kept across a crash until the server has answered for them.
Changes wait in memory, in order, for the next save (``History.save`` writes them with the rest).
A part of ``History``."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator

from .reader import Reader

Pair = tuple[str, str]  # (tag value, asset id)


class TagQueue(Reader):
    """The tags to put, of ``History``, which has the connection and saves the changes."""

    _tags: list[tuple[Pair, bool]]  # (pair, to put) in the order they came; False: put
    _tags_saving: list[tuple[Pair, bool]]
    _lock: threading.Lock

    # -- tags to put ---------------------------------------------------------------------------
    def tags_pending(self) -> dict[str, frozenset[str]]:
        """asset id -> the tags still to put on it (saved, and recorded since)."""
        found: dict[str, set[str]] = {}
        for tag, asset_id in self._query("SELECT tag, asset_id FROM tags_pending"):
            found.setdefault(str(asset_id), set()).add(str(tag))
        with self._lock:
            staged = [*self._tags_saving, *self._tags]
        for pair, wanted in staged:
            tag, asset_id = pair
            if wanted:
                found.setdefault(asset_id, set()).add(tag)
            elif asset_id in found:
                found[asset_id].discard(tag)
        return {a: frozenset(t) for a, t in found.items() if t}

    def any_tags_pending(self) -> bool:
        if self._tags or self._tags_saving:
            return bool(self.tags_pending())
        return bool(self._query("SELECT EXISTS (SELECT 1 FROM tags_pending)")[0][0])

    def add_tags(self, asset_id: str, tags: Iterable[str]) -> None:
        """Tags to put on the asset, kept (from the next save on) until ``tags_done``."""
        with self._lock:
            self._tags.extend(((tag, asset_id), True) for tag in tags)

    def tags_done(self, pairs: Iterable[tuple[str, str]]) -> None:
        """(tag, asset id) pairs the server has answered for: no longer pending."""
        with self._lock:
            self._tags.extend((pair, False) for pair in pairs)

    def tag_values(self) -> list[str]:
        """Every tag still to put on some asset, saved (call after a save)."""
        return [str(t) for (t,) in self._query("SELECT DISTINCT tag FROM tags_pending ORDER BY 1")]

    def tag_pages(self, size: int) -> Iterator[dict[str, frozenset[str]]]:
        """Pages of asset id -> its tags still to put, as saved (call after a save), by asset id:
        a backfill of a million is never all in memory."""
        last = ""
        while True:
            rows = self._query(
                "SELECT asset_id, tag FROM tags_pending WHERE asset_id IN (SELECT DISTINCT asset_id"
                " FROM tags_pending WHERE asset_id > ? ORDER BY asset_id LIMIT ?)",
                (last, size),
            )
            if not rows:
                return
            page: dict[str, set[str]] = {}
            for asset_id, tag in rows:
                page.setdefault(str(asset_id), set()).add(str(tag))
            yield {a: frozenset(t) for a, t in page.items()}
            last = max(page)

    def tags_pending_count(self) -> int:
        """How many assets still wait for a tag: from the database alone when nothing is staged
        (a save just now), else counted in memory."""
        if self._tags or self._tags_saving:
            return len(self.tags_pending())
        return int(self._query("SELECT count(DISTINCT asset_id) FROM tags_pending")[0][0])
