"""--max-rate: one cap on the upload bytes of every stream together."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from async_uploader.run import RunControl, sync
from async_uploader.testserver import ServerOptions, ServerThread

from ..support import cli_env, config_for, make_files, run_cli


def test_a_bad_rate_is_one_line_and_exit_2(
    server: ServerThread, shots: Path, tmp_path: Path
) -> None:
    r = run_cli([], cli_env(server, shots, IMMICH_MAX_RATE="2Mb"), tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "IMMICH_MAX_RATE '2Mb' is ambiguous" in r.stderr
    r = run_cli(["--max-rate", "lots"], cli_env(server, shots), tmp_path)
    assert r.returncode == 2 and "--max-rate must be a rate" in r.stderr
    assert server.stats()["requests"].get("POST /api/assets", 0) == 0


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("sizes", "rate", "streams"),
    [
        # 64 streams at once, each waiting its turn for up to ~2.6 s, against a stall limit of
        # 1 s: waiting under the cap is not a stall, so no upload is cut off and retried.
        ([8_000] * 64, 200_000, 64),
        # A file past SMALL_FILE is streamed from disk: the cap holds there too.
        ([1_500_000, 20_000, 20_000, 20_000], 600_000, 16),
    ],
    ids=["many-small", "one-streamed"],
)
async def test_a_run_under_a_cap_takes_at_least_its_bytes_over_the_rate(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    sizes: list[int],
    rate: int,
    streams: int,
) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    for i, size in enumerate(sizes):
        make_files(folder, [f"s{i:02d}.png"], size=size, start_seed=i)
    with ServerThread(ServerOptions(port=0)) as srv:
        config = config_for(
            srv.url,
            srv.api_key,
            folder,
            tmp_path,
            max_rate=float(rate),
            concurrency=streams,
            stall_timeout=1.0,
        )
        started = time.monotonic()
        with caplog.at_level(logging.INFO):
            report = await sync(config, RunControl(progress_seconds=0))
        took = time.monotonic() - started
        stats = srv.stats()
    assert report.ok and report.created == len(sizes)
    assert stats["requests"]["POST /api/assets"] == len(sizes)
    assert "retry" not in caplog.text and "no progress" not in caplog.text  # no stall, no retry
    assert f"uploads: capped at {rate / 1000:.1f} kB per second in all" in caplog.text
    body = stats["upload_body_bytes"]  # file bytes and the multipart around them
    assert body > sum(sizes)
    assert took >= body / rate, (took, body / rate)
    assert took < 60
