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
from async_uploader.testserver.records import Asset

from ..support import cli_env, make_files


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
