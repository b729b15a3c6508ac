"""The health race: ping every configured URL at once; the local one wins if it answers in time.

Happy-eyeballs style (anyio's connect does the same): all probes start in one task group and the
decision cancels the rest. Knows only base URLs and the ``ping`` call of the Immich client.
"""

from __future__ import annotations

import logging
import time

import anyio

from .errors import ApiError, Redirected, ServerUnreachable, TransportError
from .immich import ImmichClient, Session, ping

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
        except TransportError as exc:
            ok[role] = False
            why[role] = exc.reason
        except Redirected as exc:  # not this URL, but the other one may do
            ok[role] = False
            why[role] = str(exc).removeprefix(url + " ")
        except ApiError as exc:
            ok[role] = False
            why[role] = exc.message if exc.status == 200 else f"HTTP {exc.status}"
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
        client: ImmichClient,
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


__all__ = ["Failover", "choose_server"]
