"""Pausing the server's heavy queues (IMMICH_PAUSE_JOBS): paused while a backfill uploads (by
default from 100 files to send) and resumed after it, however it ends (done, Ctrl-C, kill -9 then
the next run); a queue paused before the run stays paused; a pause or resume whose answer is lost
or wrong never leaves a queue paused for good. Asserted on the server's queue state, in 3.x
(/api/queues) and 2.x (/api/jobs)."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import anyio
import pytest

from async_uploader.config import Config
from async_uploader.control import RunControl
from async_uploader.limits import Limits
from async_uploader.phases.jobs import HEAVY
from async_uploader.retry import RetryPolicy
from async_uploader.run import sync
from async_uploader.testserver import ServerOptions, ServerThread, Shaping

from ..support import (
    HISTORY,
    cli_env,
    config_for,
    edit_history,
    make_files,
    meta_record,
    run_cli,
    start_cli,
    wait_created,
    wait_until_async,
)

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
        assert row.startswith("ok") and "a run that sends a file pauses" in row, r.stdout
        assert "with the API key, and resumes them after" in row


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
        away = run_cli(["sync"], {**env, "IMMICH_LOCAL_URL": "http://127.0.0.1:9"}, tmp_path)
        assert away.returncode == 3  # the server away: the record waits for a run that reaches it
        assert paused(srv) == heavy_of(srv)
        r = run_cli(["sync", "--no-pause-jobs"], env, tmp_path)  # it resumes all the same
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


def queue_requests(srv: ServerThread) -> int:
    requests = srv.stats()["requests"]
    return sum(n for route, n in requests.items() if "/api/queues" in route)


def test_a_backfill_of_100_files_to_send_pauses_and_99_do_not(tmp_path: Path) -> None:
    """The default (auto): 99 files to send after the server's duplicate check never touch the
    queues (not even to list them); 100 pause every heavy queue that runs, and resume them."""
    folder = tmp_path / "shots"
    make_files(folder, [f"s{i:03d}.png" for i in range(100)])
    with ServerThread(ServerOptions(port=0)) as srv:
        srv.call(lambda s: s.state.pause_queue(PAUSED_BY_ADMIN, True))
        other = tmp_path / "other"
        make_files(other, ["s000.png"])  # already on the server: 99 left to send
        (tmp_path / "o").mkdir()
        env = cli_env(srv, folder, IMMICH_API_KEY=srv.admin_key)
        first = run_cli([], cli_env(srv, other, IMMICH_API_KEY=srv.admin_key), tmp_path / "o")
        assert first.returncode == 0, first.stderr
        r = run_cli(["--json"], env, tmp_path)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert (out["created"], out["duplicates"], out["jobs_paused"]) == (99, 1, [])
        assert queue_requests(srv) == 0 and "jobs:" not in r.stderr
        more = tmp_path / "more"
        make_files(more, [f"t{i:03d}.png" for i in range(100)], size=2_000)  # all new bytes
        env = cli_env(srv, more, IMMICH_API_KEY=srv.admin_key)
        (tmp_path / "m").mkdir()
        r = run_cli(["--json"], env, tmp_path / "m")
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        running = heavy_of(srv) - {PAUSED_BY_ADMIN}
        assert out["created"] == 100 and set(out["jobs_paused"]) == running
        assert out["jobs_left_paused"] == []
        assert "while a backfill is uploading (100 files or more to send)" in r.stderr
        assert paused(srv) == {PAUSED_BY_ADMIN}  # resumed, the admin's own left
        status = run_cli(["status"], env, tmp_path / "m").stdout
        assert "paused meanwhile" in status and PAUSED_BY_ADMIN not in status


def test_the_admin_key_is_used_for_the_queues_alone_and_never_shown(tmp_path: Path) -> None:
    """IMMICH_ADMIN_API_KEY may do nothing but the queues here, and the API key nothing but an
    uploader's work: the run pauses and resumes, uploads and links. Every error of the queue
    routes echoes the admin key back: it is in no line, file or summary, at any level."""
    folder = tmp_path / "shots"
    make_files(folder, [f"s{i:02d}.png" for i in range(4)])
    with ServerThread(ServerOptions(port=0)) as srv:
        admin = srv.call(
            lambda s: s.state.create_api_key(["queue.read", "queue.update"], admin=True).secret
        )
        env = cli_env(srv, folder, IMMICH_ADMIN_API_KEY=admin, IMMICH_PAUSE_JOBS="on")
        outputs = []
        r = run_cli(["--json", "--debug"], env, tmp_path)
        assert r.returncode == 0, r.stderr
        assert set(json.loads(r.stdout.splitlines()[-1])["jobs_paused"]) == heavy_of(srv)
        assert paused(srv) == set() and srv.stats()["created"] == 4
        outputs.append(r.stdout + r.stderr)
        srv.call(lambda s: s.hostile("queues", "echo-key", 500))
        make_files(folder, ["late.png"], start_seed=9)
        for args in (["--debug"], ["check"], ["check", "--debug"], ["status"]):
            r = run_cli(args, env, tmp_path)
            outputs.append(r.stdout + r.stderr)
        assert any(
            "jobs: not paused" in o and "Invalid request for API key ***" in o for o in outputs
        )
        written = [p for p in tmp_path.rglob("*") if p.is_file() and folder not in p.parents]
        texts = [p.read_bytes().decode("utf-8", "replace") for p in written] + outputs
        for text in texts:
            assert admin not in text and admin[:8] not in text


# Kinds that never reach the server (the pause did not happen) and kinds where the server did it
# and the answer did not come back as it was (the pause happened): either way, nothing leaks.
NOT_DONE = ["html-502", "invalid-json", "redirect", "hang"]
DONE_ANSWER_LOST = ["lost", "cut", "late", "flip", "wrong-shape", "drip"]


def in_process(srv: ServerThread, folder: Path, tmp_path: Path) -> tuple[Config, RunControl]:
    config = config_for(
        srv.url, srv.admin_key, folder, tmp_path, pause_jobs="on", request_timeout=2.0
    )
    control = RunControl(
        retry=RetryPolicy.immediate(0), progress_seconds=0, limits=Limits(resume_patience=1.0)
    )
    return config, control


def recorded(tmp_path: Path) -> list[str]:
    return list(meta_record(tmp_path / "history.sqlite", "paused_jobs").get("queues", []))


@pytest.mark.anyio
@pytest.mark.parametrize("kind", NOT_DONE + DONE_ANSWER_LOST)
async def test_a_pause_whose_answer_is_lost_or_wrong_is_resumed_all_the_same(
    tmp_path: Path, kind: str
) -> None:
    """Every pause request fails (its answer a 5xx page, garbage, a redirect, nothing in time,
    a cut, an answer saying the opposite), whether or not the server did it: every queue the run
    asked to pause is resumed at the end, never the admin's own; the record ends empty."""
    folder = tmp_path / "shots"
    make_files(folder, ["a.png", "b.png"])
    with ServerThread(ServerOptions(port=0)) as srv:
        srv.call(lambda s: s.state.pause_queue(PAUSED_BY_ADMIN, True))
        running = heavy_of(srv) - {PAUSED_BY_ADMIN}
        srv.call(lambda s: s.hostile("queue-update", kind, times=len(running)))  # the pauses
        config, control = in_process(srv, folder, tmp_path)
        report = await sync(config, control)
        assert report.created == 2 and set(report.jobs_paused) == running
        assert report.jobs_left_paused == [] and recorded(tmp_path) == []
        assert paused(srv) == {PAUSED_BY_ADMIN}


