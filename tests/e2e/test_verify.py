"""``verify``: is everything the history says was sent still on the server, and in the album?
(issue 14, part 4). The server's side is changed behind the tool's back, as a user in Immich's web
page would: assets deleted for good, one put in the trash, one taken out of the album."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from async_uploader.testserver import ServerOptions, ServerThread

from ..support import HISTORY, cli_env, edit_history, history_records, make_files, run_cli

NAMES = [f"Screenshot {i:02d}.png" for i in range(10)]


def run_json(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, dict[str, Any]]:
    r = run_cli([*args, "--json"], env, cwd)
    assert r.stdout.count("\n") == 1, (r.stdout, r.stderr)
    return r.returncode, json.loads(r.stdout)


def asset_ids(srv: ServerThread) -> dict[str, str]:
    """file name -> asset id, of what the server holds (trashed ones too)."""
    return srv.call(lambda s: {a.original_file_name: a.id for a in s.state.assets.values()})


def album_ids(srv: ServerThread) -> list[str]:
    return srv.call(lambda s: [i for a in s.state.albums.values() for i in a.asset_ids])


def files_of(found: list[dict[str, Any]]) -> list[str]:
    return sorted(f["file"] for f in found)


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha1(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("api_version", [3, 2])
def test_verify_finds_what_the_server_lost_and_repair_brings_it_back(
    tmp_path: Path, api_version: int
) -> None:
    folder = tmp_path / "shots"
    make_files(folder, NAMES, size=20_000)
    local = digests(folder)
    with ServerThread(ServerOptions(port=0, api_version=api_version)) as srv:
        env = cli_env(srv, folder)
        code, out = run_json(["sync"], env, tmp_path)
        assert (code, out["created"]) == (0, 10)

        code, out = run_json(["verify"], env, tmp_path)
        assert (code, out["checked"], out["ok"]) == (0, 10, 10)
        assert out["lost"] == out["trashed"] == out["not_in_album"] == []

        # In Immich: two deleted for good, one to the trash, one out of the album.
        ids = asset_ids(srv)
        gone = [ids[NAMES[1]], ids[NAMES[2]]]
        srv.call(lambda s: s.state.delete(gone))
        srv.call(lambda s: s.state.trash([ids[NAMES[3]]]))
        srv.call(
            lambda s: s.state.remove_from_album(
                next(iter(s.state.albums.values())), [ids[NAMES[4]]]
            )
        )
        # A sync restores none of it: the history says done.
        code, out = run_json(["sync"], env, tmp_path)
        assert (code, out["created"], out["album_linked"]) == (0, 0, 0)

        code, out = run_json(["verify"], env, tmp_path)
        assert code == 1 and out["exit_code"] == 1
        assert files_of(out["lost"]) == NAMES[1:3]
        assert files_of(out["trashed"]) == [NAMES[3]]
        assert files_of(out["not_in_album"]) == [NAMES[4]]
        assert (out["ok"], out["checked"]) == (6, 10)
        r = run_cli(["verify"], env, tmp_path)  # the table says the same
        assert r.returncode == 1
        assert "lost" in r.stdout and NAMES[1] in r.stdout and "4 problems found." in r.stdout

        code, out = run_json(["verify", "--repair"], env, tmp_path)
        assert out["repaired"] == {"forgotten": 2, "linked": 1, "link_failed": 0}
        assert code == 1  # the trashed one is the user's to restore or empty
        assert ids[NAMES[4]] in album_ids(srv)
        assert history_records(tmp_path / HISTORY)[NAMES[1]]["outcome"] == "stale"

        code, out = run_json(["sync"], env, tmp_path)
        assert (out["created"], out["album_linked"]) == (2, 2)
        code, out = run_json(["verify"], env, tmp_path)
        assert (code, out["ok"], files_of(out["trashed"])) == (1, 9, [NAMES[3]])

        # The trash emptied: lost now; repaired, sent again, and all is well.
        srv.call(lambda s: s.state.delete([ids[NAMES[3]]]))
        code, out = run_json(["verify", "--repair"], env, tmp_path)
        assert (code, files_of(out["lost"]), out["repaired"]["forgotten"]) == (0, [NAMES[3]], 1)
        code, out = run_json(["sync"], env, tmp_path)
        assert out["created"] == 1
        code, out = run_json(["verify"], env, tmp_path)
        assert (code, out["ok"]) == (0, 10)
        r = run_cli(["verify"], env, tmp_path)
        assert r.returncode == 0 and "All is well." in r.stdout

        # Never a local file changed; never a delete sent by us.
        assert digests(folder) == local
        requests = srv.stats()["requests"]
        assert not any(k.startswith("DELETE") for k in requests), requests


def test_records_without_a_checksum_are_hashed_or_asked_about_by_id(tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    make_files(folder, NAMES[:4], size=20_000)
    with ServerThread(ServerOptions(port=0)) as srv:
        env = cli_env(srv, folder)
        assert run_cli(["sync"], env, tmp_path).returncode == 0
        # As an older version's records: no checksum. One file is gone locally too.
        assert edit_history(tmp_path / HISTORY, "UPDATE files SET sha1 = NULL") == 4
        (folder / NAMES[0]).unlink()
        ids = asset_ids(srv)
        srv.call(lambda s: s.state.delete([ids[NAMES[0]], ids[NAMES[1]]]))
        code, out = run_json(["verify"], env, tmp_path)
        assert code == 1
        assert out["hashed"] == 3  # the three still on disk; the gone one by its asset id
        assert files_of(out["lost"]) == NAMES[:2]
        assert out["ok"] == 2
        by_id = srv.stats()["requests"].get("GET /api/assets/{id}", 0)
        assert by_id == 1, srv.stats()["requests"]

        # Changed locally since its upload: not the server's problem; the next sync sends it.
        (folder / NAMES[2]).write_bytes(b"new content" * 100)
        code, out = run_json(["verify"], env, tmp_path)
        assert out["changed_locally"] == 1 and out["ok"] == 1


def test_verify_without_the_server_or_with_a_run_active_says_so(tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    make_files(folder, NAMES[:2])
    env = cli_env(None, folder)
    env.update({"IMMICH_API_KEY": "k" * 20, "IMMICH_LOCAL_URL": "http://127.0.0.1:9"})
    code, out = run_json(["verify"], env, tmp_path)
    assert code == 3 and "no Immich server reachable" in out["error"]
    with ServerThread(ServerOptions(port=0)) as srv:
        env = cli_env(srv, folder)
        assert run_cli(["sync"], env, tmp_path).returncode == 0
        from async_uploader.store import RunLock

        with RunLock(tmp_path / HISTORY):
            code, out = run_json(["verify", "--repair"], env, tmp_path)
            assert code == 4
            code, out = run_json(["verify"], env, tmp_path)  # read-only: no lock needed
            assert (code, out["ok"]) == (0, 2)


def test_an_album_deleted_in_immich_is_made_again_by_repair_and_filled(tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    make_files(folder, NAMES[:3])
    with ServerThread(ServerOptions(port=0)) as srv:
        env = cli_env(srv, folder)
        assert run_cli(["sync"], env, tmp_path).returncode == 0
        srv.call(lambda s: s.state.albums.clear())
        code, out = run_json(["verify"], env, tmp_path)
        assert (code, out["album_id"], len(out["not_in_album"])) == (1, None, 3)
        assert srv.call(lambda s: len(s.state.albums)) == 0  # a plain verify creates nothing
        code, out = run_json(["verify", "--repair"], env, tmp_path)
        assert (code, out["repaired"]["linked"]) == (0, 3)
        albums = srv.call(lambda s: [(a.name, len(a.asset_ids)) for a in s.state.albums.values()])
        assert albums == [("Screens", 3)]
        code, out = run_json(["verify"], env, tmp_path)
        assert (code, out["ok"]) == (0, 3)


@pytest.mark.parametrize("route", ["bulk-check", "search"])
def test_a_server_answering_ids_that_are_not_uuids_changes_nothing(
    tmp_path: Path, route: str
) -> None:
    """A bulk check (or an album listing) whose ids carry a newline: verify --repair says what
    answered wrong in one line and exits 1; no record's asset id is rewritten, nothing linked."""
    folder = tmp_path / "shots"
    make_files(folder, NAMES[:4])
    with ServerThread(ServerOptions(port=0)) as srv:
        env = cli_env(srv, folder)
        assert run_cli([], env, tmp_path).returncode == 0
        before = history_records(tmp_path / HISTORY)
        srv.call(lambda s: s.hostile(route, "id-newline"))
        r = run_cli(["verify", "--repair"], env, tmp_path)
        assert r.returncode == 1, r.stdout + r.stderr
        line = r.stderr.strip().splitlines()[-1]
        endpoint = "/api/assets/bulk-upload-check" if route == "bulk-check" else "/search/metadata"
        assert endpoint in line and "is not a UUID" in line, line
        assert "All is well" not in r.stdout and "unexpected error" not in r.stderr
        assert history_records(tmp_path / HISTORY) == before
