"""Fixtures: the test server on a free loopback port, sample folders, running the real CLI."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from async_uploader.config import Config, Secret
from async_uploader.demo import png
from async_uploader.testserver import ServerOptions, ServerThread

# Every process a test starts (the CLI, the test server) runs this working tree, not whatever
# copy of the package is installed in the environment (scripts/test installs it non-editable).
ROOT = Path(__file__).resolve().parent.parent
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
)

OLD = 1714564800  # 2024-05-01T12:00:00Z: old enough never to be "still being written"


@pytest.fixture(autouse=True)
def strict_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every run in the tests, in-process or a CLI subprocess, fails if its counts do not add
    up (scanned = done before + one final outcome each), instead of logging an error."""
    monkeypatch.setenv("ASYNC_UPLOADER_STRICT", "1")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # aiohttp is asyncio-only


@pytest.fixture
def server() -> Iterator[ServerThread]:
    with ServerThread(ServerOptions(port=0)) as srv:
        yield srv


def make_files(folder: Path, names: list[str], size: int = 0, start_seed: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, name in enumerate(names):
        p = folder / name
        p.parent.mkdir(parents=True, exist_ok=True)
        data = png(16, 16, start_seed + i)
        if size > len(data):
            data += os.urandom(size - len(data))
        p.write_bytes(data)
        os.utime(p, (OLD + i, OLD + i))
        paths.append(p)
    return paths


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = tmp_path / "shots"
    make_files(folder, [f"Screenshot {i:02d}.png" for i in range(12)])
    return folder


def cli_env(server: ServerThread | None, folder: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMMICH_", "SCREENSHOTS_"))}
    env.update(
        {
            "SCREENSHOTS_PATH": str(folder),
            "IMMICH_ALBUM_NAME": "Screens",
            "IMMICH_SETTLE_SECONDS": "0",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if server is not None:
        env["IMMICH_API_KEY"] = server.api_key
        env["IMMICH_LOCAL_URL"] = server.url
    env.update(extra)
    return env


def run_cli(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "async_uploader", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    """The CLI in the background, its output captured (for a test that interrupts it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "async_uploader", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_created(srv: ServerThread, n: int, timeout: float = 30) -> None:
    """Until the server has created ``n`` assets: a run's moment to be interrupted."""
    deadline = time.monotonic() + timeout
    while srv.stats()["created"] < n and time.monotonic() < deadline:
        time.sleep(0.02)


def history_records(path: Path) -> dict[str, dict[str, object]]:
    """The history's records by file, each as a dict of its named fields (read as ``export``
    reads them, through an SQL connection of its own, not the package's store)."""
    db = path.with_suffix(".sqlite") if path.suffix == ".json" else path
    assert db.exists(), f"no history at {db}"
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        assert con.execute("PRAGMA user_version").fetchone()[0] == 2
        cursor = con.execute(f"SELECT path, {', '.join(FIELDS)} FROM files")
        return {
            (p if isinstance(p, str) else p.decode("utf-8", "surrogateescape")): dict(
                zip(FIELDS, row, strict=True)
            )
            for p, *row in cursor
        }
    finally:
        con.close()


def history_integrity(path: Path) -> str:
    """SQLite's own check of the history file: "ok" when it is whole."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return str(con.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        con.close()


def last_run_record(path: Path) -> dict[str, Any]:
    """The last run's record, as status reads it."""
    return meta_record(path, "last_run")


def meta_record(path: Path, key: str) -> dict[str, Any]:
    """A JSON object kept in the history's meta table ({} when there is none)."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return dict(json.loads(row[0])) if row else {}
    finally:
        con.close()


def edit_history(path: Path, sql: str, *params: object) -> int:
    """Change the history by hand, as a user with the sqlite3 shell could; the rows changed."""
    con = sqlite3.connect(path)
    try:
        with con:
            return con.execute(sql, params).rowcount
    finally:
        con.close()


FIELDS = ("size", "mtime_ns", "outcome", "asset_id", "sha1", "album_id", "at", "message")
HISTORY = "immich_upload_history.sqlite"


def config_for(srv_url: str, key: str, folder: Path, tmp: Path, **kw: Any) -> Config:
    base: dict[str, Any] = {
        "folder": folder,
        "api_key": Secret(key),
        "local_url": srv_url,
        "external_url": None,
        "album": "Screens",
        "history_file": tmp / "history.json",
        "log_file": tmp / "log.txt",
        "settle_seconds": 0,
    }
    base.update(kw)
    return Config(**base)
