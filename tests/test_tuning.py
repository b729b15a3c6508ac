"""IMMICH_CONCURRENCY=auto (issue 14, part 3): the streams follow what the link and the server
take: past 16 on a far server, below a small server's capacity, down at once on a busy answer."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import anyio
import pytest

from async_uploader.errors import ApiError
from async_uploader.phases.tuning import StreamTuner, is_congestion
from async_uploader.run import RunControl, sync
from async_uploader.testserver import ServerOptions, ServerThread
from async_uploader.testserver.shaping import Shaping

from .conftest import config_for, make_files


def ended_on(caplog: pytest.LogCaptureFixture) -> int:
    found = re.findall(r"concurrency: auto: (\d+) streams at the end", caplog.text)
    assert found, caplog.text
    return int(found[-1])


@pytest.mark.anyio
async def test_auto_goes_past_16_streams_on_a_far_server(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "f"
    make_files(folder, [f"s{i:03d}.png" for i in range(400)], size=20_000)
    caplog.set_level(logging.INFO, logger="async_uploader")
    with ServerThread(ServerOptions(port=0, shaping=Shaping(latency_ms=60))) as srv:
        config = config_for(srv.url, srv.api_key, folder, tmp_path)
        assert config.concurrency is None  # auto is the default
        report = await sync(config, RunControl(progress_seconds=0))
    assert report.created == 400 and report.failed == 0
    # 16 streams at 60 ms do about 266 files a second; more streams only wait out more round trips.
    assert ended_on(caplog) > 16
    assert re.search(r"concurrency: 4 -> 8 streams: .* of work at 4", caplog.text)


@pytest.mark.anyio
async def test_a_small_server_is_not_flooded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """4 uploads handled at once, 8 waiting, nginx's 503 beyond: a fixed 16 is turned away
    over and over; auto stays within what the server takes."""
    folder = tmp_path / "f"
    make_files(folder, [f"s{i:03d}.png" for i in range(240)], size=20_000)
    small = Shaping(max_processing=4, processing_ms=40, queue_depth=8)
    caplog.set_level(logging.INFO, logger="async_uploader")
    with ServerThread(ServerOptions(port=0, shaping=small)) as srv:
        config = config_for(srv.url, srv.api_key, folder, tmp_path)
        report = await sync(config, RunControl(progress_seconds=0))
        stats = srv.stats()
    assert report.created == 240 and report.failed == 0
    busy, posts = stats["faults"].get("busy-503", 0), stats["requests"]["POST /api/assets"]
    assert busy <= 0.01 * posts, (busy, posts)
    assert ended_on(caplog) <= 12

    fixed = tmp_path / "fixed"
    fixed.mkdir()
    with ServerThread(ServerOptions(port=0, shaping=small)) as srv:
        config = config_for(srv.url, srv.api_key, folder, fixed, concurrency=16)
        await sync(config, RunControl(progress_seconds=0))
        assert srv.stats()["faults"].get("busy-503", 0) > 0  # the staging is real


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
async def test_the_tuner_settles_on_the_streams_the_gain_paid_for() -> None:
    limiter = anyio.CapacityLimiter(64)
    tuner = StreamTuner(limiter, 64, start=8)
    tuner.decide(8, 1_000_000.0, 0.06)
    assert tuner.streams == 16  # the first window: double
    tuner.decide(16, 1_950_000.0, 0.06)
    assert tuner.streams == 32  # 1.95x: in proportion, double again
    tuner.decide(32, 2_535_000.0, 0.09)  # 1.3x for twice the streams
    assert tuner.settled and tuner.streams == limiter.total_tokens == 21
    assert "21 streams do it" in tuner.why

    flat = StreamTuner(anyio.CapacityLimiter(64), 64, start=4)
    flat.decide(4, 5_000_000.0, 0.01)
    flat.decide(8, 5_100_000.0, 0.02)  # no better: the lower level
    assert flat.settled and flat.streams == 4
