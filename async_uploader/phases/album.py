"""Linking: every recorded asset not yet in its album, in batches; an asset the server lost is
forgotten so that the next run sends the file again. With folder albums (``targets``) each album
is found by name, or made, and linked in turn, within one bound on the time it all takes.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import anyio

from ..control import Signals
from ..errors import HistoryError, UploaderError
from ..immich import Album, ApiError, BadAnswer, TransportError, is_uuid
from ..limits import Limits
from ..outcomes import RunReport
from ..retry import RetryPolicy, with_retries
from ..store import History
from ..text import counted, ms_since, names
from .calls import ImmichCalls
from .connect import Failover

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    """An album assets belong in: ``name`` as the records say it (None: the main album), and
    the album on the server."""

    name: str | None
    album: Album


async def link_pending(
    client: ImmichCalls,
    history: History,
    album_id: str,
    report: RunReport,
    retry: RetryPolicy,
    limits: Limits,
    recover: Callable[[], Awaitable[bool]] | None = None,
    on_batch: Callable[[], None] | None = None,
    target: Target | None = None,
) -> None:
    """Every recorded asset of the album (``target``; None: the main one, ``album_id``) not
    yet in it, in batches of ``limits.link_batch``; past ``limits.memory_links`` read from the
    history a batch at a time and saved after each (a backfill of a million is never all in
    memory); ``on_batch`` is called after each batch is answered and recorded. The one way
    anything links: the sync, and verify --repair."""
    start = time.monotonic()
    pages: Iterator[dict[str, str]] = iter(())
    saving = False
    batch = limits.link_batch
    name = target.name if target is not None else None
    shown = target.album.name if target is not None else None
    if history.pending_bound(album_id, name) > limits.memory_links:  # many: page the database
        try:
            await anyio.to_thread.run_sync(history.save)  # what was recorded since then
            pages, saving = history.pending_pages(album_id, batch, name), True
        except HistoryError:
            pass  # it cannot be written (a full disk): from memory; the final save says why
    if not saving:  # one batch, or the history unwritable: what it holds, from memory
        pending = list(history.pending_links(album_id, name).items())
        pages = (dict(pending[i : i + batch]) for i in range(0, len(pending), batch))
    asked = 0
    before = report.album_linked
    for page in pages:
        asked += len(page)
        await _link_batch(client, history, album_id, page, report, retry, recover)
        if saving and history.unsaved >= limits.memory_links:  # links held: no more than that
            try:
                await anyio.to_thread.run_sync(history.save)
            except HistoryError:
                saving = False  # the pages go on; the final save tries once more, and says it
        if on_batch is not None:
            on_batch()
    linked = report.album_linked - before
    if shown is not None:
        report.albums_linked[shown] = report.albums_linked.get(shown, 0) + linked
    if asked:
        where = f" to {shown!r}" if name is not None else ""
        log.info("album: linked %s%s in %s", counted(linked, "asset"), where, ms_since(start))


async def _link_batch(
    client: ImmichCalls,
    history: History,
    album_id: str,
    pending: dict[str, str],
    report: RunReport,
    retry: RetryPolicy,
    recover: Callable[[], Awaitable[bool]] | None,
) -> None:
    by_id: dict[str, list[str]] = {}  # files with the same bytes share one asset
    for rel, asset_id in pending.items():
        by_id.setdefault(asset_id, []).append(rel)
    for asset_id in [a for a in by_id if not is_uuid(a)]:
        # No id the server gives (a history edited by hand, an older one's record): it would
        # make the server refuse the whole request. Forgotten: the next run sends the file.
        rels = by_id.pop(asset_id)
        _forget(history, report, rels)
        log.error(
            "album: the history names asset %r for %s, which is no asset id; forgotten, the "
            "next run uploads it again",
            asset_id[:40],
            names(rels),
        )
    batch = list(by_id)  # an asset shared across two pages is answered "duplicate": linked
    if not batch:
        return
    try:
        results = await with_retries(
            retry,
            "add to album",
            functools.partial(client.add_to_album, album_id, batch),
            recover,
        )
    except (TransportError, ApiError, BadAnswer) as exc:
        report.link_failed += len(batch)
        log.error(
            "album: could not add %s: %s (the next run retries)",
            counted(len(batch), "asset"),
            exc,
        )
        return
    linked: list[str] = []
    for res in results:
        rels = by_id.get(res.asset_id, [])
        if res.linked:
            linked += rels
            report.album_linked += len(rels)
        elif res.error in ("no_permission", "not_found"):
            # The asset is gone from the server (deleted, or another user's): forget it, so the
            # next run sends the file again instead of skipping it forever.
            _forget(history, report, rels)
            log.error(
                "album: asset %s of %s is not on the server any more (%s); "
                "the next run uploads it again",
                res.asset_id,
                names(rels),
                res.error,
            )
        else:
            report.link_failed += len(rels)
            log.error("album: %s not linked: %s (the next run retries)", names(rels), res.error)
    history.mark_linked(linked, album_id)  # the whole batch: one query per 500 files


def _forget(history: History, report: RunReport, rels: list[str]) -> None:
    """Files whose asset is no good for a link: the next run sends them again."""
    for rel in rels:
        history.forget(rel)
    report.link_failed += len(rels)


async def folder_albums(
    client: ImmichCalls, history: History, report: RunReport, dry_run: bool = False
) -> list[Target]:
    """The folder albums recorded assets belong in, each found by name (the oldest of that
    name) or made when missing (not in a dry run). One that cannot be made keeps its links for
    the next run, said once."""
    names = sorted(n for n in history.album_names() if n is not None)
    if not names:
        return []
    found: dict[str, Album] = {}
    for listed in sorted(await client.list_albums(), key=lambda a: a.created_at, reverse=True):
        found[listed.name] = listed  # the oldest of a name wins
    targets = []
    for name in names:
        album = found.get(name)
        if album is None and not dry_run:
            try:
                album = await client.create_album(name)
            except (TransportError, ApiError, BadAnswer) as exc:
                log.error("album: could not make %r: %s (the next run tries again)", name, exc)
                report.link_failed += history.pending_count("", name)
                continue
            log.info("created album %r (%s)", name, album.id)
        if album is not None:
            targets.append(Target(name, album))
    return targets


async def link_for_a_while(
    client: ImmichCalls,
    history: History,
    main: Album,
    report: RunReport,
    retry: RetryPolicy,
    limits: Limits,
    signals: Signals,
    failover: Failover,
) -> list[Target]:
    """The album links (each folder album's too, found or made first), bounded in time:
    ``limits.link_patience`` without a finished batch, however many batches there are; from a
    stop on (before or during the linking) ``link_after_stop`` in all, from a second one
    ``link_after_abort``. A failure is logged and left for the next run, never raised past the
    save. Returns the albums found (the main one first)."""
    limit = limits.link_patience
    stopped = False  # from a stop on, the limit is in all: the user is waiting
    targets = [Target(None, main)]

    def left() -> int:
        """What is still to link, in every album (one not found yet: all its files)."""
        found = {t.name: t.album.id for t in targets}
        names = history.album_names() | {None}
        return sum(history.pending_count(found.get(name, ""), name) for name in names)

    with anyio.move_on_after(limit) as scope:

        def hurry(seconds: float) -> None:
            nonlocal limit, stopped
            limit, stopped = min(limit, seconds), True
            scope.deadline = min(scope.deadline, anyio.current_time() + seconds)

        def batch_done() -> None:
            if not stopped:
                scope.deadline = anyio.current_time() + limit

        async def watch_stops() -> None:
            # A stop set before the linking without the run being interrupted was the uploads'
            # own (the history could not be written): not the user's, no hurry for it.
            if not signals.stop.is_set():
                await signals.stop.wait()
                hurry(limits.link_after_stop)
            await signals.abort.wait()
            hurry(limits.link_after_abort)

        if signals.abort.is_set():  # before the linking began
            hurry(limits.link_after_abort)
        elif report.interrupted:
            hurry(limits.link_after_stop)
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch_stops)
            try:
                await link_pending(
                    client,
                    history,
                    main.id,
                    report,
                    retry,
                    limits,
                    failover.recover,
                    batch_done,
                    targets[0],
                )
                folders = await with_retries(
                    retry,
                    "albums",
                    functools.partial(folder_albums, client, history, report),
                    failover.recover,
                )
                targets += folders
                for target in folders:
                    await link_pending(
                        client,
                        history,
                        target.album.id,
                        report,
                        retry,
                        limits,
                        failover.recover,
                        batch_done,
                        target,
                    )
            except UploaderError as exc:
                log.error("album: %s; the next run links what is left", exc)
                report.link_failed = left()
            tg.cancel_scope.cancel()
    if scope.cancelled_caught:
        what = "after the stop" if stopped else "for one batch"
        log.warning(
            "album: linking took over %g s %s; the next run links what is left", limit, what
        )
        report.link_failed = left()
    return targets
