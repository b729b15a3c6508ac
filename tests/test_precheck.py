"""Fresh-machine dedup: what the server already has is recognised without sending it (issue 5)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from async_uploader.testserver import ServerOptions, ServerThread

from .conftest import OLD, cli_env, history_records, make_files, run_cli


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
        history = history_records(machine_b / "immich_upload_history.json")
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
