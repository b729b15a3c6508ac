"""The history's database, in process: what a save commits, what an open takes over, what it
refuses, and the journal it keeps where WAL cannot work."""

from __future__ import annotations

import json
import logging
import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from async_uploader.errors import HistoryError
from async_uploader.store import History, Record, filesystem_type

from ..support import (
    HISTORY,
    ODD,
    history_records,
    v1_history,
)


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


BAD_RECORDS = {
    "float-mtime.png": [5, 1.5, "created", "a", "s", "album", "t", None],
    "huge-size.png": [2**70, 50, "created", "a", "s", "album", "t", None],
    "list-asset.png": [5, 50, "created", ["a"], "s", "album", "t", None],
    "dict-message.png": [5, 50, "rejected", None, None, None, "t", {"x": 1}],
    "bool-size.png": [True, 50, "created", "a", "s", "album", "t", None],
    "short.png": [5, 50, "created"],
    "number-outcome.png": [5, 50, 7, "a", "s", "album", "t", None],
}


def test_a_malformed_record_of_an_older_history_is_skipped_by_name(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A field of the wrong type (a float time, a size past SQLite's integers, a list as an
    asset id, a dict as a message): that record is left out with a warning naming it; the rest
    is taken over, and the file stays as it was."""
    data = v1_history(3)
    data["files"].update(BAD_RECORDS)  # type: ignore[union-attr]
    old = tmp_path / "immich_upload_history.json"
    old.write_text(json.dumps(data))
    before = old.read_bytes()
    with caplog.at_level(logging.WARNING):
        history = History.open(old)
    assert history.count() == 3 and history.is_settled("old/00002.png", 2, 20)
    for name in BAD_RECORDS:
        assert f"'{name}' not taken over" in caplog.text, name
    assert "size 1180591620717411303424 is not a whole number" in caplog.text
    assert "asset_id is not a text" in caplog.text and "message is not a text" in caplog.text
    history.close()
    assert old.read_bytes() == before
