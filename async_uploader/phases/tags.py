"""Tagging: every asset a run uploaded or found on the server gets the run's tags (IMMICH_TAGS,
the session tag), in a few requests at the end, like the album links.

The history keeps the (tag, asset) pairs until the server has answered for them, so a crash or
a server that is away leaves them for the next run, which puts them with its own. The tags are
made first (``PUT /tags``: idempotent, "/" makes the parents), then put on the assets of the same
tags together (``PUT /tags/assets``, a batch of assets at a time). A key without the tag
permissions gets one warning per run, and the run goes on: tags are never worth a failed run.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable

import anyio

from ..control import Signals
from ..errors import HistoryError, UploaderError
from ..immich import ApiError, BadAnswer, Kind, TransportError
from ..limits import Limits
from ..outcomes import RunReport
from ..retry import RetryPolicy, with_retries
from ..store import History
from ..text import counted
from .calls import ImmichCalls

log = logging.getLogger(__name__)

NOT_ALLOWED = (
    "tags: the API key may not tag ({why}); {n} keep their tags for a later run "
    "(give the key the tag.create and tag.asset permissions, or unset IMMICH_TAGS and "
    "IMMICH_SESSION_TAG)"
)


async def put_tags(
    client: ImmichCalls,
    history: History,
    report: RunReport,
    retry: RetryPolicy,
    limits: Limits,
    recover: Callable[[], Awaitable[bool]] | None = None,
) -> None:
    """Every pending tag on its assets; what could not be put stays pending (said once)."""
    # The pairs recorded since, saved: they are paged below. Unwritable (the final save says
    # why): nothing is lost, they wait.
    with contextlib.suppress(HistoryError):
        await anyio.to_thread.run_sync(history.save)
    values = history.tag_values()
    if not values:
        return
    try:
        await _put(client, history, report, retry, limits, values, recover)
    except ApiError as exc:
        _cannot(history, report, exc)
        return
    except (TransportError, BadAnswer) as exc:
        report.tags_pending = history.tags_pending_count()
        log.error("tags: %s (the next run tries again)", exc)
        return
    with contextlib.suppress(HistoryError):  # so that what is left is counted on disk
        await anyio.to_thread.run_sync(history.save)
    report.tags_pending = history.tags_pending_count()
    if report.tagged:
        log.info("tags: %s tagged %s", counted(report.tagged, "asset"), ", ".join(values))


async def _put(
    client: ImmichCalls,
    history: History,
    report: RunReport,
    retry: RetryPolicy,
    limits: Limits,
    values: list[str],
    recover: Callable[[], Awaitable[bool]] | None,
) -> None:
    """The tags made, then put on their assets, a request per batch of assets with the same
    tags; each answered batch no longer pending. Raises what the server did wrong."""
    ids = await with_retries(retry, "tags", functools.partial(client.upsert_tags, values), recover)
    missing = [v for v in values if v not in ids]
    if missing:
        log.error("tags: the server did not make %s; they wait", ", ".join(map(repr, missing)))
    for page in history.tag_pages(limits.link_batch):
        groups: dict[frozenset[str], list[str]] = {}
        for asset_id, tags in page.items():
            groups.setdefault(tags, []).append(asset_id)
        for tags, assets in groups.items():
            known = sorted(t for t in tags if t in ids)
            if known:
                put = functools.partial(client.tag_assets, [ids[t] for t in known], assets)
                await with_retries(retry, "tag assets", put, recover)
                history.tags_done((t, a) for a in assets for t in known)
                report.tagged += len(assets)


def _cannot(history: History, report: RunReport, exc: ApiError) -> None:
    report.tags_pending = history.tags_pending_count()
    n = counted(report.tags_pending, "asset")
    if exc.kind is Kind.FORBIDDEN:
        log.warning(NOT_ALLOWED.format(why=exc.message, n=n))
    else:
        log.error("tags: %s; %s keep their tags for the next run", exc, n)


async def tag_for_a_while(
    client: ImmichCalls,
    history: History,
    report: RunReport,
    retry: RetryPolicy,
    limits: Limits,
    signals: Signals,
    recover: Callable[[], Awaitable[bool]] | None = None,
) -> None:
    """``put_tags`` within ``limits.link_patience`` (the save must not wait on tags), cut to
    ``link_after_stop`` from a stop and ``link_after_abort`` from a second one, as the linking
    is; what is left waits for the next run."""
    with anyio.move_on_after(limits.link_patience) as scope:

        def hurry(seconds: float) -> None:
            scope.deadline = min(scope.deadline, anyio.current_time() + seconds)

        async def watch_stops() -> None:
            await signals.stop.wait()
            hurry(limits.link_after_stop)
            await signals.abort.wait()
            hurry(limits.link_after_abort)

        if signals.abort.is_set():
            hurry(limits.link_after_abort)
        elif report.interrupted or signals.stop.is_set():
            hurry(limits.link_after_stop)
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch_stops)
            try:
                await put_tags(client, history, report, retry, limits, recover)
            except UploaderError as exc:
                log.error("tags: %s; the next run tags what is left", exc)
            tg.cancel_scope.cancel()
    if scope.cancelled_caught:
        report.tags_pending = history.tags_pending_count()
        log.warning("tags: not all put in time; the next run tags what is left")
