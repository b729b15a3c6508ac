"""Capture times from screenshot names, sidecars, and filters (issue 5, items 6 and 7)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from async_uploader.capture import make_xmp
from async_uploader.testserver import ServerThread

from ..support import HISTORY, cli_env, make_files, run_cli


def test_sidecar_makes_immich_show_local_time(server: ServerThread, tmp_path: Path) -> None:
    """A 12:00 screenshot in UTC+2: fileCreatedAt 10:00Z, and the sidecar's offset makes the
    timeline show 12:00 in zone UTC+2 (REAL-SERVER-NOTES.md)."""
    folder = tmp_path / "f"
    make_files(folder, ["Screenshot 2024-05-01 at 12.00.00.png", "plain.png"])
    env = cli_env(server, folder, TZ="Europe/Berlin")  # UTC+2 in May
    assert run_cli([], env, tmp_path).returncode == 0
    assets = {a.original_file_name: a for a in server.call(lambda s: list(s.state.assets.values()))}
    shot = assets["Screenshot 2024-05-01 at 12.00.00.png"]
    assert shot.fields["fileCreatedAt"] == "2024-05-01T10:00:00.000Z"
    assert shot.sidecar is not None and "2024-05-01T12:00:00+02:00" in shot.sidecar
    assert (shot.local_date_time, shot.time_zone) == ("2024-05-01T12:00:00.000Z", "UTC+2")
    plain = assets["plain.png"]  # no time in its name: its mtime, shown at local time too
    assert plain.fields["fileCreatedAt"] == "2024-05-01T12:00:01.000Z"
    assert plain.sidecar is not None and "2024-05-01T14:00:01+02:00" in plain.sidecar


def test_no_sidecar_flag_and_user_sidecar(server: ServerThread, tmp_path: Path) -> None:
    folder = tmp_path / "f"
    make_files(folder, ["a.png", "b.png"])
    user_xmp = make_xmp(datetime(2020, 1, 2, 3, 4, 5).astimezone())
    (folder / "b.png.xmp").write_bytes(user_xmp)
    env = cli_env(server, folder)
    r = run_cli(["--no-sidecar", "--json"], env, tmp_path)
    assert json.loads(r.stdout)["created"] == 2  # the .xmp itself is never an asset
    assets = {a.original_file_name: a for a in server.call(lambda s: list(s.state.assets.values()))}
    assert assets["a.png"].sidecar is None and assets["b.png"].sidecar is None
    server.call(lambda s: s.state.assets.clear() or s.state.by_checksum.clear())
    (tmp_path / HISTORY).unlink()
    assert run_cli([], env, tmp_path).returncode == 0
    assets = {a.original_file_name: a for a in server.call(lambda s: list(s.state.assets.values()))}
    assert assets["b.png"].sidecar == user_xmp.decode()  # the user's own, as it is
    assert "2024-05-01T12:00:00" in str(assets["a.png"].sidecar)


def test_include_exclude_from_environment_and_flags(server: ServerThread, tmp_path: Path) -> None:
    folder = tmp_path / "f"
    make_files(folder, ["a.png", "b.png", "c.jpg"])
    env = cli_env(server, folder, IMMICH_EXCLUDE="b.*")
    r = run_cli(["--json", "--include", "*.png"], env, tmp_path)
    assert json.loads(r.stdout)["created"] == 1
    assert server.call(lambda s: [a.original_file_name for a in s.state.assets.values()]) == [
        "a.png"
    ]
