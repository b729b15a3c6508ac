"""IMMICH_CONCURRENCY=auto (issue 14, part 3): the streams follow what the link and the server
take: past 16 on a far server, below a small server's capacity, down at once on a busy answer."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from async_uploader.run import RunControl, sync
from async_uploader.testserver import ServerOptions, ServerThread
from async_uploader.testserver.shaping import Shaping

from ..support import (
    cli_env,
    config_for,
    make_files,
    meta_record,
    run_cli,
)


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
    # Started near its level, from the first requests' round trip (60 ms and a little).
    start = re.search(r"concurrency: auto, from (\d+) streams \(a round trip of (\d+) ms\)", text)
    assert start and int(start[1]) >= 24 and 60 <= int(start[2]) < 120, text[:3000]


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
async def test_the_next_run_at_a_url_starts_where_the_last_one_ended(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The level auto concurrency ended on is kept in the history per URL: the next backfill at
    that URL starts there, not from its round trip or from 4."""
    folder = tmp_path / "f"
    make_files(folder, [f"s{i:03d}.png" for i in range(300)], size=20_000)
    caplog.set_level(logging.INFO, logger="async_uploader")
    with ServerThread(ServerOptions(port=0, shaping=Shaping(latency_ms=30))) as srv:
        config = config_for(srv.url, srv.api_key, folder, tmp_path)
        await sync(config, RunControl(progress_seconds=0))
        ended = ended_on(caplog)
        levels = meta_record(tmp_path / "history.sqlite", "streams")
        assert levels[srv.url]["streams"] == ended
        more = tmp_path / "more"
        make_files(more, [f"t{i:03d}.png" for i in range(50)], size=20_000)
        caplog.clear()
        await sync(config_for(srv.url, srv.api_key, more, tmp_path), RunControl(progress_seconds=0))
        assert (
            f"concurrency: auto, from {ended} streams (where the last run at this URL ended)"
            in caplog.text
        )
