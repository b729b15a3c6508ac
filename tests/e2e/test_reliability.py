"""Nothing lost, nothing doubled, whatever the network and the machine do (issue 4)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from async_uploader.config import Secret
from async_uploader.errors import HistoryError
from async_uploader.immich import ImmichClient, UploadRequest, open_session
from async_uploader.retry import RetryPolicy, with_retries
from async_uploader.run import RunControl, sync
from async_uploader.testserver import ServerOptions, ServerThread, Shaping

from ..support import (
    HISTORY,
    cli_env,
    config_for,
    history_integrity,
    history_records,
    make_files,
    run_cli,
    start_cli,
    wait_created,
    wait_until,
    wait_until_async,
)


def server_truth(srv: ServerThread) -> tuple[int, int, list[int]]:
    """(assets, distinct checksums, size of each album)."""
    return srv.call(
        lambda s: (
            len(s.state.assets),
            len({a.checksum for a in s.state.assets.values()}),
            [len(a.asset_ids) for a in s.state.albums.values()],
        )
    )


def assert_exactly_once(srv: ServerThread, folder: Path, history_file: Path) -> None:
    files = sorted(p for p in folder.iterdir() if p.is_file())
    want = {hashlib.sha1(p.read_bytes()).hexdigest() for p in files}
    have = srv.call(lambda s: sorted(a.checksum for a in s.state.assets.values()))
    assert sorted(want) == have  # every file once, nothing else
    album_ids = srv.call(lambda s: [set(a.asset_ids) for a in s.state.albums.values()])
    assert len(album_ids) == 1 and album_ids[0] == set(srv.call(lambda s: set(s.state.assets)))
    history = history_records(history_file)
    assert set(history) == {p.name for p in files}
    assert all(r["album_id"] for r in history.values())


@pytest.mark.anyio
async def test_500s_resets_and_stalls_over_300_files_end_exactly_once(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    make_files(folder, [f"s{i:03d}.png" for i in range(300)], size=40_000)
    shaping = Shaping(
        fail_rate=0.10,
        reset_rate=0.05,
        stall_rate=0.02,
        stall_seconds=3,
        fault_routes=frozenset({"upload", "album-add", "album-create"}),
    )
    with ServerThread(ServerOptions(port=0, shaping=shaping, seed=4)) as srv:
        config = config_for(srv.url, srv.api_key, folder, tmp_path, stall_timeout=1.0)
        report = await sync(config, RunControl(retry=RetryPolicy.immediate(10), progress_seconds=0))
        faults = srv.stats()["faults"]
        assert faults["fail"] >= 20 and faults["reset"] >= 8 and faults["stall"] >= 2, faults
        assert (report.failed, report.rejected) == (0, 0) and report.ok
        assert report.created + report.duplicates == 300 and report.album_linked == 300
        assert_exactly_once(srv, folder, tmp_path / "history.json")


@pytest.mark.anyio
@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_is_honoured(tmp_path: Path, status: int) -> None:
    folder = tmp_path / "f"
    make_files(folder, ["a.png"])
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    with ServerThread(ServerOptions(port=0)) as srv:
        srv.call(lambda s: s.script_status("upload", status, retry_after=7))
        config = config_for(srv.url, srv.api_key, folder, tmp_path)
        report = await sync(config, RunControl(retry=RetryPolicy(sleep=record), progress_seconds=0))
        assert waits == [7.0]
        assert report.created == 1 and report.ok


@pytest.mark.anyio
async def test_4xx_is_never_retried(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    make_files(folder, ["a.png", "b.png"])
    with ServerThread(ServerOptions(port=0)) as srv:
        srv.call(lambda s: s.script_status("upload", 400, message="Quota has been exceeded!"))
        config = config_for(srv.url, srv.api_key, folder, tmp_path, concurrency=1)
        report = await sync(config, RunControl(retry=RetryPolicy.immediate(), progress_seconds=0))
        assert (report.rejected, report.created) == (1, 1)
        assert srv.stats()["requests"]["POST /api/assets"] == 2
        assert "Quota has been exceeded!" in report.problems[0]


@pytest.mark.anyio
async def test_server_restarted_mid_run(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    make_files(folder, [f"s{i:02d}.png" for i in range(30)], size=60_000)
    options = ServerOptions(
        port=0, data_dir=tmp_path / "data", shaping=Shaping(bandwidth_kbps=4_000)
    )
    with ServerThread(options) as srv:
        config = config_for(srv.url, srv.api_key, folder, tmp_path, concurrency=2)
        policy = RetryPolicy(retries=60, base=0.1, cap=1.0)  # a budget far beyond the restart

        async def restart_when_busy() -> None:
            await wait_until_async(lambda: srv.stats()["created"] >= 5, what="5 created")
            await anyio.to_thread.run_sync(srv.restart)

        async with anyio.create_task_group() as tg:
            tg.start_soon(restart_when_busy)
            report = await sync(config, RunControl(retry=policy, progress_seconds=0))
        assert report.ok and report.created + report.duplicates == 30
        assert_exactly_once(srv, folder, tmp_path / "history.json")
        assert len(list((tmp_path / "data" / "upload").iterdir())) == 30


@pytest.mark.anyio
async def test_local_server_gone_mid_run_carries_on_with_external(tmp_path: Path) -> None:
    """The laptop leaves home: the LAN address stops answering, the public one still does."""
    folder = tmp_path / "f"
    make_files(folder, [f"s{i:02d}.png" for i in range(30)], size=60_000)
    with ServerThread(ServerOptions(port=0, shaping=Shaping(bandwidth_kbps=4_000))) as srv:
        local = srv.add_address()
        config = config_for(local, srv.api_key, folder, tmp_path, external_url=srv.url)
        policy = RetryPolicy(retries=5, base=5, cap=5)  # a wait would show: failover must not wait

        async def leave_home() -> None:
            await wait_until_async(lambda: srv.stats()["created"] >= 5, what="5 created")
            await anyio.to_thread.run_sync(srv.remove_address, local)

        t0 = time.monotonic()
        async with anyio.create_task_group() as tg:
            tg.start_soon(leave_home)
            report = await sync(config, RunControl(retry=policy, progress_seconds=0))
        assert report.ok and report.created + report.duplicates == 30
        assert report.server_url == srv.url
        assert time.monotonic() - t0 < 30
        assert_exactly_once(srv, folder, tmp_path / "history.json")


@pytest.mark.anyio
async def test_idle_connection_closed_by_server_is_retried_at_once(tmp_path: Path) -> None:
    """A POST on a keep-alive socket the server is closing fails; retried once, not counted."""
    shaping = Shaping(idle_reset_seconds=0.2)
    with ServerThread(ServerOptions(port=0, shaping=shaping)) as srv:
        path = make_files(tmp_path / "f", ["a.png"])[0]
        async with open_session(1, 30) as session:
            client = ImmichClient(session, srv.url, Secret(srv.api_key))
            await client.check_key()
            await anyio.sleep(0.5)  # the pooled connection is now "closing" on the server
            req = UploadRequest(
                str(path),
                "a.png",
                path.stat().st_size,
                "a",
                "d",
                "2024-05-01T12:00:00.000Z",
                "2024-05-01T12:00:00.000Z",
            )
            answer = await with_retries(
                RetryPolicy.immediate(0), "upload", lambda: client.upload(req)
            )
        assert answer.asset_id
        assert srv.stats()["faults"]["idle-reset"] == 1


def test_sigkill_at_several_points_then_rerun_finishes(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    make_files(folder, [f"s{i:02d}.png" for i in range(15)], size=100_000)
    with ServerThread(ServerOptions(port=0, shaping=Shaping(bandwidth_kbps=1_600))) as srv:
        env = cli_env(srv, folder, IMMICH_CONCURRENCY="2")
        history = tmp_path / HISTORY
        for kill_after in (0, 1, 5, 11):
            proc = subprocess.Popen(
                [sys.executable, "-m", "async_uploader", "--no-progress"],
                env=env,
                cwd=tmp_path,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            # Inside an upload body: after kill_after files, once the next one has started
            # (the first time, during the first bodies).
            wait_created(srv, kill_after, 60)
            sent = srv.stats()["upload_body_bytes"]
            wait_until(
                lambda sent=sent: srv.stats()["upload_body_bytes"] > sent + 20_000,
                60,
                "a body under way",
            )
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            if history.exists():
                assert history_integrity(history) == "ok"  # never torn
        srv.call(lambda s: s.set_shaping(bandwidth_kbps=0))
        final = run_cli(["--json"], env, tmp_path)
        assert final.returncode == 0, final.stderr
        assert_exactly_once(srv, folder, history)
        again = run_cli(["--json"], env, tmp_path)
        assert (
            json.loads(again.stdout)["created"] == 0
            and json.loads(again.stdout)["skipped_history"] == 15
        )


def test_a_lock_held_by_a_run_that_was_killed_is_taken_over(
    server: ServerThread, tmp_path: Path
) -> None:
    """The lock is the operating system's: while its holder lives, a run exits 4 naming it;
    once the holder is killed (no chance to clean up), the lock file it left (its pid still in
    it) is no lock, and the next run takes over."""
    folder = tmp_path / "f"
    make_files(folder, ["a.png"])
    holds = (
        "import sys; from pathlib import Path; from async_uploader.store import RunLock; "
        "RunLock(Path(sys.argv[1])).acquire(); print('held', flush=True); sys.stdin.read()"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", holds, str(tmp_path / HISTORY)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        r = run_cli([], cli_env(server, folder), tmp_path)
        assert r.returncode == 4 and f"pid {holder.pid}" in r.stderr, r.stderr
    finally:
        holder.kill()
        holder.wait()
    assert (tmp_path / f"{HISTORY}.lock").read_text().startswith(f"{holder.pid} ")
    r = run_cli([], cli_env(server, folder), tmp_path)
    assert r.returncode == 0, r.stderr
    assert server.stats()["created"] == 1


def test_unwritable_history_exits_1_before_sending_anything(
    server: ServerThread, tmp_path: Path
) -> None:
    folder = tmp_path / "f"
    make_files(folder, ["a.png"])
    (tmp_path / "not-a-folder").write_text("x")
    env = cli_env(server, folder, IMMICH_HISTORY_FILE=str(tmp_path / "not-a-folder" / "h.json"))
    r = run_cli([], env, tmp_path)
    assert r.returncode == 1
    assert "cannot write the history in" in r.stderr and "not a folder" in r.stderr
    assert server.stats()["requests"].get("POST /api/assets", 0) == 0


@pytest.mark.anyio
async def test_history_failing_mid_run_stops_and_keeps_the_previous_one(tmp_path: Path) -> None:
    """The history cannot be written after a first checkpoint (here another program, an sqlite3
    shell say, holds its write lock past the busy timeout; the full disk is test_hostile's):
    what was saved stays intact, no new upload starts, and the run ends with a HistoryError."""
    folder = tmp_path / "f"
    make_files(folder, [f"s{i:02d}.png" for i in range(60)], size=50_000)
    history = tmp_path / "history.sqlite"
    blocker: list[sqlite3.Connection] = []
    with ServerThread(ServerOptions(port=0, shaping=Shaping(bandwidth_kbps=1_600))) as srv:
        config = config_for(srv.url, srv.api_key, folder, tmp_path, concurrency=1)
        control = RunControl(
            retry=RetryPolicy.immediate(), checkpoint_seconds=0.2, progress_seconds=0
        )

        async def take_the_write_lock() -> None:
            await wait_until_async(
                lambda: history.exists() and history_records(history), what="the first checkpoint"
            )
            con = sqlite3.connect(history, isolation_level=None)
            con.execute("BEGIN IMMEDIATE")
            blocker.append(con)

        errors: list[HistoryError] = []

        async def run() -> None:
            try:
                await sync(config, control)
            except HistoryError as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(take_the_write_lock)
            tg.start_soon(run)
        blocker[0].execute("ROLLBACK")
        blocker[0].close()
        assert len(errors) == 1, errors
        assert "database is locked" in str(errors[0]) and "as the last save left it" in str(
            errors[0]
        )
        assert 1 <= len(history_records(history)) < 60
        assert history_integrity(history) == "ok"
        assert srv.stats()["created"] < 60


@pytest.mark.anyio
async def test_file_rewritten_during_upload_is_sent_again_next_run(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    path = make_files(folder, ["big.png"], size=400_000)[0]
    new_content = os.urandom(400_000)
    with ServerThread(ServerOptions(port=0, shaping=Shaping(bandwidth_kbps=1_600))) as srv:
        config = config_for(srv.url, srv.api_key, folder, tmp_path)

        async def rewrite() -> None:
            await wait_until_async(
                lambda: srv.stats()["upload_body_bytes"] >= 100_000, what="a quarter sent"
            )
            path.write_bytes(new_content)  # same size, new bytes and mtime

        async with anyio.create_task_group() as tg:
            tg.start_soon(rewrite)
            first = await sync(
                config, RunControl(retry=RetryPolicy.immediate(), progress_seconds=0)
            )
        assert first.changed == 1 and first.created == 0
        history = tmp_path / "history.json"  # nothing recorded: perhaps not even written
        assert not history.exists() or "big.png" not in history_records(history)
        second = await sync(config, RunControl(retry=RetryPolicy.immediate(), progress_seconds=0))
        assert second.created + second.duplicates == 1
        want = hashlib.sha1(new_content).hexdigest()
        assert want in srv.call(lambda s: [a.checksum for a in s.state.assets.values()])


def test_key_revoked_mid_run_exits_3_and_keeps_what_was_done(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    make_files(folder, [f"s{i}.png" for i in range(8)], size=100_000)
    with ServerThread(ServerOptions(port=0, shaping=Shaping(bandwidth_kbps=1_600))) as srv:
        env = cli_env(srv, folder, IMMICH_CONCURRENCY="1")
        proc = start_cli([], env, tmp_path)
        wait_created(srv, 2)
        srv.call(lambda s: s.state.keys.clear())
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 3, err
        assert "API key rejected by" in err.strip().splitlines()[-1]
        assert "Traceback" not in err
        assert len(history_records(tmp_path / HISTORY)) == srv.stats()["created"] >= 2
