"""Fresh-machine dedup: what the server already has is recognised without sending it (issue 5)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from async_uploader.testserver import ServerOptions, ServerThread

from ..support import (
    HISTORY,
    OLD,
    cli_env,
    edit_history,
    history_records,
    last_run_record,
    make_files,
    run_cli,
)

UNLINK = "UPDATE files SET album_id = NULL WHERE path = ?"


def test_fresh_history_over_files_already_on_the_server_sends_no_body(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    make_files(folder, [f"s{i:03d}.png" for i in range(300)], size=5_000)
    with ServerThread(ServerOptions(port=0)) as srv:
        env = cli_env(srv, folder)
        machine_a, machine_b = tmp_path / "a", tmp_path / "b"
        machine_a.mkdir()
        machine_b.mkdir()
        first = run_cli(["--json"], env, machine_a)
        assert json.loads(first.stdout)["created"] == 300
        srv.call(lambda s: s.state.albums.clear())  # and the album is gone too
        before = srv.stats()
        second = run_cli(["--json"], env, machine_b)  # a new machine: no history
        summary = json.loads(second.stdout)
        after = srv.stats()
        assert second.returncode == 0, second.stderr
        assert (summary["created"], summary["duplicates"], summary["album_linked"]) == (0, 300, 300)
        assert after["upload_body_bytes"] == before["upload_body_bytes"]  # not one body byte
        assert (
            after["requests"].get("POST /api/assets", 0) == before["requests"]["POST /api/assets"]
        )
        assert after["requests"]["POST /api/assets/bulk-upload-check"] >= 1
        assert [
            len(a) for a in srv.call(lambda s: [x.asset_ids for x in s.state.albums.values()])
        ] == [300]
        history = history_records(machine_b / HISTORY)
        assert all(
            r["outcome"] == "duplicate" and len(str(r["sha1"])) == 40 for r in history.values()
        )


def test_uploads_carry_the_checksum_header(
    server: ServerThread, shots: Path, tmp_path: Path
) -> None:
    r = run_cli(["--json"], cli_env(server, shots), tmp_path)
    assert json.loads(r.stdout)["created"] == 12
    assert server.stats()["uploads_with_checksum"] == 12


def test_idle_rerun_opens_no_file(server: ServerThread, shots: Path, tmp_path: Path) -> None:
    """Proof by access time: after the first run every atime is set back to 2024; a rerun that
    opened a file would move it (relatime updates atime when it is not newer than mtime)."""
    env = cli_env(server, shots)
    assert run_cli([], env, tmp_path).returncode == 0
    files = sorted(shots.iterdir())
    for p in files:
        os.utime(p, ns=(OLD * 10**9, p.stat().st_mtime_ns))
    control = tmp_path / "control.png"
    control.write_bytes(b"x")
    os.utime(control, (OLD, OLD))
    control.read_bytes()
    assert control.stat().st_atime_ns != OLD * 10**9, "this file system does not keep access times"
    r = run_cli(["--json"], env, tmp_path)
    assert json.loads(r.stdout)["skipped_history"] == 12
    assert [p.stat().st_atime_ns for p in files] == [OLD * 10**9] * len(files)
    assert (
        server.stats()["requests"].get("POST /api/assets/bulk-upload-check", 0) == 1
    )  # first run only


def test_trashed_assets_are_reported_not_resent(server: ServerThread, tmp_path: Path) -> None:
    folder = tmp_path / "f"
    make_files(folder, ["a.png", "b.png"])
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    assert run_cli([], cli_env(server, folder), tmp_path / "one").returncode == 0
    server.call(lambda s: s.state.trash(list(s.state.assets)[:1]))
    r = run_cli(["--json"], cli_env(server, folder), tmp_path / "two")
    assert json.loads(r.stdout)["duplicates"] == 2
    assert "in the Immich trash" in r.stderr
    assert server.stats()["requests"]["POST /api/assets"] == 2  # only the first run's


def _requests(srv: ServerThread) -> int:
    return sum(srv.stats()["requests"].values())


def test_idle_run_settles_without_the_server(
    server: ServerThread, shots: Path, tmp_path: Path
) -> None:
    """Nothing new: the run is the scan alone. Not one request, even a health check, and it
    succeeds while the server is away; a new file or another album brings the server back in."""
    env = cli_env(server, shots)
    assert json.loads(run_cli(["--json"], env, tmp_path).stdout)["server_contacted"] is True
    before = _requests(server)
    idle = run_cli(["--json"], env, tmp_path)
    summary = json.loads(idle.stdout)
    assert idle.returncode == 0, idle.stderr
    assert (summary["server_contacted"], summary["skipped_history"]) == (False, 12)
    assert _requests(server) == before
    assert "the server was not contacted" in (tmp_path / "immich_backup.log").read_text()
    status = run_cli(["status"], env, tmp_path)
    assert "nothing new, so the server was not contacted" in status.stdout

    away = cli_env(
        None,
        shots,
        IMMICH_API_KEY=server.api_key,
        IMMICH_LOCAL_URL=server.url,
        IMMICH_EXTERNAL_URL="http://127.0.0.1:9",
    )
    changed_urls = run_cli(["--json"], away, tmp_path)  # other URLs: the facts do not apply
    assert json.loads(changed_urls.stdout)["server_contacted"] is True

    make_files(shots, ["Screenshot new.png"], start_seed=99)
    fresh = json.loads(run_cli(["--json"], env, tmp_path).stdout)
    assert (fresh["server_contacted"], fresh["created"]) == (True, 1)

    other_album = json.loads(
        run_cli(["--json"], {**env, "IMMICH_ALBUM_NAME": "Other"}, tmp_path).stdout
    )
    assert (other_album["server_contacted"], other_album["album_linked"]) == (True, 13)
    assert (
        json.loads(run_cli(["--json"], {**env, "IMMICH_ALBUM_NAME": "Other"}, tmp_path).stdout)[
            "server_contacted"
        ]
        is False
    )


def test_idle_run_with_the_server_gone_still_succeeds(shots: Path, tmp_path: Path) -> None:
    with ServerThread(ServerOptions(port=0)) as srv:
        env = cli_env(srv, shots)
        assert run_cli([], env, tmp_path).returncode == 0
    idle = run_cli(["--json"], env, tmp_path)  # the server is stopped: nothing needs it
    assert idle.returncode == 0 and json.loads(idle.stdout)["server_contacted"] is False
    make_files(shots, ["Screenshot new.png"], start_seed=99)
    assert run_cli([], env, tmp_path).returncode == 3  # something to send and no server: exit 3


def test_pending_link_brings_the_server_back(
    server: ServerThread, shots: Path, tmp_path: Path
) -> None:
    env = cli_env(server, shots)
    assert run_cli([], env, tmp_path).returncode == 0
    unlinked = "Screenshot 03.png"  # as after a failed link:
    assert edit_history(tmp_path / HISTORY, UNLINK, unlinked) == 1
    server.call(lambda s: [a.asset_ids.clear() for a in s.state.albums.values()])
    r = json.loads(run_cli(["--json"], env, tmp_path).stdout)
    assert (r["server_contacted"], r["album_linked"]) == (True, 1)
    assert [
        len(a) for a in server.call(lambda s: [a.asset_ids for a in s.state.albums.values()])
    ] == [1]


def test_other_types_in_the_folder_are_asked_about_once_a_day(
    server: ServerThread, shots: Path, tmp_path: Path
) -> None:
    """The server's file types are remembered; a folder with other files (notes.txt) stays
    offline until that knowledge is a day old, in case an upgraded server now takes them."""
    (shots / "notes.txt").write_text("not an image")
    os.utime(shots / "notes.txt", (OLD, OLD))
    env = cli_env(server, shots)
    assert run_cli([], env, tmp_path).returncode == 0
    assert json.loads(run_cli(["--json"], env, tmp_path).stdout)["server_contacted"] is False
    info = last_run_record(tmp_path / HISTORY)
    info["server"]["checked_at"] -= 25 * 3600
    edit_history(
        tmp_path / HISTORY, "UPDATE meta SET value = ? WHERE key = 'last_run'", json.dumps(info)
    )
    assert json.loads(run_cli(["--json"], env, tmp_path).stdout)["server_contacted"] is True
    assert json.loads(run_cli(["--json"], env, tmp_path).stdout)["server_contacted"] is False
    assert server.stats()["requests"].get("POST /api/assets", 0) == 12  # notes.txt never sent
