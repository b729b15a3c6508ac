"""Files too big for the external URL's proxy wait for the local URL (issue 14, part 1): never
rejected, never recorded, sent by the first run (or watch pass) that reaches the LAN address."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import anyio
import pytest

from async_uploader import watch as watch_module
from async_uploader.control import RunControl, Signals
from async_uploader.limits import Limits
from async_uploader.outcomes import Outcome
from async_uploader.run import sync
from async_uploader.testserver import ServerOptions, ServerThread
from async_uploader.watch import watch

from ..support import (
    cli_env,
    config_for,
    history_records,
    make_files,
    meta_record,
    run_cli,
    wait_until_async,
)

BIG = 3_000_000  # over the proxy's 1 MB; streamed (over SMALL_FILE), as a video would be
LIMIT = 1_000_000


def free_port() -> int:
    """A port nothing listens on (yet): the LAN address while the laptop is away."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def learnt(history: Path) -> dict[str, Any]:
    return meta_record(history, "external_limit")


def names(srv: ServerThread) -> list[str]:
    return srv.call(lambda s: sorted(a.original_file_name for a in s.state.assets.values()))


def uploads(srv: ServerThread) -> int:
    return int(srv.stats()["requests"].get("POST /api/assets", 0))


def refused(srv: ServerThread) -> int:
    return int(srv.stats()["faults"].get("proxy-413", 0))


