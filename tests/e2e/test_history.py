"""The history through the CLI: status and export of an older history, a history this version
must not touch, a damaged one, a backfill past the spill point, the album links bounded in time."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import time
from pathlib import Path

import anyio
import pytest

from async_uploader.errors import HistoryError
from async_uploader.store import FIELDS, History
from async_uploader.testserver import ServerThread

from ..support import (
    HISTORY,
    cli_env,
    edit_history,
    history_records,
    last_run_record,
    run_cli,
    v1_history,
    wait_until,
)


def test_status_and_export_read_an_older_history_before_the_first_run(tmp_path: Path) -> None:
    (tmp_path / "immich_upload_history.json").write_text(json.dumps(v1_history(5)))
    env = cli_env(None, tmp_path)
    r = run_cli(["status", "--json"], env, tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["files"] == 5
    r = run_cli(["export"], env, tmp_path)
    data = json.loads(r.stdout)
    assert sorted(data["files"]) == [f"old/{i:05d}.png" for i in range(5)]
    assert data["files"]["old/00003.png"]["asset_id"] == "a3" and data["fields"] == list(FIELDS)
    assert not (tmp_path / HISTORY).exists()  # read only: the run takes it over


def test_export_is_the_whole_history_as_json(
    server: ServerThread, shots: Path, tmp_path: Path
) -> None:
    env = cli_env(server, shots)
    assert run_cli([], env, tmp_path).returncode == 0
    r = run_cli(["export"], env, tmp_path)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert len(data["files"]) == 12 and data["schema"] == 3
    one = data["files"]["Screenshot 00.png"]
    assert one["outcome"] == "created" and one["album_id"] == data["last_run"]["album_id"]
    assert data["last_run"] == last_run_record(tmp_path / HISTORY)
    assert server.api_key not in r.stdout


@pytest.mark.parametrize(
    ("setup", "says"),
    [
        (
            ["PRAGMA user_version = 4", "CREATE TABLE files (x)"],
            "written by a newer async-uploader",
        ),
        (["CREATE TABLE photos (id INTEGER)"], "not an async-uploader history"),
    ],
)
def test_a_history_this_version_must_not_touch_exits_2_unchanged(
    server: ServerThread, shots: Path, tmp_path: Path, setup: list[str], says: str
) -> None:
    path = tmp_path / HISTORY
    con = sqlite3.connect(path)
    for statement in setup:
        con.execute(statement)
    con.commit()
    con.close()
    before = path.read_bytes()
    r = run_cli([], cli_env(server, shots), tmp_path)
    assert r.returncode == 2, r.stderr
    assert says in r.stderr and "nothing was changed" in r.stderr.lower()
    assert path.read_bytes() == before
    assert server.stats()["requests"].get("POST /api/assets", 0) == 0


def test_a_database_damaged_past_its_header_is_moved_aside_and_the_run_goes_on(
    server: ServerThread, shots: Path, tmp_path: Path
) -> None:
    """A broken page deep in the file opens fine and fails only when read: found by the scan's
    first query, moved aside, and the run goes on (the server answers duplicate for all 12)."""
    env = cli_env(server, shots)
    assert run_cli([], env, tmp_path).returncode == 0
    path = tmp_path / HISTORY
    with open(path, "r+b") as fh:  # every page but the first (the header and the schema)
        size = fh.seek(0, 2)
        fh.seek(4096)
        fh.write(b"\xa5" * (size - 4096))
    r = run_cli(["--json"], env, tmp_path)
    assert r.returncode == 0, r.stderr
    assert "is corrupt" in r.stderr and "moved it to" in r.stderr
    assert json.loads(r.stdout)["duplicates"] == 12
    assert len(list(tmp_path.glob(f"{HISTORY}.corrupt-*"))) == 1
    assert len(history_records(path)) == 12


@pytest.mark.anyio
async def test_a_backfill_past_the_spill_point_uploads_everything_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """With the scan's list on disk after 25 files and album pages of 40, a run over 130 files
    (3 empty) still uploads each once, links every one, and the counts add up."""
    from async_uploader.control import RunControl
    from async_uploader.limits import Limits
    from async_uploader.run import sync
    from async_uploader.testserver import ServerOptions

    from ..support import config_for, make_files

    # Past memory_links, pages read from the database.
    limits = Limits(spill=25, link_batch=40, memory_links=40)
    folder = tmp_path / "f"
    make_files(folder, [f"s{i:03d}.png" for i in range(127)], size=500)
    for i in range(3):
        (folder / f"empty{i}.png").write_bytes(b"")
        os_utime_old(folder / f"empty{i}.png")
    with ServerThread(ServerOptions(port=0)) as srv:
        config = config_for(srv.url, srv.api_key, folder, tmp_path, history_file=tmp_path / HISTORY)
        with caplog.at_level(logging.INFO):
            report = await sync(
                config,
                RunControl(progress_seconds=0, checkpoint_seconds=0.02, limits=limits),
            )
        assert (report.created, report.empty, report.album_linked) == (127, 3, 127)
        line = next(r.getMessage() for r in caplog.records if "checkpoints:" in r.getMessage())
        saves, longest, stall = map(int, re.findall(r"(\d+) (?:history|ms)", line))
        assert saves >= 1 and longest < 10_000 and stall < 10_000, line
        assert report.unaccounted() == 0
        assert srv.call(lambda s: [len(a.asset_ids) for a in s.state.albums.values()]) == [127]
        again = await sync(config, RunControl(progress_seconds=0, limits=limits))
        assert (again.created, again.skipped_history, again.server_contacted) == (0, 130, True)
    records = history_records(tmp_path / HISTORY)
    assert len(records) == 130 and all(r["album_id"] for r in records.values() if r["size"])


def os_utime_old(path: Path) -> None:
    import os

    from ..support import OLD

    os.utime(path, (OLD, OLD))


@pytest.mark.anyio
async def test_linking_is_bounded_per_batch_not_in_all_and_a_stop_cuts_it_short(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A million-file backfill is 100 album requests, about a minute in all: the link limit counts
    the time without a finished batch. With patience 1.5 s, batches of 4 and 0.3 s per request,
    40 files take 10 batches (3 s and more) and all are linked; a batch slower than the patience is
    cut off and left for the next run; a stop during the linking ends it within its own limit."""
    from async_uploader.control import RunControl, Signals
    from async_uploader.limits import Limits
    from async_uploader.run import sync
    from async_uploader.testserver import ServerOptions, Shaping

    from ..support import config_for, make_files

    limits = Limits(link_batch=4, link_patience=1.5, link_after_stop=0.5)
    folder = tmp_path / "f"
    make_files(folder, [f"s{i:02d}.png" for i in range(40)], size=300)
    slow = Shaping(latency_ms=300)
    with ServerThread(ServerOptions(port=0, shaping=slow)) as srv:
        # 16 at once: the uploads at 300 ms are not what this is about (auto would start at 4).
        config = config_for(
            srv.url, srv.api_key, folder, tmp_path, history_file=tmp_path / HISTORY, concurrency=16
        )
        started = time.monotonic()
        report = await sync(config, RunControl(progress_seconds=0, limits=limits))
        assert (report.created, report.album_linked, report.link_failed) == (40, 40, 0)
        assert time.monotonic() - started >= 3.0  # 10 batches of >= 0.3 s: past the patience
        assert "linking took over" not in caplog.text
        assert srv.call(lambda s: [len(a.asset_ids) for a in s.state.albums.values()]) == [40]

    # A batch slower than the patience: cut off, counted, and the next run links it.
    limits = Limits(link_batch=4, link_patience=0.4, link_after_stop=0.5)
    folder2 = tmp_path / "g"
    make_files(folder2, [f"t{i:02d}.png" for i in range(8)], size=300, start_seed=99)
    slower = Shaping(latency_ms=900)
    with ServerThread(ServerOptions(port=0, shaping=slower)) as srv:
        config = config_for(
            srv.url, srv.api_key, folder2, tmp_path, history_file=tmp_path / "h2.sqlite"
        )
        with caplog.at_level(logging.WARNING):
            report = await sync(config, RunControl(progress_seconds=0, limits=limits))
        assert (report.created, report.album_linked, report.link_failed) == (8, 0, 8)
        assert "linking took over 0.4 s for one batch" in caplog.text
        srv.call(lambda s: s.set_shaping(latency_ms=0))
        again = await sync(config, RunControl(progress_seconds=0, limits=limits))
        assert (again.created, again.album_linked, again.link_failed) == (0, 8, 0)

    # A stop that arrives during the linking: LINK_AFTER_STOP from then on, in all.
    limits = Limits(link_batch=4, link_patience=60.0, link_after_stop=0.5)
    folder3 = tmp_path / "h"
    make_files(folder3, [f"u{i:02d}.png" for i in range(40)], size=300, start_seed=199)
    with ServerThread(ServerOptions(port=0, shaping=slow)) as srv:
        config = config_for(
            srv.url,
            srv.api_key,
            folder3,
            tmp_path,
            history_file=tmp_path / "h3.sqlite",
            concurrency=16,
        )
        signals = Signals()
        control = RunControl(progress_seconds=0, signals=signals, limits=limits)

        def wait_first_batch() -> None:  # in a thread: the server's state, polled
            wait_until(
                lambda: srv.call(lambda s: any(a.asset_ids for a in s.state.albums.values())),
                what="the first album batch",
            )

        async def stop_once_linking() -> None:
            await anyio.to_thread.run_sync(wait_first_batch)
            signals.stop.set()

        caplog.clear()
        with caplog.at_level(logging.WARNING):
            async with anyio.create_task_group() as tg:
                tg.start_soon(stop_once_linking)
                report = await sync(config, control)
        assert report.created == 40 and 4 <= report.album_linked < 40
        assert report.album_linked + report.link_failed == 40
        assert "linking took over 0.5 s after the stop" in caplog.text


