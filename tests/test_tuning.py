"""IMMICH_CONCURRENCY=auto (issue 14, part 3): the streams follow what the link and the server
take: past 16 on a far server, below a small server's capacity, down at once on a busy answer."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import anyio
import pytest

from async_uploader.immich import ApiError
from async_uploader.phases.tuning import StreamTuner, is_congestion
from async_uploader.run import RunControl, sync
from async_uploader.testserver import ServerOptions, ServerThread
from async_uploader.testserver.shaping import Shaping

from .conftest import cli_env, config_for, make_files, run_cli


def ended_on(caplog: pytest.LogCaptureFixture) -> int:
    found = re.findall(r"concurrency: auto: (\d+) streams at the end", caplog.text)
    assert found, caplog.text
    return int(found[-1])


def test_auto_goes_past_16_streams_on_a_far_server(tmp_path: Path) -> None:
    """The uploader in its own process (as users run it): in-process, it and the server share
    one interpreter, and that CPU, not the round trips, would be the limit."""
    folder = tmp_path / "f"
    make_files(folder, [f"s{i:03d}.png" for i in range(400)], size=20_000)
    log = tmp_path / "run.log"
    with ServerThread(ServerOptions(port=0, shaping=Shaping(latency_ms=60))) as srv:
        r = run_cli(["--quiet"], cli_env(srv, folder, IMMICH_LOG_FILE=str(log)), tmp_path)
        assert r.returncode == 0, r.stderr
        assert srv.stats()["created"] == 400
    text = log.read_text()
    # 16 streams at 60 ms do about 266 files a second; more streams only wait out more round trips.
    found = re.findall(r"concurrency: auto: (\d+) streams at the end", text)
    assert found and int(found[-1]) > 16, text[-3000:]
    assert re.search(r"concurrency: 4 -> 8 streams: .* of work at 4", text)


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
