"""Health-check pings (IMMICH_PING_URL), against a receiver on loopback that records what it gets:
``/start`` then success or ``/<exit code>`` with the summary; never the key; never a redirect
followed; a check service that hangs never holds a run up for long; none for a dry run or for a
run that finds another one active; a watch pings per pass and while idle."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import anyio
import pytest

from async_uploader.config import Config
from async_uploader.control import RunControl, Signals
from async_uploader.ping import Pinger
from async_uploader.store import RunLock
from async_uploader.testserver import ServerOptions, ServerThread
from async_uploader.watch import watch

from ..support import (
    HISTORY,
    PingReceiver,
    cli_env,
    config_for,
    run_cli,
    wait_until_async,
)


@pytest.mark.parametrize("api_version", [2, 3])
def test_a_run_pings_its_start_and_its_success_with_the_summary_and_never_the_key(
    tmp_path: Path, shots: Path, api_version: int
) -> None:
    with (
        PingReceiver() as receiver,
        ServerThread(ServerOptions(port=0, api_version=api_version)) as server,
    ):
        env = cli_env(server, shots, IMMICH_PING_URL=receiver.url)
        r = run_cli(["sync"], env, tmp_path)
        assert r.returncode == 0, r.stderr
        assert receiver.paths() == ["/ping/abc-123/start", "/ping/abc-123"]
        body = receiver.got[-1][3]
        assert body.startswith("exit 0: 12 scanned") and "12 created" in body
        for _, _, headers, text in receiver.got:
            assert server.api_key not in str(headers) + text
            assert "x-api-key" not in {k.lower() for k in headers}
        assert receiver.url not in r.stderr + (tmp_path / "immich_backup.log").read_text()
        # An idle run is a success too.
        assert run_cli(["sync"], env, tmp_path).returncode == 0
        assert receiver.paths()[2:] == ["/ping/abc-123/start", "/ping/abc-123"]
        assert "0 created" in receiver.got[-1][3]


def test_a_failed_run_pings_its_exit_code(tmp_path: Path, shots: Path) -> None:
    with PingReceiver() as receiver:
        env = cli_env(
            None,
            shots,
            IMMICH_API_KEY="k",
            IMMICH_LOCAL_URL="http://127.0.0.1:9",
            IMMICH_LOCAL_TIMEOUT="0.5",
            IMMICH_PING_URL=receiver.url,
        )
        r = run_cli(["sync"], env, tmp_path)
        assert r.returncode == 3, r.stderr
        assert receiver.paths() == ["/ping/abc-123/start", "/ping/abc-123/3"]
        assert receiver.got[-1][3].startswith("exit 3: ")


def test_no_ping_for_a_dry_run_nor_for_a_run_that_finds_another_active(
    tmp_path: Path, shots: Path, server: ServerThread
) -> None:
    with PingReceiver() as receiver:
        env = cli_env(server, shots, IMMICH_PING_URL=receiver.url)
        assert run_cli(["sync", "--dry-run"], env, tmp_path).returncode == 0
        with RunLock(tmp_path / HISTORY):
            assert run_cli(["sync"], env, tmp_path).returncode == 4
        assert receiver.got == []


@pytest.mark.parametrize("mode", ["redirect", "fail", "hang"])
def test_a_check_service_that_misbehaves_never_fails_nor_holds_up_the_run(
    tmp_path: Path, shots: Path, server: ServerThread, mode: str
) -> None:
    with PingReceiver(mode) as receiver:
        env = cli_env(server, shots, IMMICH_PING_URL=receiver.url)
        t0 = time.monotonic()
        r = run_cli(["sync"], env, tmp_path)
        took = time.monotonic() - t0
        assert r.returncode == 0, r.stderr
        assert server.stats()["created"] == 12
        assert "/elsewhere" not in receiver.paths()  # a redirect is never followed
        assert r.stderr.count("ping:") == 1, r.stderr  # said once a run, as a warning
        assert receiver.url not in r.stderr
        # A hung service: the start is not waited for, the end 5 s at most (twice, at worst).
        assert took < 40, took
        if mode == "hang":
            assert took >= 5  # the end's ping was given its 5 s before the run let go


@pytest.mark.anyio
async def test_a_watch_pings_after_each_pass_and_while_idle(
    tmp_path: Path, shots: Path, server: ServerThread
) -> None:
    with PingReceiver() as receiver:
        config: Config = replace(
            config_for(server.url, server.api_key, shots, tmp_path),
            ping_url=receiver.url,
        )
        pinger = Pinger(receiver.url, [server.api_key])
        control = RunControl(signals=Signals())

        async with anyio.create_task_group() as tg:
            tg.start_soon(watch, config, control, None, pinger, 0.3)
            await wait_until_async(lambda: len(receiver.got) >= 3, what="a pass and two beats")
            tg.cancel_scope.cancel()
        assert receiver.paths()[:3] == ["/ping/abc-123"] * 3
        assert "12 created" in receiver.got[0][3]
        assert "idle" in receiver.got[1][3] and server.url in receiver.got[1][3]

        before = len(receiver.got)  # then no configured URL answers
        config = replace(config, local_url="http://127.0.0.1:9", local_timeout=0.2)
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch, config, control, None, pinger, 0.3)
            await wait_until_async(
                lambda: any(p.endswith("/fail") for p in receiver.paths()[before:]),
                what="a /fail while no URL answers",
            )
            tg.cancel_scope.cancel()