@pytest.mark.anyio
@pytest.mark.parametrize("kind", NOT_DONE + DONE_ANSWER_LOST)
async def test_a_resume_that_fails_stays_recorded_for_the_next_run(
    tmp_path: Path, kind: str
) -> None:
    """The pauses go through; every resume fails, done by the server or not: each queue the run
    paused stays recorded (those the server never resumed are still paused), and the next run,
    with nothing to send, resumes them; the admin's own pause is never recorded or resumed."""
    folder = tmp_path / "shots"
    make_files(folder, ["a.png"], size=300_000)
    with ServerThread(ServerOptions(port=0, shaping=Shaping(bandwidth_kbps=1_600))) as srv:
        srv.call(lambda s: s.state.pause_queue(PAUSED_BY_ADMIN, True))
        running = heavy_of(srv) - {PAUSED_BY_ADMIN}
        config, control = in_process(srv, folder, tmp_path)
        reports = []

        async def run() -> None:
            reports.append(await sync(config, control))

        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            await wait_until_async(lambda: paused(srv) >= running, 10, "the pauses")
            srv.call(lambda s: s.hostile("queue-update", kind))  # from now on: the resumes
        assert reports[0].created == 1
        assert set(reports[0].jobs_left_paused) == running == set(recorded(tmp_path))
        done = kind in DONE_ANSWER_LOST
        assert paused(srv) == ({PAUSED_BY_ADMIN} if done else {PAUSED_BY_ADMIN} | running)
        srv.call(lambda s: s.clear_hostile())
        second = await sync(config, control)
        assert (second.created, second.jobs_left_paused) == (0, [])
        assert recorded(tmp_path) == [] and paused(srv) == {PAUSED_BY_ADMIN}
