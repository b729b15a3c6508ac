"""What the tests share besides fixtures: sample folders, running the real CLI, waiting for a
condition (never sleeping for one), and reading the history as ``export`` does, through an SQL
connection of its own rather than the package's store."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

from async_uploader.config import Config, Secret
from async_uploader.demo import png
from async_uploader.store import SCHEMA
from async_uploader.testserver import ServerThread

# Every process a test starts (the CLI, the test server) runs this working tree, not whatever
# copy of the package is installed in the environment (scripts/test installs it non-editable).
ROOT = Path(__file__).resolve().parent.parent
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
)

OLD = 1714564800  # 2024-05-01T12:00:00Z: old enough never to be "still being written"
FIELDS = ("size", "mtime_ns", "outcome", "asset_id", "sha1", "album_id", "at", "message")
HISTORY = "immich_upload_history.sqlite"
POLL = 0.02  # seconds between two looks at a condition
ODD = "odd-\udcff\udcfe.png"  # a name whose bytes are not UTF-8, as Python holds it


def v1_history(n: int) -> dict[str, object]:
    """An older version's JSON history of ``n`` uploaded files."""
    rows = {
        f"old/{i:05d}.png": [i, i * 10, "created", f"a{i}", f"s{i}", "album", "t", None]
        for i in range(n)
    }
    return {"version": 1, "saved_at": "2026-01-01T00:00:00+00:00", "fields": FIELDS, "files": rows}


# -- waiting for a condition --------------------------------------------------------------------
class TimedOut(AssertionError):
    """A condition a test waited for did not come about in time."""


def wait_until(condition: Callable[[], object], timeout: float = 30, what: str = "") -> None:
    """Until ``condition()`` is true; TimedOut (naming ``what``) after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimedOut(f"not within {timeout:g} s: {what or condition}")
        time.sleep(POLL)


async def wait_until_async(
    condition: Callable[[], object | Awaitable[object]], timeout: float = 30, what: str = ""
) -> None:
    """``wait_until`` inside an event loop (the condition may be a coroutine function)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise TimedOut(f"not within {timeout:g} s: {what or condition}")
        await anyio.sleep(POLL)


def wait_created(srv: ServerThread, n: int, timeout: float = 30) -> None:
    """Until the server has created ``n`` assets: a run's moment to be interrupted."""
    wait_until(lambda: srv.stats()["created"] >= n, timeout, f"{n} assets created")


def wait_for_log(log: Path, text: str, after: str = "", timeout: float = 30) -> None:
    """Until the log file holds ``text`` (past the last ``after``, when given): the moment a
    run reached a step it logs."""

    def found() -> bool:
        try:
            content = log.read_text(errors="replace")
        except FileNotFoundError:
            return False
        return text in (content.rsplit(after, 1)[-1] if after else content)

    wait_until(found, timeout, f"{text!r} in {log.name}")


# -- folders and the CLI ----------------------------------------------------------------------------
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


# -- the history, read as a user's SQL tool would --------------------------------------------------
def history_records(path: Path) -> dict[str, dict[str, object]]:
    """The history's records by file, each as a dict of its named fields."""
    db = path.with_suffix(".sqlite") if path.suffix == ".json" else path
    assert db.exists(), f"no history at {db}"
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA
        fields = (*FIELDS, "album")
        cursor = con.execute(f"SELECT path, {', '.join(fields)} FROM files")
        return {
            (p if isinstance(p, str) else p.decode("utf-8", "surrogateescape")): dict(
                zip(fields, row, strict=True)
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


# -- a health-check service, on loopback ------------------------------------------------------------
class PingReceiver:
    """What healthchecks.io does with pings, for the tests: records each request (method, path,
    headers, body) and answers as told: ``ok`` (200 "OK"), ``redirect`` (302 to /elsewhere on
    itself), ``fail`` (500), ``hang`` (no answer until the test ends)."""

    def __init__(self, mode: str = "ok") -> None:
        import http.server
        import threading

        self.mode = mode
        self.got: list[tuple[str, str, dict[str, str], str]] = []
        self.release = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", "replace")
                receiver.got.append((self.command, self.path, dict(self.headers), body))
                if receiver.mode == "hang":
                    receiver.release.wait(30)
                    return
                if receiver.mode == "redirect" and self.path != "/elsewhere":
                    self.send_response(302)
                    self.send_header("Location", "/elsewhere")
                elif receiver.mode == "fail":
                    self.send_response(500)
                else:
                    self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

            do_GET = do_POST = do_HEAD = _any

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/ping/abc-123"

    def paths(self) -> list[str]:
        return [path for _, path, _, _ in self.got]

    def __enter__(self) -> PingReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
