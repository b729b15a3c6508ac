"""The official Immich CLI 3.2.2 (npm, on Node 22 from npm) works against the test server."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from async_uploader.testserver import ServerOptions, ServerThread

from ..support import make_files

# The inner npx runs on Node 22, so npm checks the CLI's engines against it (no EBADENGINE).
NPX = ["npx", "-y", "-p", "node@22", "--", "npx", "-y", "-p", "@immich/cli@3.2.2", "--", "immich"]


def test_official_cli_uploads_into_an_album_and_a_rerun_adds_nothing(tmp_path: Path) -> None:
    """Assertions are on the server's state: the CLI exits 0 even when uploads fail."""
    assert shutil.which("npx"), (
        "npm's npx is needed (the README's test command installs Node 22 through it)"
    )
    folder = tmp_path / "shots"
    make_files(folder, [f"shot {i}.png" for i in range(20)])
    with ServerThread(ServerOptions(port=0, api_version=3)) as srv:
        cmd = [
            *NPX,
            "upload",
            "-u",
            srv.url + "/api",
            "-k",
            srv.api_key,
            "-r",
            "-A",
            "CLI album",
            "-c",
            "4",
            "--no-progress",
            str(folder),
        ]
        env = {"HOME": str(tmp_path), "PATH": __import__("os").environ["PATH"]}
        first = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
        state = srv.call(
            lambda s: (
                len(s.state.assets),
                [(a.name, len(a.asset_ids)) for a in s.state.albums.values()],
            )
        )
        assert state == (20, [("CLI album", 20)]), first.stdout + first.stderr
        names = srv.call(lambda s: sorted(a.original_file_name for a in s.state.assets.values()))
        assert names == sorted(f"shot {i}.png" for i in range(20))
        uploads = srv.stats()["requests"].get("POST /api/assets", 0)
        second = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
        assert srv.stats()["requests"].get("POST /api/assets", 0) == uploads, second.stdout
        state = srv.call(
            lambda s: (
                len(s.state.assets),
                [(a.name, len(a.asset_ids)) for a in s.state.albums.values()],
            )
        )
        assert state == (20, [("CLI album", 20)])
        assert srv.stats()["requests"].get("POST /api/assets/bulk-upload-check", 0) >= 2
