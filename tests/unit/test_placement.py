"""Where uploads go, as pure logic: the album of a path (folder albums), the date window's ends
and its test of a file, the tags, the visibility, the health-check URL; and what the history
keeps of them (album names, tags to put), in process."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from async_uploader.config.load import session_tag
from async_uploader.config.values import (
    parse_folder_albums,
    parse_ping_url,
    parse_tag,
    parse_tags,
    parse_visibility,
)
from async_uploader.config.when import parse_when
from async_uploader.errors import ConfigError
from async_uploader.files import LocalFile
from async_uploader.ping import ping_url
from async_uploader.store import History, Record
from async_uploader.targets import album_for
from async_uploader.window import DateWindow

from ..support import HISTORY

NOW = datetime(2026, 12, 6, 21, 30).astimezone()


@pytest.mark.parametrize(
    ("rel", "folder", "path"),
    [
        ("top.png", None, None),
        ("Work/a.png", "Work", "Work"),
        ("2024/Work/a.png", "Work", "2024 / Work"),
        ("a/b/c/d.png", "c", "a / b / c"),
        ("caf\udce9/x.png", "caf\ufffd", "caf\ufffd"),  # a name that is not UTF-8
    ],
)
def test_the_album_of_a_path(rel: str, folder: str | None, path: str | None) -> None:
    assert album_for(rel, "off") is None
    assert album_for(rel, "folder") == folder
    assert album_for(rel, "path") == path


@pytest.mark.parametrize(
    ("text", "end", "expected"),
    [
        ("2024-05-01", False, datetime(2024, 5, 1).astimezone()),
        ("2024-05-01", True, datetime(2024, 5, 2).astimezone()),  # through the end of that day
        ("2024-05-01T18:30", False, datetime(2024, 5, 1, 18, 30).astimezone()),
        (
            "2024-05-01 18:30",
            True,
            datetime(2024, 5, 1, 18, 30).astimezone() + timedelta(microseconds=1),
        ),
        ("30d", False, NOW - timedelta(days=30)),
        ("12h", True, NOW - timedelta(hours=12)),
        (" 2W ", False, NOW - timedelta(weeks=2)),
    ],
)
def test_an_end_of_the_window_is_one_instant(text: str, end: bool, expected: datetime) -> None:
    assert parse_when(text, "IMMICH_SINCE", end, NOW) == expected


def test_an_offset_given_is_kept() -> None:
    assert parse_when("2024-05-01T18:30+02:00", "X", False, NOW).utcoffset() == timedelta(hours=2)


@pytest.mark.parametrize(
    "text", ["yesterday", "2024-13-01", "2024-05-01T25:00", "30m", "-3d", "1899-12-31", "9" * 50]
)
def test_an_end_that_is_no_time_is_one_line_naming_the_setting(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_when(text, "IMMICH_UNTIL", True, NOW)
    assert str(info.value).startswith("IMMICH_UNTIL ") and "\n" not in str(info.value)
    assert len(str(info.value)) < 200


def _file(name: str, mtime: datetime) -> LocalFile:
    ns = int(mtime.timestamp() * 1e9)
    return LocalFile(f"/x/{name}", name, 10, ns, None)


def test_the_window_judges_the_capture_time_a_run_sends() -> None:
    window = DateWindow.of(datetime(2024, 5, 1).astimezone(), datetime(2024, 5, 2).astimezone())
    assert window is not None and DateWindow.of(None, None) is None
    late = datetime(2025, 1, 1).astimezone()
    assert window(_file("Screenshot 2024-05-01 at 23.59.59.png", late))  # the name's time wins
    assert not window(_file("Screenshot 2024-05-02 at 00.00.00.png", late))  # until: exclusive
    assert not window(_file("Screenshot 2024-04-30 at 23.59.59.png", late))
    assert window(_file("plain.png", datetime(2024, 5, 1, 12).astimezone()))  # else its time
    assert not window(_file("plain.png", late))
    since_only = DateWindow(since=late.timestamp())
    assert since_only(_file("plain.png", late)) and not since_only(
        _file("Screenshot 2024-05-01 at 10.00.00.png", late)
    )


def test_tags_are_trimmed_nested_and_each_once() -> None:
    assert parse_tags(" Screens/Work , plain,, plain ,a//b/ ", "IMMICH_TAGS") == (
        "Screens/Work",
        "plain",
        "a/b",
    )
    assert parse_tag(" x / y ", "--tag") == "x/y"
    for bad in ("/", " ", "//"):
        with pytest.raises(ConfigError, match="empty tag"):
            parse_tag(bad, "--tag")
    with pytest.raises(ConfigError, match="over 200"):
        parse_tag("x" * 201, "--tag")
    with pytest.raises(ConfigError, match="control character"):  # a log line it could forge
        parse_tag("a\nINFO forged", "--tag")


def test_the_session_tag_names_the_run_start_in_local_time() -> None:
    assert session_tag(datetime(2026, 12, 6, 9, 5)) == "async-uploader/2026-12-06 09.05"


def test_visibility_and_folder_albums_take_their_words_and_say_why_not() -> None:
    assert parse_visibility(" Archive ", "V") == "archive"
    assert parse_visibility("", "V") == "timeline"
    with pytest.raises(ConfigError, match="locked is not supported: an API key can neither"):
        parse_visibility("locked", "IMMICH_VISIBILITY")
    with pytest.raises(ConfigError, match="timeline, archive or hidden"):
        parse_visibility("public", "IMMICH_VISIBILITY")
    assert [parse_folder_albums(v, "F") for v in ("folder", "PATH", "", "false")] == [
        "folder",
        "path",
        "off",
        "off",
    ]
    with pytest.raises(ConfigError, match="off, folder or path"):
        parse_folder_albums("tree", "F")


def test_a_ping_url_is_checked_and_never_quoted_back() -> None:
    assert parse_ping_url("https://hc-ping.com/abc/ ", "P") == "https://hc-ping.com/abc"
    assert parse_ping_url("", "P") is None
    for bad in ("ftp://x/secret-uuid", "hc-ping.com/secret-uuid", "https://x/secret-uuid#f"):
        with pytest.raises(ConfigError) as info:
            parse_ping_url(bad, "IMMICH_PING_URL")
        assert "secret-uuid" not in str(info.value)
    assert ping_url("https://h/p/uuid", "start") == "https://h/p/uuid/start"
    assert ping_url("https://h/p/uuid?create=1", "3") == "https://h/p/uuid/3?create=1"
    assert ping_url("https://h/p/uuid", "") == "https://h/p/uuid"


# -- what the history keeps --------------------------------------------------------------------
def _linked(history: History, rel: str, asset: str, album: str | None = None) -> None:
    history.record(rel, Record(1, 1, "created", asset, album=album))


def test_pending_links_are_counted_per_album(tmp_path: Path) -> None:
    history = History.open(tmp_path / HISTORY)
    _linked(history, "top.png", "a1")
    _linked(history, "Work/x.png", "a2", "Work")
    _linked(history, "Work/y.png", "a3", "Work")
    for saved in (False, True):  # in memory, then from the targets index
        if saved:
            history.save()
        assert history.pending_links("main") == {"top.png": "a1"}
        assert history.pending_links("work", "Work") == {"Work/x.png": "a2", "Work/y.png": "a3"}
        assert history.pending_count("work", "Work") == 2 and history.any_pending("work", "Work")
        assert history.album_names() == {None, "Work"}
    history.mark_linked(["Work/x.png"], "work")
    history.save()
    assert history.pending_links("work", "Work") == {"Work/y.png": "a3"}
    assert history.album_counts() == {None: {None: 1}, "Work": {"work": 1, None: 1}}
    pages = list(history.pending_pages("work", 1, "Work"))
    assert pages == [{"Work/y.png": "a3"}]
    assert not history.any_pending("elsewhere", "Nowhere")


def test_retarget_gives_every_record_its_new_album_in_pages(tmp_path: Path) -> None:
    history = History.open(tmp_path / HISTORY)
    for i in range(12_000):  # over two pages of 5,000
        _linked(history, f"d{i % 3}/f{i:05d}.png", f"a{i}")
    history.save()
    _linked(history, "d9/unsaved.png", "u")
    assert history.retarget(lambda rel: album_for(rel, "folder")) == 12_000
    history.save()
    assert history.album_counts() == {
        "d0": {None: 4000},
        "d1": {None: 4000},
        "d2": {None: 4000},
        "d9": {None: 1},
    }
    assert history.retarget(lambda rel: album_for(rel, "folder")) == 0  # nothing moves twice
    history.retarget(lambda rel: None)
    history.save()
    assert history.album_counts() == {None: {None: 12_001}}


def test_tags_to_put_are_kept_until_done_across_a_reopen(tmp_path: Path) -> None:
    history = History.open(tmp_path / HISTORY)
    history.add_tags("a1", ["t1", "t2"])
    history.add_tags("a2", ["t1"])
    assert history.tags_pending() == {"a1": frozenset({"t1", "t2"}), "a2": frozenset({"t1"})}
    assert history.any_tags_pending() and history.tags_pending_count() == 2
    history.save()
    history.close()
    history = History.open(tmp_path / HISTORY)
    assert history.tag_values() == ["t1", "t2"]
    assert list(history.tag_pages(1)) == [
        {"a1": frozenset({"t1", "t2"})},
        {"a2": frozenset({"t1"})},
    ]
    history.tags_done([("t1", "a1"), ("t2", "a1")])
    history.add_tags("a1", ["t3"])  # after the done: kept
    assert history.tags_pending() == {"a1": frozenset({"t3"}), "a2": frozenset({"t1"})}
    history.save()
    assert history.tags_pending_count() == 2 and history.tag_values() == ["t1", "t3"]
    history.tags_done([("t1", "a2"), ("t3", "a1")])
    history.save()
    assert not history.any_tags_pending() and history.tags_pending_count() == 0


def test_a_save_that_fails_keeps_the_tags_to_put(tmp_path: Path) -> None:
    history = History.open(tmp_path / HISTORY)
    history.add_tags("a1", ["t1"])
    blocker = sqlite3.connect(tmp_path / HISTORY, timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")
    history._db.execute("PRAGMA busy_timeout = 0")
    with pytest.raises(Exception, match="cannot write history"):
        history.save()
    blocker.rollback()
    blocker.close()
    assert history.tags_pending() == {"a1": frozenset({"t1"})}
    history.save()
    assert history.tags_pending_count() == 1


def test_a_schema_2_history_is_read_as_it_is_and_upgraded_by_a_writer(tmp_path: Path) -> None:
    path = tmp_path / HISTORY
    history = History.open(path)
    _linked(history, "Work/x.png", "a1")
    history.mark_linked(["Work/x.png"], "main")
    history.save()
    history.close()
    db = sqlite3.connect(path)
    db.executescript(
        "DROP INDEX files_target; DROP TABLE tags_pending; ALTER TABLE files DROP COLUMN album;"
        " PRAGMA user_version = 2;"
    )
    db.close()
    before = path.read_bytes()
    readonly = History.open(path, readonly=True)
    assert readonly.get("Work/x.png") == Record(
        1, 1, "created", "a1", None, "main", readonly.get("Work/x.png").at
    )  # type: ignore[union-attr]
    assert not readonly.any_pending("main") and readonly.tags_pending_count() == 0
    readonly.close()
    assert path.read_bytes() == before  # read, never written
    upgraded = History.open(path)
    upgraded.add_tags("a1", ["t"])
    upgraded.save()
    assert upgraded.tags_pending_count() == 1 and not upgraded.any_pending("main")
    upgraded.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 3
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()


def test_pending_pages_walk_the_primary_key_not_a_sort_per_page(tmp_path: Path) -> None:
    """Paging a million pending links must read a page per query: the targets index would make
    SQLite read the whole album and sort it for each page (quadratic)."""
    from async_uploader.store.schema import PENDING_BY_PATH

    history = History.open(tmp_path / HISTORY)
    _linked(history, "a.png", "a1")
    history.save()
    sql = f"EXPLAIN QUERY PLAN SELECT path, asset_id {PENDING_BY_PATH} AND path > ? ORDER BY path LIMIT ?"
    plan = " ".join(str(row) for row in history._db.execute(sql, (None, "x", "", 10)))
    assert "PRIMARY KEY" in plan and "TEMP B-TREE" not in plan, plan
