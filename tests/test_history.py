"""The history's database: what a save commits, what an open takes over, what it refuses."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import stat
import threading
import time
from pathlib import Path

import anyio
import pytest

from async_uploader.errors import HistoryError
from async_uploader.store import FIELDS, History, Record, filesystem_type
from async_uploader.testserver import ServerThread

from .conftest import HISTORY, cli_env, history_records, last_run_record, run_cli

ODD = "odd-\udcff\udcfe.png"  # a name whose bytes are not UTF-8, as Python holds it


def v1_history(n: int) -> dict[str, object]:
    rows = {
        f"old/{i:05d}.png": [i, i * 10, "created", f"a{i}", f"s{i}", "album", "t", None]
        for i in range(n)
    }
    return {"version": 1, "saved_at": "2026-01-01T00:00:00+00:00", "fields": FIELDS, "files": rows}


def test_a_save_commits_what_changed_and_reads_back_the_same(tmp_path: Path) -> None:
    path = tmp_path / HISTORY
    history = History.open(path)
    for i in range(4500):
        history.record(f"old/{i:05d}.png", Record(i, i * 10, "created", f"a{i}", f"s{i}"))
    history.record(ODD, Record(3, 30, "duplicate", "odd-asset"))
    history.save()
    assert not history.dirty
    history.record("old/00007.png", Record(7, 70, "rejected", message='bad "file"'))  # replaces
    history.mark_linked(["old/00001.png", ODD], "album")
    history.forget("old/00002.png")
    history.save()
    history.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = History.open(path)
    assert again.count() == 4501
    assert again.is_settled(ODD, 3, 30) and again.get(ODD) == Record(
        3,
        30,
        "duplicate",
        "odd-asset",
        None,
        "album",
        again.get(ODD).at,  # type: ignore[union-attr]
    )
    assert not again.is_settled("old/00007.png", 7, 70)  # rejected: sent again
    assert not again.is_settled("old/00002.png", 2, 20)  # the server lost it: sent again
    assert not again.is_settled("old/00003.png", 3, 31)  # changed since
    check = again.unchanged_check()  # the scan's fingerprint check agrees with the records
    for rel, size, mtime in [(ODD, 3, 30), ("old/00004.png", 4, 40), ("old/00007.png", 7, 70)]:
        assert check(rel, size, mtime) == again.is_settled(rel, size, mtime)
    assert not check("old/00004.png", 4, 41) and not check("new.png", 1, 1)
    many = again.get_many(
        [ODD, "old/00007.png", "missing.png", *(f"old/{i:05d}.png" for i in range(900))]
    )
    assert set(many) == {ODD, *(f"old/{i:05d}.png" for i in range(900))}  # two queries of 500
    assert many[ODD] == again.get(ODD) and many["old/00007.png"].outcome == "rejected"
    pending = again.pending_links("album")
    assert ODD not in pending and "old/00001.png" not in pending and len(pending) == 4500 - 3
    assert again.pending_count("album") == len(pending)
    records = history_records(path)  # another SQL reader: the name's bytes kept exactly
    assert (
        records[ODD]["album_id"] == "album" and records["old/00007.png"]["message"] == 'bad "file"'
    )


def test_any_pending_answers_as_the_count_does_without_reading_the_index(tmp_path: Path) -> None:
    """The idle run's question (any link still to make?) from three index searches: the same
    answer as pending_count for an album id that sorts before, between and after the others,
    for a record with no album yet, and for records that belong in no album."""
    history = History.open(tmp_path / HISTORY)
    history.record("rejected.png", Record(1, 1, "rejected", message="bad"))
    history.record("empty.png", Record(0, 1, "empty"))
    history.record("no-asset.png", Record(1, 1, "created", None, None, None))
    for album in ("b", "m"):
        history.record(f"in-{album}.png", Record(1, 1, "created", f"a-{album}", None, album))
    history.save()
    history.mark_linked(["in-b.png"], "m")
    cases = {"m": False, "a": True, "b": True, "c": True, "z": True}
    for album, expected in cases.items():
        assert history.any_pending(album) is expected  # the unsaved change counts
        assert (history.pending_count(album) > 0) is expected
    history.save()
    for album, expected in cases.items():
        assert history.any_pending(album) is expected
    history.record("later.png", Record(1, 1, "duplicate", "a-later", None, None))
    history.save()
    assert history.any_pending("m") and history.pending_count("m") == 1
    history.close()


def test_links_of_stored_records_are_updated_at_the_save_without_being_read(
    tmp_path: Path,
) -> None:
    """mark_linked keeps only the path for a stored record: every reader sees the link before
    the save, a save that fails keeps it, a file recorded again meanwhile keeps its own record,
    and the save writes it with one UPDATE."""
    path = tmp_path / HISTORY
    history = History.open(path)
    for i in range(5):
        history.record(f"f{i}.png", Record(1, i, "created", f"a{i}", None, None))
    history.save()
    history.mark_linked(["f0.png", "f1.png", "f2.png", "missing.png"], "al")
    assert history.dirty and history.unsaved == 4
    assert history.get("f0.png").album_id == "al"  # type: ignore[union-attr]
    assert history.get_many(["f1.png"])["f1.png"].album_id == "al"
    assert history.records["f2.png"].album_id == "al" and "missing.png" not in history.records
    assert set(history.pending_links("al")) == {"f3.png", "f4.png"}
    assert list(history.pending_pages("al", 10)) == [{"f3.png": "a3", "f4.png": "a4"}]
    assert history.pending_count("al") == 2 and history.any_pending("al")
    history.record("f1.png", Record(2, 9, "created", "a1-new", None, None))  # sent again
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another program holds the write lock
    history._db.execute("PRAGMA busy_timeout = 50")
    with pytest.raises(HistoryError):
        history.save()
    blocker.execute("ROLLBACK")
    blocker.close()
    assert history.get("f0.png").album_id == "al"  # type: ignore[union-attr]
    assert history.get("f1.png").album_id is None  # type: ignore[union-attr]
    history.save()
    assert not history.dirty
    history.close()
    rows = history_records(path)
    assert [rows[f"f{i}.png"]["album_id"] for i in range(5)] == ["al", None, "al", None, None]
    assert rows["f1.png"]["asset_id"] == "a1-new" and "missing.png" not in rows


def test_a_save_in_a_worker_thread_loses_nothing_recorded_meanwhile(tmp_path: Path) -> None:
    history = History.open(tmp_path / HISTORY)
    stop = threading.Event()

    def saver() -> None:
        while not stop.is_set():
            history.save()

    thread = threading.Thread(target=saver)
    thread.start()
    for i in range(20_000):
        history.record(f"f{i}.png", Record(i, i, "created", f"a{i}"))
        if i % 1000 == 0:
            assert history.get(f"f{i}.png") is not None  # visible while being committed
    stop.set()
    thread.join()
    history.save()
    history.close()
    assert len(history_records(tmp_path / HISTORY)) == 20_000


def test_a_version_1_history_is_taken_over_once_and_left_in_place(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    old = tmp_path / "immich_upload_history.json"
    old.write_text(json.dumps(v1_history(3000)))
    (tmp_path / "immich_upload_history.json.last-run").write_text(json.dumps({"created": 3000}))
    before = old.read_bytes()
    with caplog.at_level(logging.INFO):
        history = History.open(old)  # the older name: the .sqlite beside it
    assert history.path == tmp_path / HISTORY
    assert "took over 3000 records from immich_upload_history.json (version 1)" in caplog.text
    assert history.is_settled("old/00042.png", 42, 420) and history.last_run() == {"created": 3000}
    history.close()
    assert old.read_bytes() == before  # untouched
    old.write_text(json.dumps(v1_history(10)))  # changed later: not read again
    again = History.open(tmp_path / HISTORY)
    assert again.count() == 3000
    again.close()


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
    assert len(data["files"]) == 12 and data["schema"] == 2
    one = data["files"]["Screenshot 00.png"]
    assert one["outcome"] == "created" and one["album_id"] == data["last_run"]["album_id"]
    assert data["last_run"] == last_run_record(tmp_path / HISTORY)
    assert server.api_key not in r.stdout


@pytest.mark.parametrize(
    ("setup", "says"),
    [
        (
            ["PRAGMA user_version = 3", "CREATE TABLE files (x)"],
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


def test_a_network_file_system_gets_a_rollback_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    mountinfo = (
        "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
        "40 22 0:50 / /mnt/nas\\040photos rw,relatime shared:30 - nfs4 nas:/photos rw,vers=4.2\n"
    )
    assert filesystem_type(Path("/mnt/nas photos/x"), mountinfo) == "nfs4"
    assert filesystem_type(Path("/mnt/nasty"), mountinfo) == "ext4"
    assert filesystem_type(Path("/home/me"), mountinfo) == "ext4"
    from async_uploader.store import opening as module

    monkeypatch.setattr(module, "filesystem_type", lambda folder, mountinfo=None: "nfs4")
    with caplog.at_level(logging.INFO):
        history = History.open(tmp_path / HISTORY)
    assert history.journal == "delete"
    assert "network file system (nfs4): using a rollback journal" in caplog.text
    history.record("a.png", Record(1, 1, "created", "x"))
    history.save()
    history.close()
    con = sqlite3.connect(tmp_path / HISTORY)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    con.close()
    assert not (tmp_path / f"{HISTORY}-wal").exists()


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


def test_a_file_list_past_its_spill_point_lives_on_disk_and_reads_back_in_order() -> None:
    from async_uploader.files import FileList, LocalFile

    names = [f"z{i:03d}.png" for i in range(40, 0, -1)] + ["e.jpg", ODD, "sub/x.PNG"]
    files = FileList(spill=10)
    for i, name in enumerate(names):
        files.append(LocalFile(f"/f/{name}", name, 0 if name == "e.jpg" else i + 1, i, None))
    files.finish()
    assert files._db is not None and files._mem == []  # on disk, not in memory
    # In SQLite's order: names as text, then the one kept as bytes.
    assert [f.rel for f in files] == [*sorted(set(names) - {ODD}), ODD]
    png = files.only(lambda ext: ext.lower() == ".png")
    assert len(png) == 42 and {f.rel for f in png} == set(names) - {"e.jpg"}
    assert [f.rel for f in files.empties()] == ["e.jpg"] and len(files.nonempty()) == 42
    assert files.bytes == sum(f.size for f in files) and png.nonempty().bytes == png.bytes
    odd = next(f for f in files if f.rel == ODD)
    assert odd.fspath == f"/f/{ODD}" and odd.size == names.index(ODD) + 1
    files.close()


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

    from .conftest import config_for, make_files

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

    from .conftest import OLD

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

    from .conftest import config_for, make_files

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
            while not srv.call(lambda s: any(a.asset_ids for a in s.state.albums.values())):
                time.sleep(0.02)

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
    from async_uploader.errors import HistoryError
    from async_uploader.limits import Limits
    from async_uploader.run import sync
    from async_uploader.testserver import ServerOptions, Shaping

    from .conftest import config_for, make_files

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
