"""What is retried, and how long to wait: one predicate, one policy, injected (tests pass zero
waits).

Retried: what ``immich.Kind.retryable`` says (no answer at all; 5xx, 408, 429). Never: other 4xx,
an answer of the wrong shape, a redirect. A keep-alive socket the server closed while idle is
retried at once, without counting an attempt. A request stops on its attempts *and* on a total
time budget, so one file cannot hold an upload slot for five long Retry-After waits.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import anyio

from .immich import ApiError, ImmichError, Kind

log = logging.getLogger(__name__)
T = TypeVar("T")


def is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, ImmichError) and exc.retryable


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 5  # attempts after the first
    base: float = 0.5  # first backoff, seconds
    cap: float = 30.0  # longest backoff
    max_retry_after: float = 300.0  # longest Retry-After we honour
    # The most one request may take in waits between its attempts: a wait that would pass it
    # is not made, and the last failure stands (the file is tried again by the next run).
    budget: float = 300.0
    sleep: Callable[[float], Awaitable[None]] = field(default=anyio.sleep)
    jitter: Callable[[], float] = field(default=random.random)
    clock: Callable[[], float] = field(default=time.monotonic)

    def delay(self, attempt: int, exc: BaseException) -> float:
        if isinstance(exc, ApiError) and exc.retry_after is not None:
            return float(min(exc.retry_after, self.max_retry_after))
        backoff = min(self.cap, self.base * (2**attempt))
        return float(backoff * (0.5 + self.jitter() / 2))  # "equal jitter"

    @classmethod
    def immediate(cls, retries: int = 5) -> RetryPolicy:
        """No waiting at all: for tests."""

        async def no_sleep(_: float) -> None:
            await anyio.lowlevel.checkpoint()

        return cls(retries=retries, sleep=no_sleep)


async def with_retries(
    policy: RetryPolicy,
    what: str,
    call: Callable[[], Awaitable[T]],
    recover: Callable[[], Awaitable[bool]] | None = None,
) -> T:
    """``call()`` until it succeeds, fails for good, or the retries or the budget run out.

    ``recover`` is asked, after a failure that says the server is gone, to find it again (the
    health race over every configured URL); when it switched to another URL the retry goes there
    at once instead of waiting out the backoff.
    """
    attempt = 0
    waited = 0.0
    free_idle_retry = True
    while True:
        try:
            return await call()
        except ImmichError as exc:
            if not exc.retryable:
                raise
            if exc.kind is Kind.CLOSED_IDLE and free_idle_retry:
                free_idle_retry = False
                log.debug("%s: %s; retrying at once on a fresh connection", what, exc.reason)
                continue
            if attempt >= policy.retries:
                raise
            attempt += 1
            if exc.server_gone and recover is not None:
                began = policy.clock()
                moved = await recover()
                waited += policy.clock() - began
                if moved:
                    log.info("%s: %s; retry %d/%d now", what, exc, attempt, policy.retries)
                    continue
            wait = policy.delay(attempt - 1, exc)
            if waited + wait > policy.budget:
                log.info(
                    "%s: %s; not retried: a wait of %.0f s would pass the %.0f s budget",
                    what,
                    exc,
                    wait,
                    policy.budget,
                )
                raise
            log.info("%s: %s; retry %d/%d in %.1f s", what, exc, attempt, policy.retries, wait)
            waited += wait
            await policy.sleep(wait)
