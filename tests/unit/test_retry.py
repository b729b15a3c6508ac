"""The retry policy, with its waits recorded instead of slept: what is retried and how often, a
reused socket the server closed retried at once, Retry-After honoured up to its cap, the other
URL tried at once when the server is gone, and a budget no request's waits ever pass."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from async_uploader.immich import ApiError, BadAnswer, ImmichError, Kind, TransportError
from async_uploader.retry import RetryPolicy, is_retryable, with_retries


def policy(waits: list[float], **kw: object) -> RetryPolicy:
    """A policy that records each wait and moves its clock on by it (no time passes)."""
    now = [0.0]

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    return RetryPolicy(sleep=sleep, jitter=lambda: 1.0, clock=lambda: now[0], **kw)  # type: ignore[arg-type]


def failing(*errors: BaseException, then: str = "ok") -> Callable[[], Awaitable[str]]:
    """A call that raises each of ``errors`` in turn, then answers ``then``."""
    left = list(errors)

    async def call() -> str:
        if left:
            raise left.pop(0)
        return then

    return call


def api(status: int, retry_after: float | None = None) -> ApiError:
    return ApiError("POST", "/api/assets", status, "m", retry_after)


def down(kind: Kind = Kind.CONNECT) -> TransportError:
    return TransportError("GET", "/api/x", "connection refused", kind)


def test_the_one_predicate() -> None:
    assert all(is_retryable(e) for e in (api(500), api(503), api(429), api(408), down()))
    assert not any(is_retryable(e) for e in (api(400), api(404), api(413), api(403)))
    assert not is_retryable(BadAnswer("GET", "/api/x", "garbage"))
    assert not is_retryable(ValueError("not ours"))


@pytest.mark.anyio
async def test_a_retryable_failure_is_retried_with_growing_waits() -> None:
    waits: list[float] = []
    result = await with_retries(policy(waits), "x", failing(api(500), down(), api(503)))
    assert result == "ok" and waits == [0.5, 1.0, 2.0]  # equal jitter at its top: the backoff


@pytest.mark.anyio
async def test_the_retries_run_out() -> None:
    waits: list[float] = []
    with pytest.raises(ApiError):
        await with_retries(policy(waits, retries=2), "x", failing(*[api(502)] * 3))
    assert len(waits) == 2


@pytest.mark.anyio
async def test_a_final_refusal_is_never_retried() -> None:
    waits: list[float] = []
    with pytest.raises(ApiError) as caught:
        await with_retries(policy(waits), "x", failing(api(413), api(500)))
    assert caught.value.kind is Kind.TOO_LARGE and waits == []


@pytest.mark.anyio
async def test_a_closed_idle_socket_is_retried_at_once_and_only_once_for_free() -> None:
    waits: list[float] = []
    idle = TransportError("POST", "/api/assets", "server closed the connection", Kind.CLOSED_IDLE)
    again = TransportError("POST", "/api/assets", "server closed the connection", Kind.CLOSED_IDLE)
    assert await with_retries(policy(waits, retries=0), "x", failing(idle)) == "ok"
    assert waits == []  # no wait, and no attempt counted (retries=0)
    with pytest.raises(TransportError):
        await with_retries(policy(waits, retries=0), "x", failing(idle, again))


@pytest.mark.anyio
async def test_retry_after_is_honoured_up_to_its_cap() -> None:
    waits: list[float] = []
    await with_retries(policy(waits, budget=1000), "x", failing(api(503, 7.0), api(429, 1e9)))
    assert waits == [7.0, 300.0]


@pytest.mark.anyio
async def test_the_budget_ends_a_request_whose_waits_would_pass_it() -> None:
    """Five Retry-After waits of 300 s each would hold an upload slot for 25 minutes: the budget
    (300 s of waits per request) lets the first wait happen and not the second."""
    waits: list[float] = []
    with pytest.raises(ApiError):
        await with_retries(policy(waits), "x", failing(*[api(503, 300.0)] * 6))
    assert waits == [300.0]
    small: list[float] = []
    tight = policy(small, budget=2.0)
    with pytest.raises(ApiError):
        await with_retries(tight, "x", failing(api(500), api(500), api(500), api(500)))
    assert small == [0.5, 1.0]  # the third wait (2 s) would have passed the 2 s budget


@pytest.mark.anyio
async def test_when_the_server_is_gone_the_other_url_is_tried_at_once() -> None:
    waits: list[float] = []
    asked: list[str] = []

    async def recover() -> bool:
        asked.append("race")
        return len(asked) == 1  # the first race finds the other URL; the second does not

    call = failing(down(), down(), down(Kind.TIMEOUT))
    assert await with_retries(policy(waits), "x", call, recover) == "ok"
    assert asked == ["race", "race", "race"] and waits == [1.0, 2.0]  # moved, then backed off
    busy: list[float] = []
    await with_retries(policy(busy), "x", failing(api(503)), recover)
    assert asked == ["race", "race", "race"] and busy == [0.5]  # a busy answer: not gone


@pytest.mark.anyio
async def test_the_test_policy_waits_for_nothing() -> None:
    quick = RetryPolicy.immediate(3)
    assert await with_retries(quick, "x", failing(api(500), api(500), api(500))) == "ok"
    with pytest.raises(ImmichError):
        await with_retries(RetryPolicy.immediate(0), "x", failing(api(500)))
