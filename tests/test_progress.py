"""Progress: a bar on a terminal, lines in a log, nothing extra on stdout (issue 5, item 2)."""

from __future__ import annotations

import hashlib
import json
import os
import pty
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from async_uploader.config import Config, Secret
from async_uploader.progress import Snapshot
from async_uploader.retry import RetryPolicy
from async_uploader.run import RunControl, sync
from async_uploader.testserver import ServerOptions, ServerThread, Shaping
from async_uploader.testserver.state import Asset

from .conftest import cli_env, make_files


def test_bar_on_a_terminal_and_one_json_object_on_stdout(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    make_files(folder, [f"s{i}.png" for i in range(8)], size=150_000)
    with ServerThread(ServerOptions(port=0, shaping=Shaping(bandwidth_kbps=4_000))) as srv:
        master, slave = pty.openpty()
        proc = subprocess.Popen(
            [sys.executable, "-m", "async_uploader", "--json"],
            env=cli_env(srv, folder),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=slave,
            text=True,
        )
        os.close(slave)
        out, _ = proc.communicate(timeout=60)
        screen = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            screen += chunk
        os.close(master)
    assert proc.returncode == 0
    assert json.loads(out)["created"] == 8 and out.count("\n") == 1  # stdout: the JSON alone
    text = screen.decode(errors="replace")
    assert "\r\x1b[2K[" in text and "/8 files" in text and "ETA" in text
    assert "created    s0.png" in text  # log lines still shown, above the bar


@pytest.mark.anyio
async def test_progress_counts_only_the_work_left(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    make_files(folder, [f"s{i}.png" for i in range(10)], size=100_000)
    snaps: list[Snapshot] = []
    with ServerThread(ServerOptions(port=0, shaping=Shaping(bandwidth_kbps=4_000))) as srv:
        config = Config(
            folder=folder,
            api_key=Secret(srv.api_key),
            local_url=srv.url,
            external_url=None,
            album="A",
            history_file=tmp_path / "h.json",
            log_file=tmp_path / "l",
            concurrency=2,
            settle_seconds=0,
        )
        # Half the files are already on the server: they leave the total once found.
        for p in sorted(folder.iterdir())[:5]:
            srv.call(lambda s, p=p: s.state.add_asset(_asset(p)))
        t0 = time.monotonic()
        await sync(
            config,
            RunControl(
                retry=RetryPolicy.immediate(), progress_seconds=0.2, on_progress=snaps.append
            ),
        )
        elapsed = time.monotonic() - t0
    assert len(snaps) >= 3 and elapsed >= 1.0
    assert all(s.files_total == 10 for s in snaps)
    assert snaps[-1].bytes_total < 600_000  # 5 files' worth, not 10
    sent = [s.bytes_sent for s in snaps]
    assert sent == sorted(sent) and sent[-1] > 0
    assert "files" in snaps[-1].line() and "/s" in snaps[-1].line()


def _asset(path: Path) -> Asset:
    """An asset already on the server with this file's bytes (uploaded by someone else)."""
    data = path.read_bytes()
    return Asset(
        id=str(uuid.uuid4()),
        checksum=hashlib.sha1(data).hexdigest(),
        original_file_name=path.name,
        device_asset_id=None,
        device_id=None,
        file_created_at="2024-05-01T12:00:00.000Z",
        file_modified_at="2024-05-01T12:00:00.000Z",
        local_date_time="2024-05-01T12:00:00.000Z",
        time_zone=None,
        size=len(data),
        type="IMAGE",
        mime_type="image/png",
        created_at="2024-05-01T12:00:00.000Z",
        updated_at="2024-05-01T12:00:00.000Z",
    )


def test_no_progress_and_snapshot_text() -> None:
    snap = Snapshot(
        files_done=3,
        files_total=10,
        bytes_done=3_000_000,
        bytes_total=10_000_000,
        bytes_sent=3_000_000,
        elapsed=3.0,
        rate=1_000_000,
    )
    assert snap.eta == 7.0
    assert snap.line() == "progress: 3/10 files, 3.0 MB of 10.0 MB, 1.0 MB/s, about 0:07 left"
    bar = snap.bar(80)
    assert bar.startswith("[") and len(bar) < 80 and "ETA 0:07" in bar


def test_the_rate_leaves_out_the_buffer_burst_and_waits_before_promising() -> None:
    """On a 500 kB/s link, 2 MB go into the socket buffers in the first half second: the old
    average (bytes handed over / elapsed) said 4 MB/s there and 0.9 MB/s after 3 s. The window
    says nothing for the first 5 s, then the link's rate; and on what finished when files do."""
    from async_uploader.progress import Rate

    link = 500_000
    rate = Rate()
    shown = []
    for tenth in range(1, 121):
        t = tenth / 10
        sent = 2_000_000 + int(link * t)  # the burst, then the link's pace
        done = max(0, int(link * (t - 4)) // 250_000 * 250_000)  # 250 kB files finish from 4 s
        files = done // 250_000
        shown.append((t, rate.add(t, sent, done, files)))
    assert all(r is None for t, r in shown if t < 5)
    later = [r for t, r in shown if t >= 5]
    assert all(r is not None and 0.8 * link <= r <= 1.2 * link for r in later), later
    one_file = Rate()  # one big file: nothing finishes, the sockets' pace is the measure
    rates = [one_file.add(t, 2_000_000 + link * t, 0, 0) for t in range(1, 13)]
    assert rates[:4] == [None] * 4 and all(r == pytest.approx(link) for r in rates[4:])
    snap = Snapshot(1, 4, 0, 4_000_000, 2_000_000, elapsed=1.0, rate=None)
    assert snap.eta is None and "? B/s" in snap.line() and "ETA ?" in snap.bar(100)


def test_log_file_rotates_at_its_size_and_keeps_three(tmp_path: Path) -> None:
    """The log rotates by the size it counts itself (the stdlib's check cost 0.25 ms a line)."""
    import logging

    from async_uploader.logsetup import RotatingLog

    path = tmp_path / "immich_backup.log"
    path.write_text("x" * 150 + "\n")  # an earlier run's lines count towards the limit
    handler = RotatingLog(path, max_bytes=400, backups=3)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("test-rotation")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        for i in range(60):
            logger.warning("line %02d %s", i, "y" * 40)
    finally:
        logger.removeHandler(handler)
        handler.close()
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept == [
        "immich_backup.log",
        "immich_backup.log.1",
        "immich_backup.log.2",
        "immich_backup.log.3",
    ]
    assert all(p.stat().st_size <= 400 + 60 for p in tmp_path.iterdir())
    assert "line 59" in path.read_text()
