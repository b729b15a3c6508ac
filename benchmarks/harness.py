"""Measuring: a fresh test server in its own process per measurement, the scenario's files, a
contender's run timed by a small launcher (wall, CPU, peak RSS), and the server's state checked
afterwards. Success is judged on the server's state, never on exit codes."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .contenders import HERE, command
from .model import KEY, LONG_S, OURS, Bench, Contender, Measure, Scenario

ADMINS_PAUSE = "smartSearch"  # B10: a queue the admin paused before the run, to stay paused


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, shaping: tuple[str, ...], data: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "async_uploader",
                "test-server",
                "--port",
                str(self.port),
                "--api-key",
                KEY,
                "--api-version",
                "3",
                *shaping,
                *(["--data-dir", str(data)] if data else []),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.admin_key = ""
        for line in self.proc.stdout:  # what it prints before it serves
            if line.startswith("Admin API key:"):
                self.admin_key = line.split()[3]
            if line.startswith("Press Ctrl-C"):
                break

    def get(self, path: str, key: str = "") -> Any:
        request = urllib.request.Request(self.url + path, headers={"x-api-key": key} if key else {})
        with urllib.request.urlopen(request, timeout=60) as r:
            return json.loads(r.read())

    def put(self, path: str, body: dict[str, Any]) -> Any:
        """An admin's request (the job queues)."""
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            method="PUT",
            headers={"x-api-key": self.admin_key, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as r:
            return json.loads(r.read())

    def queues_paused(self) -> set[str]:
        return {q["name"] for q in self.get("/api/queues", self.admin_key) if q["isPaused"]}

    def close(self) -> float:
        """Stop it; the server's own CPU seconds over its life (start-up included)."""
        self.proc.terminate()
        _, _, ru = os.wait4(self.proc.pid, 0)
        self.proc.returncode = 0
        return float(ru.ru_utime + ru.ru_stime)


def make_data(root: Path, sc: Scenario, quick: bool) -> Path:
    folder = root / f"{sc.name}-data"
    if folder.exists():
        return folder
    folder.mkdir(parents=True)
    rng = random.Random(sc.name)
    n = sc.quick_files if quick else sc.files
    for i in range(n):
        # Realistic screenshot sizes around the scenario's mean, deterministic bytes.
        size = max(200, int(rng.gauss(sc.size, sc.size / 4)))
        (folder / f"Screenshot {i:06d}.png").write_bytes(rng.randbytes(size))
    big = sc.quick_big if quick else sc.big
    if big:
        with open(folder / "video.mp4", "wb") as fh:
            chunk = rng.randbytes(1 << 20)
            for _ in range(big >> 20):
                fh.write(chunk[:-8] + rng.randbytes(8))  # distinct chunks, cheaply
    stamp = time.time() - 3600
    for p in folder.iterdir():
        os.utime(p, (stamp, stamp))
    return folder


# Runs the command as its child and reports its wall time and rusage. Through this small launcher
# (python -S, ~8 MB) because Linux carries a process's peak RSS across fork + exec: a command
# started straight from this runner would report the runner's own memory (which grows to hold B4's
# 100,000-asset server state) as its peak.
LAUNCHER = """import os, sys, time
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
wall = time.perf_counter() - t0
with open(sys.argv[1], "w") as fh:
    fh.write(f"{wall} {ru.ru_utime + ru.ru_stime} {ru.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
"""


def run_measured(
    cmd: list[str], env: dict[str, str], timeout: float
) -> tuple[float, float, float, int]:
    """(wall s, user+sys CPU s, peak RSS MB, exit status) of a command (and the children it waits
    for), measured by LAUNCHER."""
    fd, out = tempfile.mkstemp(prefix="measure-")
    os.close(fd)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-S", "-c", LAUNCHER, out, *cmd],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return timeout, 0.0, 0.0, -9
        words = Path(out).read_text().split()
    finally:
        os.unlink(out)
    if len(words) != 4:
        return 0.0, 0.0, 0.0, -1
    return float(words[0]), float(words[1]), int(words[2]) / 1024, int(words[3])


@dataclass
class Seed:
    """A server state with every file of a scenario on it, made once and copied per measurement
    (B4's 100,000 uploads take minutes), and our history of it."""

    journal: Path | None  # None: nothing on the server (idle-direct)
    history: Path
    measure: Measure  # our upload of the whole folder: the memory-scaling figure for 100k files


def seed(sc: Scenario, folder: Path, root: Path, bench: Bench) -> Seed:
    data = root / f"{sc.name}-seed"
    server = Server(sc.shaping, data)
    work = Path(tempfile.mkdtemp(dir=root))
    try:
        cmd, env = command(OURS, server.url, folder, work, "Bench", bench)
        wall, cpu, rss, code = run_measured(cmd, env, 3 * 3600)
        state = server.get("/_testserver/state")
        n = sum(1 for _ in folder.iterdir())
        ok = len(state["assets"]) == n
        log_text = (work / "ours.log").read_text() if (work / "ours.log").exists() else ""
        if found := re.findall(r"checkpoints: .*", log_text):
            print(f"{sc.name} seeding: {found[-1]}", flush=True)
        m = Measure(
            wall,
            cpu,
            rss,
            0,
            ok,
            "" if ok else f"seeding: {len(state['assets'])} of {n} (exit {code})",
        )
    finally:
        server.close()
    shutil.rmtree(data / "upload", ignore_errors=True)  # the bodies are never read again
    database = work / "history.sqlite"  # IMMICH_HISTORY_FILE=history.json means this, from 0.2
    return Seed(data / "journal.jsonl", database if database.exists() else work / "history.json", m)


def seed_direct(folder: Path, root: Path) -> Seed:
    """A history of every file of the folder, written straight into the store (B7: a million
    uploads would take hours), as a run that uploaded them all and linked them would leave it."""
    from async_uploader.store import History, Record

    work = Path(tempfile.mkdtemp(dir=root))
    t0 = time.perf_counter()
    history = History.open(work / "history.sqlite")
    album = "00000000-0000-4000-8000-00000000b007"
    with os.scandir(folder) as entries:
        for i, e in enumerate(entries):
            st = e.stat()
            asset = f"{i:08x}-0000-4000-8000-000000000000"
            history.record(
                e.name, Record(st.st_size, st.st_mtime_ns, "created", asset, None, album)
            )
            if i % 50_000 == 49_999:
                history.save()
    facts = {"urls": [], "album": "Bench", "album_id": album, "extensions": [".png"]}
    history.set_last_run(
        {"ok": True, "album_id": album, "server": {**facts, "checked_at": time.time()}}
    )
    history.save()
    history.close()
    wall = time.perf_counter() - t0
    return Seed(None, work / "history.sqlite", Measure(wall, 0, 0, 0, True))


def stat_alone(folder: Path, repeats: int) -> float:
    """Seconds for a fresh Python to stat every file of the folder: the floor of an idle run."""
    # Through a descriptor of the folder, as our scan lists it: each stat resolves one name.
    code = "import os, sys\nfor e in os.scandir(os.open(sys.argv[1], os.O_RDONLY)): e.stat()\n"
    walls = [
        run_measured([sys.executable, "-c", code, str(folder)], dict(os.environ), 3600)[0]
        for _ in range(repeats)
    ]
    return statistics.median(walls)


def keeps_sqlite(who: Contender) -> bool:
    """Whether this contender's checkout keeps its history in SQLite (from store/legacy.py on)
    or in the older JSON file."""
    root = Path(who.pythonpath) if who.pythonpath else HERE.resolve().parent
    return (root / "async_uploader" / "store" / "legacy.py").exists()


def place_history(seeded: Path, work: Path, url: str, sqlite: bool) -> None:
    """The seeding run's history as the contender's own, in its own format, pointed at this
    measurement's server (the same state, on another port): an idle run then needs nothing."""
    if seeded.suffix == ".sqlite":
        con = sqlite3.connect(seeded)
        fields = "size, mtime_ns, outcome, asset_id, sha1, album_id, at, message"
        files = {p: list(row) for p, *row in con.execute(f"SELECT path, {fields} FROM files")}
        last = json.loads(
            con.execute("SELECT value FROM meta WHERE key = 'last_run'").fetchone()[0]
        )
        con.close()
    else:
        files = json.loads(seeded.read_text())["files"]
        last = json.loads(seeded.with_name(seeded.name + ".last-run").read_text())
    last["server"]["urls"] = [url, None]
    if sqlite:
        if seeded.suffix != ".sqlite":
            raise SystemExit(
                "benchmarks: an SQLite contender needs a seed made by one (run from it)"
            )
        shutil.copy(seeded, work / "history.sqlite")
        con = sqlite3.connect(work / "history.sqlite")
        with con:
            con.execute("UPDATE meta SET value = ? WHERE key = 'last_run'", (json.dumps(last),))
        con.close()
        return
    fields_v1 = ["size", "mtime_ns", "outcome", "asset_id", "sha1", "album_id", "at", "message"]
    (work / "history.json").write_text(
        json.dumps({"version": 1, "fields": fields_v1, "files": files})
    )
    (work / "history.json.last-run").write_text(json.dumps(last))


def measure(
    sc: Scenario,
    who: Contender,
    folder: Path,
    root: Path,
    bench: Bench,
    seeded: Seed | None = None,
) -> Measure:
    expected = sum(1 for _ in folder.iterdir())
    data = None
    if seeded is not None and seeded.journal is not None:
        data = Path(tempfile.mkdtemp(dir=root))
        shutil.copy(seeded.journal, data / "journal.jsonl")
    server = Server(sc.shaping, data)
    work = Path(tempfile.mkdtemp(dir=root))
    try:
        if seeded is not None and sc.kind.startswith("idle") and who.kind == "ours":
            place_history(seeded.history, work, server.url, keeps_sqlite(who))
        before = server.get("/_testserver/stats")["upload_body_bytes"]
        cmd, env = command(
            who, server.url, folder, work, "Bench", bench, seeded is not None, sc.max_rate
        )
        if sc.kind == "jobs":  # an admin's key for the queues, and one queue the admin paused
            env["IMMICH_ADMIN_API_KEY"] = server.admin_key
            server.put(f"/api/queues/{ADMINS_PAUSE}", {"isPaused": True})
        wall, cpu, rss, code = run_measured(cmd, env, 3600)
        stats = server.get("/_testserver/stats")
        state = server.get("/_testserver/state")
        in_album = max(
            (len(a["assetIds"]) for a in state["albums"] if a["albumName"] == "Bench"), default=0
        )
        ok = len(state["assets"]) == expected and in_album == expected
        note = (
            ""
            if ok
            else f"server has {len(state['assets'])} assets, album {in_album} of {expected} (exit {code})"
        )
        if sc.kind == "jobs" and ok:  # every queue running again, the admin's pause kept
            left = server.queues_paused()
            ok = left == {ADMINS_PAUSE}
            note = "" if ok else f"queues paused afterwards: {', '.join(sorted(left))}"
        if sc.kind == "idle-direct":  # nothing on the server: the run must not even ask it
            asked = sum(n for k, n in stats["requests"].items() if " /api/" in k)
            log_text = (work / "ours.log").read_text() if (work / "ours.log").exists() else ""
            ok = code == 0 and asked == 0 and f"nothing new: {expected} files" in log_text
            note = "" if ok else f"exit {code}, {asked} requests to the server"
        phase = (
            re.findall(
                # "uploads: 2000 files sent (497.3 MB) in 2.84 s"; before 0.2: "2000 files in"
                r"uploads: \d+ files?(?: sent \([^)]*\))? in ([\d.]+) s",
                (work / "ours.log").read_text(),
            )
            if who.kind == "ours" and (work / "ours.log").exists()
            else []
        )
        result = Measure(
            wall,
            cpu,
            rss,
            stats["upload_body_bytes"] - before,
            ok,
            note,
            float(phase[-1]) if phase else 0.0,
        )
        if who.kind == "ours" and (work / "ours.log").exists():
            ended = re.findall(
                r"concurrency: auto: (\d+) streams at the end", (work / "ours.log").read_text()
            )
            result.streams = int(ended[-1]) if ended else 0
        result.busy = stats["faults"].get("busy-503", 0)
        result.uploads = stats["requests"].get("POST /api/assets", 0)
    finally:
        server_cpu = server.close()
        shutil.rmtree(work, ignore_errors=True)
        if data is not None:
            shutil.rmtree(data, ignore_errors=True)
    result.server_cpu = server_cpu
    return result


def repeated(run: Callable[[], Measure], repeats: int) -> list[Measure]:
    out = [run()]
    while len(out) < repeats and out[-1].wall < LONG_S:
        out.append(run())
    return out


def hash_alone(folder: Path, repeats: int) -> float:
    """Seconds for a fresh Python to SHA-1 every file with two threads, as our pre-check does: the
    floor for B5, where every file must be hashed and nothing else is needed."""
    code = (
        "import hashlib, os, sys\nfrom concurrent.futures import ThreadPoolExecutor\n"
        "def h(p):\n    d = hashlib.sha1()\n    with open(p, 'rb') as f:\n"
        "        while b := f.read(1 << 20): d.update(b)\n    return d.hexdigest()\n"
        "with ThreadPoolExecutor(2) as ex: list(ex.map(h, [e.path for e in os.scandir(sys.argv[1])]))\n"
    )
    walls = [
        run_measured([sys.executable, "-c", code, str(folder)], dict(os.environ), 3600)[0]
        for _ in range(repeats)
    ]
    return statistics.median(walls)
