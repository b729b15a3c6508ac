"""Connecting: the health race (every configured URL pinged at once; the local one wins if it
answers in time, happy-eyeballs style, as anyio's connect does), the move to another URL when
the one in use stops answering, and the first requests of a run (key, file types, version,
album), all at once.
"""

from __future__ import annotations

import functools
import logging
import time

import anyio

from ..config import Config
from ..errors import ServerUnreachable, plain_errors
from ..immich import Album, ImmichClient, ImmichError, MediaTypes, Session, ping
from ..outcomes import RunReport
from ..retry import RetryPolicy, with_retries
from ..text import ms_since
from .calls import ImmichCalls

log = logging.getLogger(__name__)


async def choose_server(session: Session, urls: list[tuple[str, str, float]]) -> str:
    """The base URL to use. ``urls`` is (role, url, timeout), local first; raises ServerUnreachable."""
    ok: dict[str, bool] = {}
    why: dict[str, str] = {}
    chosen: list[str] = []
    start = time.monotonic()

    def decide(tg: anyio.abc.TaskGroup) -> None:
        # Preference order is the order given: an earlier URL wins if it answers within its
        # timeout, a later one only once every earlier one has failed.
        for role, url, _ in urls:
            if role not in ok:
                return  # still waiting for a preferred URL
            if ok[role]:
                chosen.append(url)
                tg.cancel_scope.cancel()
                return

    async def probe(tg: anyio.abc.TaskGroup, role: str, url: str, timeout: float) -> None:
        try:
            with anyio.fail_after(timeout):
                await ping(session, url)
            ok[role] = True
            log.debug("%s URL %s answered in %.0f ms", role, url, (time.monotonic() - start) * 1000)
        except TimeoutError:
            ok[role] = False
            why[role] = f"timed out after {timeout:g} s"
        except ImmichError as exc:  # refused, a redirect, a page that is not Immich's
            ok[role] = False
            why[role] = exc.reason
        decide(tg)

    async with anyio.create_task_group() as tg:
        for role, url, timeout in urls:
            tg.start_soon(probe, tg, role, url, timeout)
    if chosen:
        return chosen[0]
    lines = "; ".join(f"{role} {url}: {why.get(role, 'no answer')}" for role, url, _ in urls)
    raise ServerUnreachable(f"no Immich server reachable ({lines})")


class Failover:
    """The server in use, and the move to another configured URL when it stops answering.

    Many uploads fail at once when the laptop leaves home; the first one to ask re-runs the health
    race, the others wait for it and then use what it found.
    """

    def __init__(
        self,
        session: Session,
        urls: list[tuple[str, str, float]],
        client: ImmichCalls,
    ) -> None:
        self.session = session
        self.urls = urls
        self.client = client
        self._lock = anyio.Lock()

    async def recover(self) -> bool:
        """True when a server answers again (perhaps at another URL), False when none does."""
        failed = self.client.base_url
        async with self._lock:
            if self.client.base_url != failed:
                return True  # another task already moved us
            try:
                url = await choose_server(self.session, self.urls)
            except ServerUnreachable as exc:
                log.debug("server: %s", exc)  # each retry says so already
                return False
            if url != failed:
                log.warning("server: %s stopped answering; carrying on with %s", failed, url)
                self.client.switch(url)
                return True
            return False  # the same URL answers pings: not a move, back off as usual


async def resolve_album(client: ImmichCalls, name: str, create: bool) -> Album | None:
    """The album with exactly this name (the oldest if several); created when missing."""
    albums = [a for a in await client.list_albums() if a.name == name]
    if albums:
        albums.sort(key=lambda a: a.created_at)
        if len(albums) > 1:
            log.warning(
                "%d albums are named %r; using the oldest (%s, created %s)",
                len(albums),
                name,
                albums[0].id,
                albums[0].created_at,
            )
        return albums[0]
    if not create:
        return None
    album = await client.create_album(name)
    log.info("created album %r (%s)", name, album.id)
    return album


async def connect_phase(
    session: Session, config: Config, retry: RetryPolicy, report: RunReport
) -> tuple[ImmichClient, Failover, MediaTypes, Album | None, float]:
    """The health race, the key, the server's file types, the album; and how long the fastest
    of the first requests took (a round trip, and the server's least work)."""
    start = time.monotonic()
    base_url = await choose_server(session, config.urls)
    role = "local" if base_url == config.local_url else "external"
    log.info("server: %s (%s) answered in %s", base_url, role, ms_since(start))
    report.server_url = base_url
    client = ImmichClient(
        session,
        base_url,
        config.api_key,
        config.stall_timeout,
        config.request_timeout,
        config.max_rate,
        config.admin_key,
    )
    failover = Failover(session, config.urls, client)
    # The key, the file types, the version (what uploads send) and the album at once: one round
    # trip of latency, not four.
    start = time.monotonic()
    media: list[MediaTypes] = []
    albums: list[Album | None] = []
    trips: list[float] = []  # seconds each single request took: the round trip, and a little

    async def key() -> None:
        await with_retries(retry, "check key", client.check_key, failover.recover)
        trips.append(time.monotonic() - start)

    async def types() -> None:
        media.append(await with_retries(retry, "media types", client.media_types, failover.recover))
        trips.append(time.monotonic() - start)

    async def version() -> None:
        major, minor, patch = await with_retries(retry, "version", client.version, failover.recover)
        trips.append(time.monotonic() - start)
        log.info("server: Immich %d.%d.%d", major, minor, patch)

    async def find_album() -> None:
        find = functools.partial(resolve_album, client, config.album, create=not config.dry_run)
        albums.append(await with_retries(retry, "album", find, failover.recover))

    # A rejected key says so, whichever of the requests noticed first; any other error says
    # what it is (a redirect, a page that is not Immich's, a timeout).
    with plain_errors():
        async with anyio.create_task_group() as tg:
            for step in (key, types, version, find_album):
                tg.start_soon(step)
    album = albums[0]
    if album is None:
        log.info("album: %r does not exist yet (a real run creates it)", config.album)
    else:
        report.album_id = album.id
        log.info("album: %r is %s (%s)", config.album, album.id, ms_since(start))
    return client, failover, media[0], album, min(trips)
