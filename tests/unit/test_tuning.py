"""The tuner's rules, fed measurements directly: back off on a busy answer (not a 500), keep a step
that pays, look further up and keep it only when it pays."""

from __future__ import annotations

import anyio
import pytest

from async_uploader.immich import ApiError
from async_uploader.phases.tuning import StreamTuner, is_congestion


@pytest.mark.anyio
async def test_the_tuner_backs_off_on_a_busy_answer_and_not_on_a_500() -> None:
    limiter = anyio.CapacityLimiter(64)
    tuner = StreamTuner(limiter, 64, start=32)
    assert limiter.total_tokens == 32
    assert not is_congestion(ApiError("POST", "/assets", 500, "Internal server error"))
    tuner.failed(ApiError("POST", "/assets", 500, "Internal server error"))
    assert tuner.streams == 32  # a file the server failed on, not load
    tuner.failed(ApiError("POST", "/assets", 503, "busy"))
    assert tuner.streams == limiter.total_tokens == 22 and tuner.ceiling == 32
    tuner.failed(ApiError("POST", "/assets", 503, "busy"))
    assert tuner.streams == 22  # once per window: the rest were in flight at 32
    assert all(
        is_congestion(ApiError("POST", "/assets", s, "x")) for s in (408, 429, 502, 503, 504)
    )


@pytest.mark.anyio
async def test_the_tuner_keeps_a_step_that_helped_and_drops_one_that_did_not() -> None:
    limiter = anyio.CapacityLimiter(64)
    tuner = StreamTuner(limiter, 64, start=8)
    tuner.decide(8, 1_000_000.0, 0.06)
    assert tuner.streams == 16  # the first window: double
    tuner.decide(16, 1_950_000.0, 0.06)
    assert tuner.streams == 32  # 1.95x: in proportion, double again
    tuner.decide(32, 2_535_000.0, 0.09)  # 1.3x for twice the streams, and uploads slower
    assert not tuner.settled and tuner.streams == 32  # once more, against 16 again
    tuner.decide(32, 2_145_000.0, 0.09)  # the two together: 1.2x
    assert tuner.settled and tuner.streams == limiter.total_tokens == 32
    assert "1.20x the work at 16" in tuner.why

    flat = StreamTuner(anyio.CapacityLimiter(64), 64, start=4)
    flat.decide(4, 5_000_000.0, 0.01)
    flat.decide(8, 5_100_000.0, 0.02)  # no better: measured again
    flat.decide(8, 9_500_000.0, 0.01)  # the first window was unlucky: up it goes
    assert not flat.settled and flat.streams == 16
    flat.decide(16, 9_600_000.0, 0.02)
    flat.decide(16, 9_400_000.0, 0.02)  # no better, twice: the lower level
    assert flat.settled and flat.streams == 8

    far = StreamTuner(anyio.CapacityLimiter(64), 64, start=8)
    far.decide(8, 1_000_000.0, 0.06)
    far.decide(16, 1_300_000.0, 0.062)  # a low window, but each upload no slower: no queue yet
    assert not far.settled and far.streams == 32 and "no slower" in far.why


@pytest.mark.anyio
async def test_a_look_further_up_is_kept_only_when_it_pays() -> None:
    tuner = StreamTuner(anyio.CapacityLimiter(64), 64, start=8)
    tuner.decide(8, 1_000_000.0, 0.04)
    tuner.decide(16, 1_100_000.0, 0.08)
    tuner.decide(16, 1_100_000.0, 0.08)
    assert tuner.settled and tuner.streams == 16  # 1.1x: kept
    tuner._quiet_since -= 60  # settled and quiet for a minute: it looks a quarter further up
    tuner.decide(16, 1_100_000.0, 0.08)
    assert not tuner.settled and tuner.streams == 20
    tuner.decide(20, 1_150_000.0, 0.10)
    tuner.decide(20, 1_150_000.0, 0.10)  # 1.05x for a quarter more: not enough to keep
    assert tuner.settled and tuner.streams == 16 and "not worth the extra streams" in tuner.why


def test_where_auto_starts() -> None:
    """A far server starts near its level (a stream per 2 ms of the first requests' round
    trip), a near one at 4, and a server this URL's last run measured at that run's level."""
    from async_uploader.phases.tuning import first_level

    assert first_level(0.003, None, 64) == (4, "a near server")
    assert first_level(0.061, None, 64) == (30, "a round trip of 61 ms")
    assert first_level(0.5, None, 64)[0] == 64  # no further than the most allowed
    assert first_level(None, None, 64) == (4, "a near server")
    assert first_level(0.061, 12, 64) == (12, "where the last run at this URL ended")
    assert first_level(0.003, 200, 64)[0] == 64


def test_the_last_level_is_remembered_per_url_for_a_while() -> None:
    from async_uploader.phases.tuning import REMEMBERED_DAYS, remember, remembered

    now = 1_000_000_000.0
    levels = remember({}, "http://lan", 16, now)
    levels = remember(levels, "https://far", 40, now + 1)
    assert remembered(levels, "http://lan", now + 10) == 16
    assert remembered(levels, "https://far", now + 10) == 40
    assert remembered(levels, "http://other", now) is None
    assert remembered(levels, "http://lan", now + REMEMBERED_DAYS * 86400 + 1) is None
    for url in ("a", "b", "c", "d"):  # the four used last are kept
        levels = remember(levels, f"http://{url}", 8, now + 100)
    assert sorted(levels) == ["http://a", "http://b", "http://c", "http://d"]
    bad = {"http://lan": {"streams": "many", "at": now}, "http://x": "nonsense"}
    assert remembered(bad, "http://lan", now) is None and remembered(bad, "http://x", now) is None