@pytest.mark.anyio
async def test_a_413_at_the_external_url_holds_the_file_until_a_run_on_the_local_url(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "f"
    make_files(folder, [f"s{i}.png" for i in range(4)], size=50_000)
    make_files(folder, ["video.png"], size=BIG, start_seed=9)
    away = f"http://127.0.0.1:{free_port()}"
    with ServerThread(ServerOptions(port=0)) as srv:
        external = srv.add_address(max_body=LIMIT)
        config = config_for(away, srv.api_key, folder, tmp_path, external_url=external)
        history = tmp_path / "history.sqlite"

        # Away from home: the proxy answers 413 before reading the body; the file is held.
        report = await sync(config, RunControl(progress_seconds=0))
        assert (report.created, report.held, report.rejected, report.failed) == (4, 1, 0, 0)
        assert report.ok and report.held_bytes == BIG
        assert refused(srv) == 1 and "video.png" not in names(srv)
        assert "video.png" not in history_records(history)  # not recorded: the next run sends it
        assert learnt(history)["refused"] == BIG and learnt(history)["url"] == external
        assert "1 held for the local URL (3.0 MB)" in report.summary()
        assert report.to_json()["held"] == 1

        # Away again: what was learnt holds it without sending a byte of it.
        before = uploads(srv)
        report = await sync(config, RunControl(progress_seconds=0))
        assert (report.held, report.rejected, report.skipped_history) == (1, 0, 4)
        assert uploads(srv) == before and refused(srv) == 1

        # Home: the LAN address answers and takes it; nothing was ever rejected.
        home = config_for(srv.url, srv.api_key, folder, tmp_path, external_url=external)
        report = await sync(home, RunControl(progress_seconds=0))
        assert (report.created, report.held, report.rejected) == (1, 0, 0)
        assert "video.png" in names(srv)
        assert history_records(history)["video.png"]["outcome"] == Outcome.CREATED.value
        album = srv.call(lambda s: [len(a.asset_ids) for a in s.state.albums.values()])
        assert album == [5]


@pytest.mark.anyio
async def test_without_a_local_url_a_413_stays_rejected_and_nothing_is_learnt(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "f"
    make_files(folder, ["video.png"], size=BIG)
    with ServerThread(ServerOptions(port=0)) as srv:
        external = srv.add_address(max_body=LIMIT)
        config = config_for(None, srv.api_key, folder, tmp_path, external_url=external)
        report = await sync(config, RunControl(progress_seconds=0))
        assert (report.rejected, report.held) == (1, 0)
        assert "413" in report.problems[0]
        assert learnt(tmp_path / "history.sqlite") == {}


def test_a_configured_limit_holds_big_files_before_sending_and_every_report_says_so(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "shots"
    make_files(folder, ["a.png", "b.png"], size=50_000)
    make_files(folder, ["big.png"], size=BIG, start_seed=5)
    with ServerThread(ServerOptions(port=0)) as srv:
        external = srv.add_address(max_body=LIMIT)
        env = cli_env(srv, folder, IMMICH_EXTERNAL_MAX_UPLOAD="1MB")
        env["IMMICH_LOCAL_URL"] = f"http://127.0.0.1:{free_port()}"
        env["IMMICH_EXTERNAL_URL"] = external

        r = run_cli(["check"], env, tmp_path)
        assert "external limit  body limit 1.0 MB (IMMICH_EXTERNAL_MAX_UPLOAD)" in r.stdout, (
            r.stdout
        )

        r = run_cli(["sync", "--dry-run"], env, tmp_path)
        assert r.returncode == 0, r.stderr
        assert "would hold big.png (3.0 MB) for the local URL" in r.stderr + r.stdout
        assert uploads(srv) == 0

        r = run_cli(["sync", "--json"], env, tmp_path)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert (out["created"], out["held"], out["rejected"], out["exit_code"]) == (2, 1, 0, 0)
        assert refused(srv) == 0 and uploads(srv) == 2  # never sent: not even the proxy saw it
        log = (tmp_path / "immich_backup.log").read_text()
        assert "held       big.png (3.0 MB): over the external URL's limit of 1.0 MB" in log

        r = run_cli(["status"], env, tmp_path)
        assert "1 held for the local URL" in r.stdout, r.stdout

        # The limit is the body's: a file just under 1 MB still goes (the form adds ~1 kB).
        make_files(folder, ["fits.png"], size=900_000, start_seed=7)
        r = run_cli(["sync", "--json"], env, tmp_path)
        out = json.loads(r.stdout)
        assert (out["created"], out["held"]) == (1, 1), r.stderr


@pytest.mark.parametrize("bad", ["lots", "20Mbit", "2Mb", "10"])
def test_a_bad_external_limit_is_one_line_and_exit_2(tmp_path: Path, bad: str) -> None:
    folder = tmp_path / "shots"
    make_files(folder, ["a.png"])
    env = cli_env(None, folder, IMMICH_EXTERNAL_MAX_UPLOAD=bad)
    env.update({"IMMICH_API_KEY": "k" * 20, "IMMICH_LOCAL_URL": "http://127.0.0.1:9"})
    r = run_cli(["sync"], env, tmp_path)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "IMMICH_EXTERNAL_MAX_UPLOAD" in lines[0], r.stderr


@pytest.mark.anyio
async def test_watch_sends_held_files_as_soon_as_the_local_url_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "f"
    make_files(folder, ["small.png"], size=50_000)
    make_files(folder, ["video.png"], size=BIG, start_seed=3)
    port = free_port()
    with ServerThread(ServerOptions(port=0)) as srv:
        external = srv.add_address(max_body=LIMIT)
        config = config_for(
            f"http://127.0.0.1:{port}", srv.api_key, folder, tmp_path, external_url=external
        )
        signals = Signals()
        totals = watch_module.WatchTotals()
        async with anyio.create_task_group() as tg:

            async def run_watch() -> None:
                control = RunControl(
                    signals=signals, progress_seconds=0, limits=Limits(held_probe=0.2)
                )
                await watch(config, control, totals)

            tg.start_soon(run_watch)
            # The first pass over (its totals are counted when it ends): the video held.
            await wait_until_async(lambda: totals.passes >= 1, 20, "the first pass")
            assert names(srv) == ["small.png"] and refused(srv) == 1 and totals.held == 1
            await anyio.to_thread.run_sync(lambda: srv.add_address(port=port))  # home
            # No file changed: only the local URL answering can start the next pass.
            await wait_until_async(
                lambda: "video.png" in names(srv) and totals.passes >= 2, 20, "the video sent"
            )
            signals.stop.set()
            tg.cancel_scope.cancel()
        assert totals.rejected == 0 and totals.held == 0
        assert refused(srv) == 1  # sent once at the proxy, then only to the LAN address


def test_the_test_servers_proxy_flag_reads_port_and_size() -> None:
    from async_uploader.testserver.cli import build_parser

    assert build_parser().parse_args(["--proxy", "0:100MB", "--proxy", "8443:1MiB"]).proxy == [
        (0, 100_000_000),
        (8443, 1024 * 1024),
    ]
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["--proxy", "100MB"])
    assert exc.value.code == 2
