"""Linking: every recorded asset not yet in the album, in batches; an asset the server lost is
forgotten so that the next run sends the file again.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING

import anyio

from ..errors import ApiError, BadAnswer, HistoryError, TransportError, UploaderError
from ..immich import ImmichClient
from ..outcomes import RunReport, counted
from ..retry import RetryPolicy, with_retries
from ..store import History
from . import ms_since, names
from .connect import Failover

if TYPE_CHECKING:
    from ..run import RunControl

log = logging.getLogger(__name__)

# Ids per album request; split only past this. A request of 10,000, its answer and the page of
# the history behind it held 7 MB at once, the biggest part of a backfill's peak memory; 2,000
# cost a few more round trips (500 for a million files, not 100).
LINK_BATCH = 2_000
# Up to this many links wait: read from the history's memory, as a small run has them, without
# the saves that paging from the database needs (one before, one per page).
MEMORY_LINKS = 10_000
# How long linking may go without finishing a batch. A backfill of a million is 500 batches, which a
# real server takes about a minute for (58 s on the test server), so the limit is not on the whole.
LINK_PATIENCE = 60.0
LINK_AFTER_STOP = 15.0  # in all, from a stop (the first Ctrl-C)
LINK_AFTER_ABORT = 5.0  # in all, from a second one


async def link_pending(
    client: ImmichClient,
    history: History,
    album_id: str,
    report: RunReport,
    retry: RetryPolicy,
    recover: Callable[[], Awaitable[bool]] | None = None,
    on_batch: Callable[[], None] | None = None,
) -> None:
    """Every recorded asset not yet in the album, in batches of LINK_BATCH; past MEMORY_LINKS read
    from the history a batch at a time and saved after each (a backfill of a million is never all in
    memory); ``on_batch`` is called after each batch is answered and recorded."""
    start = time.monotonic()
    pages: Iterator[dict[str, str]] = iter(())
    saving = False
    if history.pending_bound(album_id) > MEMORY_LINKS:  # many: page the database
        try:
            await anyio.to_thread.run_sync(history.save)  # what was recorded since then
            pages, saving = history.pending_pages(album_id, LINK_BATCH), True
        except HistoryError:
            pass  # it cannot be written (a full disk): from memory; the final save says why
    if not saving:  # one batch, or the history unwritable: what it holds, from memory
        pending = list(history.pending_links(album_id).items())
        pages = (dict(pending[i : i + LINK_BATCH]) for i in range(0, len(pending), LINK_BATCH))
    asked = 0
    for page in pages:
        asked += len(page)
        await _link_batch(client, history, album_id, page, report, retry, recover)
        if saving:
            try:
                await anyio.to_thread.run_sync(history.save)
            except HistoryError:
                saving = False  # the pages go on; the final save tries once more, and says it
        if on_batch is not None:
            on_batch()
    if asked:
        log.info("album: linked %s in %s", counted(report.album_linked, "asset"), ms_since(start))


async def _link_batch(
    client: ImmichClient,
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
    batch = list(by_id)  # an asset shared across two pages is answered "duplicate": linked
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
            for rel in rels:
                history.forget(rel)
            report.link_failed += len(rels)
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


async def link_for_a_while(
    client: ImmichClient,
    history: History,
    album_id: str,
    report: RunReport,
    retry: RetryPolicy,
    control: RunControl,
    failover: Failover,
) -> None:
    """The album links, bounded in time: LINK_PATIENCE without a finished batch, however many
    batches there are; from a stop on (before or during the linking) LINK_AFTER_STOP in all,
    from a second one LINK_AFTER_ABORT. A failure is logged and left for the next run, never
    raised past the save."""
    limit = LINK_PATIENCE
    stopped = False  # from a stop on, the limit is in all: the user is waiting

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
            if control.stop is not None and not control.stop.is_set():
                await control.stop.wait()
                hurry(LINK_AFTER_STOP)
            if control.abort is not None:
                await control.abort.wait()
                hurry(LINK_AFTER_ABORT)

        if control.abort is not None and control.abort.is_set():  # before the linking began
            hurry(LINK_AFTER_ABORT)
        elif report.interrupted:
            hurry(LINK_AFTER_STOP)
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch_stops)
            try:
                await link_pending(
                    client, history, album_id, report, retry, failover.recover, batch_done
                )
            except UploaderError as exc:
                log.error("album: %s; the next run links what is left", exc)
                report.link_failed = history.pending_count(album_id)
            tg.cancel_scope.cancel()
    if scope.cancelled_caught:
        what = "after the stop" if stopped else "for one batch"
        log.warning(
            "album: linking took over %g s %s; the next run links what is left", limit, what
        )
        report.link_failed = history.pending_count(album_id)
