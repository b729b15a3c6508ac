"""Where a run puts what it uploads (issue 30): the visibility of its uploads (never of what the
server had), an album per subfolder, tags and a session tag, a date window. Asserted on the
test server's state (visibility, album members, tags), in both versions' modes where they
differ: 2.x lists an album's archived and hidden assets only when asked for each visibility."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from async_uploader.testserver import ServerOptions, ServerThread

from ..support import HISTORY, cli_env, make_files, run_cli

DAY = 86_400


def state(srv: ServerThread) -> dict[str, Any]:
    """The server's assets by file name (their visibility and tags), its albums' members by
    album name (as file names), and every tag it has."""
    result: dict[str, Any] = srv.call(_state)
    return result


def _state(s: Any) -> dict[str, Any]:
    st = s.state
    names = {a.id: a.original_file_name for a in st.assets.values()}
    return {
        "assets": {
            a.original_file_name: {
                "visibility": a.visibility,
                "tags": sorted(st.tags[t].value for t in a.tag_ids if t in st.tags),
            }
            for a in st.assets.values()
        },
        "albums": {al.name: sorted(names[i] for i in al.asset_ids) for al in st.albums.values()},
        "tags": sorted(t.value for t in st.tags.values()),
        "every": [  # every asset, names or not alike
            (a.visibility, sorted(st.tags[t].value for t in a.tag_ids if t in st.tags))
            for a in st.assets.values()
        ],
    }


def sync_json(env: dict[str, str], cwd: Path, *args: str) -> dict[str, Any]:
    r = run_cli(["sync", "--json", *args], env, cwd)
    assert r.stdout.strip(), r.stderr
    out: dict[str, Any] = json.loads(r.stdout)
    out["stderr"] = r.stderr
    return out


# -- visibility -----------------------------------------------------------------------------------
@pytest.mark.parametrize("api_version", [2, 3])
def test_uploads_get_the_visibility_and_what_the_server_had_keeps_its_own(
    tmp_path: Path, api_version: int
) -> None:
    folder = tmp_path / "shots"
    make_files(folder, ["had.png"])
    with ServerThread(ServerOptions(port=0, api_version=api_version)) as srv:
        first = cli_env(srv, folder, IMMICH_HISTORY_FILE=str(tmp_path / "first.sqlite"))
        assert sync_json(first, tmp_path)["created"] == 1
        make_files(folder, ["archived.png", "hidden.png"], start_seed=1)
        # Another machine (a history of its own) with archive: had.png is the server's already.
        env = cli_env(srv, folder, IMMICH_VISIBILITY="archive")
        out = sync_json(env, tmp_path, "--exclude", "hidden.png")
        assert (out["created"], out["duplicates"], out["exit_code"]) == (1, 1, 0)
        out = sync_json(env, tmp_path, "--visibility", "hidden")
        assert (out["created"], out["exit_code"]) == (1, 0)
        seen = {name: a["visibility"] for name, a in state(srv)["assets"].items()}
        assert seen == {"had.png": "timeline", "archived.png": "archive", "hidden.png": "hidden"}
        assert state(srv)["albums"]["Screens"] == ["archived.png", "had.png", "hidden.png"]
        # verify finds all three in the album: 2.x needs a listing per visibility for that.
        r = run_cli(["verify", "--json"], env, tmp_path)
        report = json.loads(r.stdout)
        assert (r.returncode, report["ok"], report["not_in_album"]) == (0, 3, []), r.stderr


def test_locked_is_refused_with_its_reason_before_anything_is_sent(
    tmp_path: Path, shots: Path, server: ServerThread
) -> None:
    for how in ({"IMMICH_VISIBILITY": "locked"}, {}):
        args = ["sync"] if how else ["sync", "--visibility", "locked"]
        r = run_cli(args, cli_env(server, shots, **how), tmp_path)
        assert r.returncode == 2, r.stderr
        line = r.stderr.strip().splitlines()[-1]
        assert "locked is not supported" in line and "API key" in line, line
    r = run_cli(["sync", "--visibility", "nowhere"], cli_env(server, shots), tmp_path)
    assert r.returncode == 2 and "nowhere" in r.stderr
    assert server.stats()["created"] == 0


# -- folder albums --------------------------------------------------------------------------------
TREE = ["top.png", "2024/Work/a.png", "2025/Work/b.png", "Trips/c.png"]


@pytest.mark.parametrize(
    ("mode", "albums"),
    [
        ("folder", {"Screens": ["top.png"], "Work": ["a.png", "b.png"], "Trips": ["c.png"]}),
        (
            "path",
            {
                "Screens": ["top.png"],
                "2024 / Work": ["a.png"],
                "2025 / Work": ["b.png"],
                "Trips": ["c.png"],
            },
        ),
    ],
)
@pytest.mark.parametrize("api_version", [2, 3])
def test_each_subfolder_goes_to_its_album_and_the_top_level_to_the_main_one(
    tmp_path: Path, mode: str, albums: dict[str, list[str]], api_version: int
) -> None:
    with ServerThread(ServerOptions(port=0, api_version=api_version)) as server:
        _folder_albums(tmp_path, mode, albums, server)


def _folder_albums(
    tmp_path: Path, mode: str, albums: dict[str, list[str]], server: ServerThread
) -> None:
    folder = tmp_path / "shots"
    make_files(folder, TREE)
    env = cli_env(server, folder, IMMICH_RECURSIVE="true", IMMICH_FOLDER_ALBUMS=mode)
    out = sync_json(env, tmp_path)
    assert (out["created"], out["album_linked"], out["exit_code"]) == (4, 4, 0), out["stderr"]
    assert state(server)["albums"] == albums
    assert out["albums_linked"] == {name: len(files) for name, files in albums.items()}
    r = run_cli(["status", "--json"], env, tmp_path)
    info = json.loads(r.stdout)
    assert {n: c["files"] for n, c in info["albums"].items()} == out["albums_linked"]
    assert info["pending_album_links"] == 0
    again = sync_json(env, tmp_path)  # nothing new, every album whole: the server is not asked
    assert again["server_contacted"] is False, again["stderr"]
    r = run_cli(["verify", "--json"], env, tmp_path)
    report = json.loads(r.stdout)
    assert r.returncode == 0 and report["ok"] == 4, r.stdout + r.stderr
    assert set(report["albums"]) == set(albums)


def test_folder_albums_need_the_subfolders(tmp_path: Path, shots: Path) -> None:
    env = cli_env(None, shots, IMMICH_LOCAL_URL="http://127.0.0.1:9", IMMICH_API_KEY="k")
    r = run_cli(["sync"], {**env, "IMMICH_FOLDER_ALBUMS": "folder"}, tmp_path)
    assert r.returncode == 2 and "IMMICH_RECURSIVE" in r.stderr.strip().splitlines()[-1]


def test_a_moved_file_joins_its_new_folders_album_and_stays_in_the_old_one(
    tmp_path: Path, server: ServerThread
) -> None:
    folder = tmp_path / "shots"
    make_files(folder, TREE)
    env = cli_env(server, folder, IMMICH_RECURSIVE="true", IMMICH_FOLDER_ALBUMS="folder")
    assert sync_json(env, tmp_path)["exit_code"] == 0
    (folder / "Beach").mkdir()
    os.rename(folder / "Trips" / "c.png", folder / "Beach" / "c.png")
    out = sync_json(env, tmp_path)
    assert (out["created"], out["duplicates"], out["album_linked"]) == (0, 1, 1), out["stderr"]
    albums = state(server)["albums"]
    assert albums["Beach"] == ["c.png"] and albums["Trips"] == ["c.png"]
    assert server.stats()["created"] == 4  # one asset, in two albums


def test_turning_folder_albums_on_puts_the_files_already_sent_in_their_albums(
    tmp_path: Path, server: ServerThread
) -> None:
    folder = tmp_path / "shots"
    make_files(folder, TREE)
    env = cli_env(server, folder, IMMICH_RECURSIVE="true")
    assert sync_json(env, tmp_path)["album_linked"] == 4
    out = sync_json({**env, "IMMICH_FOLDER_ALBUMS": "folder"}, tmp_path)
    assert (out["created"], out["duplicates"], out["album_linked"]) == (0, 0, 3), out["stderr"]
    albums = state(server)["albums"]
    assert albums["Screens"] == ["a.png", "b.png", "c.png", "top.png"]  # left as they were
    assert albums["Work"] == ["a.png", "b.png"] and albums["Trips"] == ["c.png"]
    assert (
        sync_json({**env, "IMMICH_FOLDER_ALBUMS": "folder"}, tmp_path)["server_contacted"] is False
    )


# -- tags -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("api_version", [2, 3])
def test_every_asset_gets_the_tags_and_the_run_its_session_tag(
    tmp_path: Path, api_version: int
) -> None:
    folder = tmp_path / "shots"
    make_files(folder, ["had.png"])
    with ServerThread(ServerOptions(port=0, api_version=api_version)) as srv:
        other = cli_env(srv, folder, IMMICH_HISTORY_FILE=str(tmp_path / "other.sqlite"))
        assert sync_json(other, tmp_path)["created"] == 1  # on the server before, untagged
        make_files(folder, ["new1.png", "new2.png"], start_seed=1)
        env = cli_env(srv, folder, IMMICH_TAGS="Screens/Work, plain,plain", IMMICH_SESSION_TAG="1")
        out = sync_json(env, tmp_path)
        assert (out["tagged"], out["tags_pending"], out["exit_code"]) == (3, 0, 0), out["stderr"]
        seen = state(srv)
        session = [t for t in seen["tags"] if t.startswith("async-uploader/")]
        assert len(session) == 1 and time.strftime("%Y-%m-%d ") in session[0]
        for name in ("had.png", "new1.png", "new2.png"):  # the duplicate too
            assert seen["assets"][name]["tags"] == sorted(["Screens/Work", "plain", *session])
        # "/" made the parents.
        assert sorted(seen["tags"]) == sorted(
            ["Screens", "Screens/Work", "plain", "async-uploader", *session]
        )
        again = sync_json(env, tmp_path)
        assert again["server_contacted"] is False  # nothing new: no new session's tag either
        assert state(srv)["tags"] == seen["tags"]


def test_tags_the_server_could_not_take_wait_for_the_next_run(
    tmp_path: Path, shots: Path, server: ServerThread
) -> None:
    env = cli_env(server, shots, IMMICH_TAGS="Screens", IMMICH_RETRIES="0")
    server.call(lambda s: s.script_status("tags-assets", 500))
    out = sync_json(env, tmp_path)
    assert (out["created"], out["tagged"], out["tags_pending"]) == (12, 0, 12), out["stderr"]
    assert out["exit_code"] == 0  # tags are never worth a failed run
    assert not any(a["tags"] for a in state(server)["assets"].values())
    out = sync_json(env, tmp_path)  # nothing new, tags pending: the server is asked
    assert (out["server_contacted"], out["tagged"], out["tags_pending"]) == (True, 12, 0)
    assert all(a["tags"] == ["Screens"] for a in state(server)["assets"].values())
    assert sync_json(env, tmp_path)["server_contacted"] is False


def test_a_key_that_may_not_tag_gets_one_warning_and_the_run_goes_on(
    tmp_path: Path, shots: Path, server: ServerThread
) -> None:
    perms = ["asset.upload", "album.read", "album.create", "albumAsset.create", "user.read"]
    key = server.call(lambda s: s.create_api_key(perms))
    env = cli_env(server, shots, IMMICH_API_KEY=key, IMMICH_TAGS="Screens")
    out = sync_json(env, tmp_path)
    assert (out["created"], out["exit_code"], out["tags_pending"]) == (12, 0, 12)
    assert out["stderr"].count("may not tag") == 1, out["stderr"]
    r = run_cli(["check"], env, tmp_path)
    row = next(line for line in r.stdout.splitlines() if " tags " in line)
    assert "warn" in row and "tag.create" in row, r.stdout


# -- the date window ------------------------------------------------------------------------------
@pytest.mark.parametrize("api_version", [2, 3])
def test_files_outside_the_window_wait_unrecorded_for_a_run_whose_window_holds_them(
    tmp_path: Path, api_version: int
) -> None:
    with ServerThread(ServerOptions(port=0, api_version=api_version)) as server:
        _window(tmp_path, server)


def _window(tmp_path: Path, server: ServerThread) -> None:
    folder = tmp_path / "shots"
    names = ["Screenshot 2023-03-01 at 10.00.00.png", "Screenshot 2025-06-01 at 10.00.00.png"]
    make_files(folder, [*names, "recent.png", "month-old.png"])
    now = time.time()
    os.utime(folder / "recent.png", (now - DAY, now - DAY))
    os.utime(folder / "month-old.png", (now - 40 * DAY, now - 40 * DAY))
    env = cli_env(server, folder)
    out = sync_json(env, tmp_path, "--since", "2025-01-01", "--until", "30d")
    # 2025-06-01 and the 40-day-old file are inside; 2023 is before, yesterday's after.
    assert (out["created"], out["outside_window"], out["exit_code"]) == (2, 2, 0), out["stderr"]
    assert sorted(state(server)["assets"]) == sorted([names[1], "month-old.png"])
    again = sync_json(env, tmp_path, "--since", "2025-01-01", "--until", "30d")
    assert (again["server_contacted"], again["outside_window"]) == (False, 2)
    out = sync_json({**env, "IMMICH_SINCE": "7d"}, tmp_path)  # yesterday's now
    assert (out["created"], out["outside_window"]) == (1, 1)
    out = sync_json(env, tmp_path)  # no window: the 2023 one at last
    assert (out["created"], out["outside_window"]) == (1, 0)
    assert server.stats()["created"] == 4


@pytest.mark.parametrize(
    ("since", "until", "why"),
    [
        ("2024-13-01", "", "IMMICH_SINCE must be a date"),
        ("", "yesterday", "IMMICH_UNTIL must be a date"),
        ("2025-01-02", "2025-01-01", "is not before IMMICH_UNTIL"),
        ("99999w", "", "past 1900"),
    ],
)
def test_a_window_that_cannot_be_is_one_line_and_exit_2(
    tmp_path: Path, shots: Path, since: str, until: str, why: str
) -> None:
    env = cli_env(None, shots, IMMICH_LOCAL_URL="http://127.0.0.1:9", IMMICH_API_KEY="k")
    r = run_cli(["sync"], {**env, "IMMICH_SINCE": since, "IMMICH_UNTIL": until}, tmp_path)
    assert r.returncode == 2 and why in r.stderr.strip().splitlines()[-1], r.stderr


def test_the_old_history_is_taken_over_with_its_links(tmp_path: Path, shots: Path) -> None:
    """A schema-2 history (the version before) is upgraded in place by a run, and read as it is
    by status: its records keep their album links, and nothing is sent again."""
    import sqlite3

    with ServerThread(ServerOptions(port=0)) as srv:
        env = cli_env(srv, shots)
        assert sync_json(env, tmp_path)["created"] == 12
        db = sqlite3.connect(tmp_path / HISTORY)
        db.executescript(
            "DROP INDEX files_target; DROP TABLE tags_pending; "
            "ALTER TABLE files DROP COLUMN album; "
            "CREATE INDEX files_album ON files (album_id) WHERE outcome IN ('created', "
            "'duplicate') AND asset_id IS NOT NULL AND asset_id != ''; PRAGMA user_version = 2;"
        )
        db.close()
        r = run_cli(["status", "--json"], env, tmp_path)
        assert json.loads(r.stdout)["pending_album_links"] == 0, r.stderr
        db = sqlite3.connect(tmp_path / HISTORY)
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2  # status wrote nothing
        db.close()
        out = sync_json(env, tmp_path)
        assert (out["server_contacted"], out["created"]) == (False, 0), out["stderr"]
        db = sqlite3.connect(tmp_path / HISTORY)
        assert db.execute("PRAGMA user_version").fetchone()[0] == 3
        db.close()
        assert srv.stats()["created"] == 12


# -- all of it at once ----------------------------------------------------------------------------
@pytest.mark.parametrize("api_version", [2, 3])
def test_folder_albums_archive_tags_and_a_window_together(tmp_path: Path, api_version: int) -> None:
    """The issue's acceptance: a recursive run with folder albums, archive, two tags (one
    nested), a session tag and a since date; then verify, and a second run that sends nothing."""
    folder = tmp_path / "shots"
    new, old = "Screenshot 2026-11-20 at 10.00.00.png", "Screenshot 2023-01-05 at 09.00.00.png"
    make_files(folder, [new, f"Work/{new}", f"Work/{old}", f"Trips/Rome/{new}", old])
    with ServerThread(ServerOptions(port=0, api_version=api_version)) as srv:
        env = cli_env(
            srv,
            folder,
            IMMICH_RECURSIVE="true",
            IMMICH_FOLDER_ALBUMS="folder",
            IMMICH_VISIBILITY="archive",
            IMMICH_TAGS="Screens/Work,Imported",
            IMMICH_SESSION_TAG="true",
            IMMICH_SINCE="2024-01-01",
        )
        out = sync_json(env, tmp_path)
        assert (out["created"], out["outside_window"], out["exit_code"]) == (3, 2, 0), out["stderr"]
        seen = state(srv)
        assert seen["albums"] == {"Screens": [new], "Work": [new], "Rome": [new]}
        session = next(t for t in seen["tags"] if t.startswith("async-uploader/"))
        tags = sorted(["Screens/Work", "Imported", session])
        assert (
            seen["every"] == [("archive", tags)] * 3
        )  # three files of one name, bytes of their own
        r = run_cli(["verify"], env, tmp_path)
        assert r.returncode == 0 and "All is well." in r.stdout, r.stdout + r.stderr
        again = sync_json(env, tmp_path)
        assert (again["server_contacted"], again["created"], again["exit_code"]) == (False, 0, 0)
        assert srv.stats()["created"] == 3