@pytest.mark.anyio
async def test_a_history_that_cannot_be_written_does_not_hurry_the_linking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint that fails stops new uploads (nothing more is sent that could not be
    recorded); that stop is the run's own, not the user's, so the linking keeps its per-batch
    patience and links everything uploaded (a Ctrl-C's limit, here 10 ms, would cut it)."""
    from async_uploader.control import RunControl, Signals
    from async_uploader.limits import Limits
    from async_uploader.run import sync
    from async_uploader.testserver import ServerOptions, Shaping

    from ..support import config_for, make_files

    limits = Limits(link_batch=4, link_after_stop=0.01)

    server: list[ServerThread] = []
    save = History.save

    def full_disk(self: History) -> None:  # the disk fills up once 10 files are on the server
        if server and server[0].stats()["created"] >= 10:
            raise HistoryError("cannot write history: No space left on device")
        save(self)

    monkeypatch.setattr(History, "save", full_disk)
    folder = tmp_path / "f"
    make_files(folder, [f"s{i:02d}.png" for i in range(40)], size=300)
    with ServerThread(ServerOptions(port=0, shaping=Shaping(latency_ms=200))) as srv:
        server.append(srv)
        config = config_for(
            srv.url, srv.api_key, folder, tmp_path, history_file=tmp_path / HISTORY, concurrency=2
        )
        signals = Signals()
        control = RunControl(
            progress_seconds=0, checkpoint_seconds=0.01, signals=signals, limits=limits
        )
        with pytest.raises(HistoryError):
            await sync(config, control)
        assert signals.stop.is_set()  # the uploads stopped early
        created = srv.stats()["created"]
        assert 10 <= created < 40
        in_album = srv.call(lambda s: [len(a.asset_ids) for a in s.state.albums.values()])
        assert in_album == [created]  # three batches of 4 and more, every one linked


def test_text_that_is_not_utf8_written_by_another_tool_is_read_as_bytes(
    server: ServerThread, shots: Path, tmp_path: Path
) -> None:
    """Another SQLite tool writes a name and a message as TEXT that is not UTF-8: status (in
    words and JSON), export (valid JSON), verify, check and a run read it as bytes, the way the
    names the tool records itself as BLOBs are read; no traceback, no "unexpected error"."""
    env = cli_env(server, shots)
    assert run_cli([], env, tmp_path).returncode == 0
    path = tmp_path / HISTORY
    con = sqlite3.connect(path)
    with con:  # \xff\xfe: not UTF-8 in any position
        con.execute(
            "INSERT INTO files (path, size, mtime_ns, outcome, message, at) VALUES "
            "(CAST(X'6f6464ff2e706e67' AS TEXT), 1, 1, 'rejected', CAST(X'626164fffe' AS TEXT), '')"
        )
        con.execute(
            "UPDATE files SET message = CAST(X'6e6f7465fe' AS TEXT) WHERE path = 'Screenshot 00.png'"
        )
    con.close()
    for args in (["status"], ["status", "--json"], ["export"], ["verify"], ["check"], []):
        r = run_cli(args, env, tmp_path)
        text = r.stdout + r.stderr
        assert "Traceback" not in text and "unexpected error" not in text, (args, text)
        assert r.returncode in (0, 1), (args, text)
        if args == ["status", "--json"]:
            assert json.loads(r.stdout)["rejected"][0]["file"] == "odd\udcff.png"
        if args == ["export"]:
            data = json.loads(r.stdout)  # the whole object, valid JSON
            assert data["files"]["odd\udcff.png"]["message"] == "bad\udcff\udcfe"
            assert data["files"]["Screenshot 00.png"]["message"] == "note\udcfe"
        if args == ["status"]:
            assert "odd\\xff.png: bad\\xff\\xfe" in r.stdout
        if args == ["verify"]:
            assert r.returncode == 0 and "All is well" in r.stdout


def test_an_older_history_with_malformed_records_does_not_block_a_run(
    server: ServerThread, shots: Path, tmp_path: Path
) -> None:
    """status reads it (the good records), a run takes it over with a warning naming what it
    left out, and goes on: exit 0, every file on the server."""
    data = v1_history(2)
    for row in data["files"].values():  # type: ignore[union-attr]
        row[2:4] = ["rejected", None]  # not on the server: nothing to link
    data["files"]["Screenshot 00.png"] = [1, 1.5, "created", "a", "s", "album", "t", None]  # type: ignore[index]
    data["files"]["Screenshot 01.png"] = [2**70, 5, "created", ["a"], "s", "album", "t", {}]  # type: ignore[index]
    (tmp_path / "immich_upload_history.json").write_text(json.dumps(data))
    env = cli_env(server, shots)
    r = run_cli(["status"], env, tmp_path)
    assert r.returncode == 0 and "2 files recorded" in r.stdout, r.stdout + r.stderr
    r = run_cli(["--json"], env, tmp_path)
    assert r.returncode == 0, r.stderr
    assert "'Screenshot 00.png' not taken over: mtime_ns 1.5 is not a whole number" in r.stderr
    assert json.loads(r.stdout)["created"] == 12 and "Traceback" not in r.stderr


def test_a_record_whose_asset_id_is_no_id_does_not_block_the_others_links(
    server: ServerThread, shots: Path, tmp_path: Path
) -> None:
    """A history edited by hand: one record names an asset id that is no UUID, and a link to
    the album waits for every record. The server would refuse the whole request; instead that
    one record is forgotten (the next run sends its file again) and the rest are linked."""
    env = cli_env(server, shots)
    assert run_cli([], env, tmp_path).returncode == 0
    path = tmp_path / HISTORY
    edit_history(path, "UPDATE files SET album_id = NULL")
    edit_history(path, "UPDATE files SET asset_id = 'a0' WHERE path = 'Screenshot 03.png'")
    server.call(lambda s: [a.asset_ids.clear() for a in s.state.albums.values()])
    r = run_cli(["--json"], env, tmp_path)
    assert r.returncode == 1, r.stderr
    out = json.loads(r.stdout)
    assert (out["album_linked"], out["link_failed"]) == (11, 1)
    assert "names asset 'a0' for Screenshot 03.png, which is no asset id" in r.stderr
    r = run_cli(["--json"], env, tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["duplicates"] == 1  # sent again: the server had its bytes
    assert server.call(lambda s: [len(a.asset_ids) for a in s.state.albums.values()]) == [12]


def test_fields_of_the_wrong_type_written_by_hand_read_as_missing(
    server: ServerThread, shots: Path, tmp_path: Path
) -> None:
    """SQLite takes any value in any column: a size as text, a time as a blob, an asset id as a
    number. Every command reads such a field as missing (the file is checked again, or sent
    again), never stops with a traceback."""
    env = cli_env(server, shots)
    assert run_cli([], env, tmp_path).returncode == 0
    path = tmp_path / HISTORY
    edit_history(path, "UPDATE files SET size = 'big' WHERE path = 'Screenshot 01.png'")
    edit_history(path, "UPDATE files SET mtime_ns = X'00' WHERE path = 'Screenshot 02.png'")
    edit_history(path, "UPDATE files SET asset_id = 42 WHERE path = 'Screenshot 03.png'")
    edit_history(path, "UPDATE files SET album_id = 3.5 WHERE path = 'Screenshot 04.png'")
    for args in (["status"], ["status", "--json"], ["export"], ["check"], ["verify", "--repair"]):
        r = run_cli(args, env, tmp_path)
        text = r.stdout + r.stderr
        assert "Traceback" not in text and "unexpected error" not in text, (args, text)
        assert r.returncode in (0, 1), (args, text)
    r = run_cli(["--json"], env, tmp_path)
    assert r.returncode == 0, r.stderr
    assert server.call(lambda s: [len(a.asset_ids) for a in s.state.albums.values()]) == [12]
    r = run_cli(["verify"], env, tmp_path)
    assert r.returncode == 0 and "All is well" in r.stdout, r.stdout
