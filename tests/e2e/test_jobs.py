"""``--pause-jobs`` (issue 14, part 5): the server's heavy queues are paused while a run uploads and
resumed after it, however it ends (done, Ctrl-C, kill -9 then the next run); a queue paused before
the run stays paused. Asserted on the server's queue state, in 3.x (/api/queues) and 2.x (/api/jobs)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from async_uploader.phases.jobs import HEAVY
from async_uploader.testserver import ServerOptions, ServerThread, Shaping

from ..support import HISTORY, cli_env, edit_history, make_files, run_cli, start_cli, wait_created

PAUSED_BY_ADMIN = "smartSearch"


def paused(srv: ServerThread) -> set[str]:
    return set(srv.call(lambda s: set(s.state.paused_queues)))


def heavy_of(srv: ServerThread) -> set[str]:
    return set(srv.call(lambda s: [q for q in s.emulator.queues if q in HEAVY]))


def jobs_row(table: str) -> str:
    return next(line.strip() for line in table.splitlines() if " pause jobs " in line)


def slow_server(api_version: int = 3) -> ServerThread:
    """Uploads of 20 files of 50 kB take about 5 s: time to look at the queues meanwhile."""
    shaping = Shaping(bandwidth_kbps=1_600)
    return ServerThread(ServerOptions(port=0, api_version=api_version, shaping=shaping))


@pytest.mark.parametrize("api_version", [3, 2])
def test_heavy_queues_are_paused_while_uploading_and_resumed_after(
    tmp_path: Path, api_version: int
) -> None:
    folder = tmp_path / "shots"
    make_files(folder, [f"s{i:02d}.png" for i in range(20)], size=50_000)
    with slow_server(api_version) as srv:
        srv.call(lambda s: s.state.pause_queue(PAUSED_BY_ADMIN, True))
        env = cli_env(srv, folder, IMMICH_API_KEY=srv.admin_key)
        proc = start_cli(["sync", "--pause-jobs"], env, tmp_path)
        wait_created(srv, 3)
        during = paused(srv)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert during == heavy_of(srv), during  # every heavy queue the server has
        assert paused(srv) == {PAUSED_BY_ADMIN}  # resumed, but never the admin's own pause
        assert srv.stats()["created"] == 20
        assert f"{PAUSED_BY_ADMIN} paused already, left so" in err
        assert "jobs: resumed" in err


def test_without_an_admins_key_the_run_goes_on_unpaused(tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    make_files(folder, ["a.png", "b.png"])
    with ServerThread(ServerOptions(port=0)) as srv:
        env = cli_env(srv, folder, IMMICH_PAUSE_JOBS="true")
        r = run_cli(["sync"], env, tmp_path)
        assert r.returncode == 0, r.stderr
        assert "jobs: not paused: the key is not an admin's" in r.stderr
        assert srv.stats()["created"] == 2 and paused(srv) == set()
        r = run_cli(["check"], env, tmp_path)
        assert jobs_row(r.stdout).startswith("warn") and "not an admin's" in r.stdout, r.stdout
        env["IMMICH_API_KEY"] = srv.admin_key
        r = run_cli(["check"], env, tmp_path)
        row = jobs_row(r.stdout)
        assert row.startswith("ok") and "the key may pause the server's jobs" in row, r.stdout


def test_a_ctrl_c_resumes_the_queues_before_the_run_ends(tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    make_files(folder, [f"s{i:02d}.png" for i in range(20)], size=50_000)
    with slow_server() as srv:
        env = cli_env(srv, folder, IMMICH_API_KEY=srv.admin_key)
        proc = start_cli(["sync", "--pause-jobs"], env, tmp_path)
        wait_created(srv, 2)
        assert paused(srv) == heavy_of(srv)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert paused(srv) == set()


def test_after_a_kill_the_next_run_resumes_what_the_dead_one_paused(tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    make_files(folder, [f"s{i:02d}.png" for i in range(20)], size=50_000)
    with slow_server() as srv:
        srv.call(lambda s: s.state.pause_queue(PAUSED_BY_ADMIN, True))
        env = cli_env(srv, folder, IMMICH_API_KEY=srv.admin_key)
        proc = start_cli(["sync", "--pause-jobs"], env, tmp_path)
        wait_created(srv, 2)
        proc.kill()
        proc.communicate(timeout=30)
        assert paused(srv) == heavy_of(srv)  # the dead run could not resume them
        srv.call(lambda s: s.set_shaping(bandwidth_kbps=0))
        r = run_cli(["sync"], env, tmp_path)  # without --pause-jobs: it resumes all the same
        assert r.returncode == 0, r.stderr
        assert "an earlier run paused" in r.stderr
        assert paused(srv) == {PAUSED_BY_ADMIN}


def test_a_left_over_pause_keeps_a_run_from_ending_offline(tmp_path: Path) -> None:
    """Everything uploaded, the album whole: a run would end without the server. Not while a
    run that died left queues paused."""
    folder = tmp_path / "shots"
    make_files(folder, ["a.png"])
    with ServerThread(ServerOptions(port=0)) as srv:
        env = cli_env(srv, folder, IMMICH_API_KEY=srv.admin_key)
        assert run_cli(["sync"], env, tmp_path).returncode == 0
        srv.call(lambda s: s.state.pause_queue("thumbnailGeneration", True))
        edit_history(
            tmp_path / HISTORY,
            "INSERT OR REPLACE INTO meta VALUES ('paused_jobs', ?)",
            '{"queues": ["thumbnailGeneration"], "at": "2026-12-03T00:00:00+0000"}',
        )
        t0 = time.monotonic()
        r = run_cli(["sync", "--json"], env, tmp_path)
        assert r.returncode == 0, r.stderr
        assert '"server_contacted": true' in r.stdout
        assert paused(srv) == set()
        assert time.monotonic() - t0 < 30
        r = run_cli(["sync", "--json"], env, tmp_path)  # and now it is idle again
        assert '"server_contacted": false' in r.stdout, r.stdout
