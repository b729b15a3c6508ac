"""What is retried, and how long to wait: one predicate, one policy, injected (tests pass zero waits).

Retried: transport failures (refused, reset, timed out, stalled), 5xx, 408 and 429. Never: other 4xx.
A keep-alive socket the server closed while idle is retried at once, without counting an attempt.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import anyio

from .errors import ApiError, TransportError

log = logging.getLogger(__name__)
T = TypeVar("T")


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, TransportError):
        return True
    if isinstance(exc, ApiError):
        return exc.status >= 500 or exc.status in (408, 429)
    return False


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 5  # attempts after the first
    base: float = 0.5  # first backoff, seconds
    cap: float = 30.0  # longest backoff
    max_retry_after: float = 300.0  # longest Retry-After we honour
    sleep: Callable[[float], Awaitable[None]] = field(default=anyio.sleep)
    jitter: Callable[[], float] = field(default=random.random)

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
    """``call()`` until it succeeds, fails for good, or the retries run out.

    ``recover`` is asked, after a failure that says the server is gone, to find it again (the
    health race over every configured URL); when it switched to another URL the retry goes there
    at once instead of waiting out the backoff.
    """
    attempt = 0
    free_idle_retry = True
    while True:
        try:
            return await call()
        except (TransportError, ApiError) as exc:
            if not is_retryable(exc):
                raise
            if isinstance(exc, TransportError) and exc.idle_close and free_idle_retry:
                free_idle_retry = False
                log.debug("%s: %s; retrying at once on a fresh connection", what, exc.reason)
                continue
            if attempt >= policy.retries:
                raise
            attempt += 1
            gone = isinstance(exc, TransportError) and exc.server_gone
            if gone and recover is not None and await recover():
                log.info("%s: %s; retry %d/%d now", what, exc, attempt, policy.retries)
                continue
            wait = policy.delay(attempt - 1, exc)
            log.info("%s: %s; retry %d/%d in %.1f s", what, exc, attempt, policy.retries, wait)
            await policy.sleep(wait)
