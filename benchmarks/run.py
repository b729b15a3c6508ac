"""Benchmarks: our uploader and the others, side by side, on the same test server.

    python -m benchmarks [--quick] [--scenarios B1,B3] [--repeats N] [--out benchmarks]

Each measurement gets a fresh test server in its own process (Immich 3 mode, which every
contender speaks) with the scenario's shaping; success is judged on the server's state, never on
exit codes. Writes RESULTS.md and throughput.png. ``--quick`` scales every scenario down and runs
each once: a smoke check that everything works, not a measurement to quote.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
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
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).parent
KEY = "bench-key"
CLI: list[str] = []  # [node, immich script], filled by main()
# The inner npx runs on Node 22, so npm checks the CLI's engines against it (no EBADENGINE).
NPX = ["npx", "-y", "-p", "node@22", "--", "npx", "-y", "-p", "@immich/cli@3.2.2", "--"]


def resolve_cli() -> list[str] | None:
    """[node 22, the CLI's script]: resolved once through npx, then run directly, so npx's own
    start-up (seconds) is not counted against the CLI."""
    if shutil.which("npx") is None:
        return None
    probe = subprocess.run(
        [*NPX, "sh", "-c", 'command -v node; readlink -f "$(command -v immich)"'],
        capture_output=True,
        text=True,
        check=False,
    )
    paths = probe.stdout.split()
    return paths[:2] if probe.returncode == 0 and len(paths) >= 2 else None


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    files: int
    size: int
    shaping: tuple[str, ...] = ()
    quick_files: int = 20
    # upload | idle (all in the history) | new-machine (all on the server) | idle-direct (all in
    # a history written straight to the store, none of it on the server: B7's million files)
    kind: str = "upload"
    big: int = 0  # one extra large file (B6), bytes
    quick_big: int = 0
    max_rate: str = ""  # ours runs with --max-rate this (B8); the others have no such setting


SCENARIOS = [
    Scenario("B1", "LAN backfill", 2000, 250_000, quick_files=150),
    Scenario(
        "B2",
        "slow uplink: 40 Mbit/s, 20 ms",
        60,
        400_000,
        ("--bandwidth-kbps", "40000", "--latency-ms", "20"),
        quick_files=15,
    ),
    Scenario(
        "B3", "far server: 60 ms per request", 300, 30_000, ("--latency-ms", "60"), quick_files=40
    ),
    Scenario("B4", "idle scheduled run", 100_000, 2_000, quick_files=3_000, kind="idle"),
    Scenario(
        "B5",
        "new machine: all on the server, no history",
        5000,
        30_000,
        quick_files=300,
        kind="new-machine",
    ),
    Scenario(
        "B6",
        "memory: one big video + small files",
        2000,
        20_000,
        quick_files=100,
        big=1_500_000_000,
        quick_big=100_000_000,
    ),
    Scenario("B7", "a million files, idle", 1_000_000, 64, quick_files=20_000, kind="idle-direct"),
    Scenario("B8", "bandwidth cap: --max-rate 2MB", 60, 250_000, quick_files=12, max_rate="2MB"),
    Scenario(
        "B9",
        "small server: 4 uploads at once, 40 ms each, 8 waiting, 503 beyond",
        600,
        30_000,
        ("--max-processing", "4", "--processing-ms", "40", "--queue-depth", "8"),
        quick_files=60,
    ),
]
# Ours with a fixed concurrency, measured in turns with the default (auto) where the number of
# streams is what the scenario is about: 16 (the default before auto), and on the small server
# the settings around its capacity, to find the best fixed one.
# On the far server, 64 too: the most streams allowed, so what this machine does at best.
FIXED = {"B1": (16,), "B2": (16,), "B3": (16, 64), "B9": (2, 4, 8, 12, 16)}


@dataclass
class Measure:
    wall: float
    cpu: float
    rss_mb: float
    body_bytes: int
    ok: bool
    note: str = ""
    upload_s: float = 0.0  # ours: the upload phase alone, from its log (start-up and links aside)
    server_cpu: float = 0.0  # the test server's CPU seconds in the same measurement
    streams: int = 0  # ours with auto concurrency: the streams it ended on, from its log
    busy: int = 0  # uploads the test server turned away with 503 (its small-server mode)
    uploads: int = 0  # upload requests the test server received, retries included


@dataclass
class Row:
    scenario: str
    contender: str
    measures: list[Measure] = field(default_factory=list)


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
        self.proc.stdout.readline()

    def get(self, path: str) -> dict:  # type: ignore[type-arg]
        with urllib.request.urlopen(self.url + path, timeout=60) as r:
            return json.loads(r.read())  # type: ignore[no-any-return]

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


@dataclass(frozen=True)
class Contender:
    name: str
    kind: str  # ours | baseline | cli | immichpy | pymmich
    concurrency: int | None = None  # None: the contender's own default
    pythonpath: str | None = None  # ours from another checkout (--compare-with), side by side


# Python contenders, each in a virtualenv of its own (their dependencies never meet ours), kept in
# a cache between runs. pymmich declares Python >= 3.13; where only an older Python exists it is
# installed with --ignore-requires-python (its code runs on 3.11: checked by every measurement's
# verification), and RESULTS.md says so.
PY_CONTENDERS = {
    "immichpy": ("immichpy[cli]==9.2.4", "immichpy"),
    "pymmich": ("pymmich==0.4.0", "pymmich"),
}
VENVS = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "async-uploader-bench"
NOTES: list[str] = []  # how each contender was installed, for RESULTS.md


def install_python_contender(kind: str) -> Path | None:
    spec, script = PY_CONTENDERS[kind]
    venv = VENVS / spec.replace("[", "_").replace("]", "_")
    exe = venv / "bin" / script
    older = sys.version_info < (3, 13) and kind == "pymmich"
    if older:
        NOTES.append(
            f"{spec} declares Python >= 3.13; none is available on this machine, so it was "
            f"installed with --ignore-requires-python and run on Python {platform.python_version()}."
        )
    if exe.exists():
        return exe
    shutil.rmtree(venv, ignore_errors=True)
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            *(["--ignore-requires-python"] if older else []),
            spec,
        ],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or ["?"])[-1]
            print(f"{spec} could not be installed: {tail}", flush=True)
            NOTES.append(f"{spec} could not be installed here: {tail}")
            return None
    return exe if exe.exists() else None


PY_EXES: dict[str, Path] = {}


COMPARE: list[Contender] = []  # --compare-with: ours from other checkouts, right after ours


def fixed(sc: Scenario) -> list[Contender]:
    """Ours at the fixed concurrencies the scenario compares the default (auto) with."""
    return [Contender(f"async-uploader -c {c}", "ours", c) for c in FIXED.get(sc.name, ())]


def contenders(has_cli: bool, sc: Scenario) -> list[Contender]:
    out = [Contender("async-uploader", "ours"), *COMPARE, *fixed(sc)]
    out.append(Contender("sequential (requests)", "baseline"))
    if has_cli:
        out += [
            Contender("immich CLI 3.2.2 (default -c)", "cli"),
            Contender("immich CLI 3.2.2 -c 4", "cli", 4),
        ]
    if "immichpy" in PY_EXES:
        out.append(Contender("immichpy 9.2.4 (default 5 at once)", "immichpy"))
    if "pymmich" in PY_EXES:
        out.append(Contender("pymmich 0.4.0 (one at a time)", "pymmich"))
    return out


def command(
    who: Contender,
    url: str,
    folder: Path,
    work: Path,
    album: str,
    rerun: bool = False,
    max_rate: str = "",
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of one contender; ``rerun``: files may be on the server
    already (B4, B5), so contenders that have a duplicate check are asked to use it."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("IMMICH_", "SCREENSHOTS_", "PYMMICH_"))
    }
    env["HOME"] = str(work)  # no contender finds a stored login or config of the machine's user
    # Bytecode is cached, as in an installed package (pip compiles it; a checkout run through
    # PYTHONPATH compiles it on its first run): otherwise every run of ours recompiles its source.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    c = who.concurrency
    if who.kind == "ours":
        env.update(
            SCREENSHOTS_PATH=str(folder),
            IMMICH_API_KEY=KEY,
            IMMICH_LOCAL_URL=url,
            IMMICH_ALBUM_NAME=album,
            IMMICH_HISTORY_FILE=str(work / "history.json"),
            IMMICH_LOG_FILE=str(work / "ours.log"),
            IMMICH_SETTLE_SECONDS="0",
        )
        # First on sys.path, ahead of any installed copy: this checkout, or another one's.
        env["PYTHONPATH"] = who.pythonpath or str(HERE.resolve().parent)
        cmd = [sys.executable, "-m", "async_uploader", "--quiet", "--no-progress"]
        cmd += ["--max-rate", max_rate] if max_rate else []
        return cmd + (["--concurrency", str(c)] if c else []), env
    if who.kind == "baseline":
        return [
            sys.executable,
            str(HERE / "baseline_sequential.py"),
            url,
            KEY,
            str(folder),
            album,
        ], env
    if who.kind == "immichpy":
        cmd = [
            str(PY_EXES["immichpy"]),
            "--api-key",
            KEY,
            "--base-url",
            url + "/api",
            "assets",
            "upload",
            str(folder),
            "--album-name",
            album,
        ]
        return cmd + (["--concurrency", str(c)] if c else []) + (
            ["--skip-duplicates"] if rerun else []
        ), env
    if who.kind == "pymmich":
        env.update(PYMMICH_URL=url, PYMMICH_API_KEY=KEY)
        return [str(PY_EXES["pymmich"]), "upload", "-a", album, str(folder)], env
    assert CLI, "the official CLI was not found"
    cmd = [*CLI, "upload", "-u", url + "/api", "-k", KEY, "-r", "-A", album, "--no-progress"]
    return cmd + (["-c", str(c)] if c else []) + [str(folder)], env


@dataclass
class Seed:
    """A server state with every file of a scenario on it, made once and copied per measurement
    (B4's 100,000 uploads take minutes), and our history of it."""

    journal: Path | None  # None: nothing on the server (idle-direct)
    history: Path
    measure: Measure  # our upload of the whole folder: the memory-scaling figure for 100k files


def seed(sc: Scenario, folder: Path, root: Path) -> Seed:
    data = root / f"{sc.name}-seed"
    server = Server(sc.shaping, data)
    work = Path(tempfile.mkdtemp(dir=root))
    try:
        cmd, env = command(Contender("ours", "ours"), server.url, folder, work, "Bench")
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
    sc: Scenario, who: Contender, folder: Path, root: Path, seeded: Seed | None = None
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
        cmd, env = command(who, server.url, folder, work, "Bench", seeded is not None, sc.max_rate)
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


def machine() -> str:
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    mem = int(
        next(
            ln.split()[1]
            for ln in Path("/proc/meminfo").read_text().splitlines()
            if ln.startswith("MemTotal")
        )
    )
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem / 1024 / 1024:.0f} GiB, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}"
    )


def table(rows: list[Row], sc: Scenario, folder: Path) -> list[str]:
    total = sum(p.stat().st_size for p in folder.iterdir())
    n = sum(1 for _ in folder.iterdir())
    out = [
        f"### {sc.name}: {sc.title} ({n} files, {total / 1e6:.1f} MB)",
        "",
        "| contender | wall s (median) | files/s | MB/s | CPU s per GB | peak RSS MB | body MB sent | server CPU s | verified |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ms = [m for m in r.measures if m.wall]
        if not ms:
            out.append(f"| {r.contender} | {r.measures[0].note} | | | | | | | |")
            continue
        wall = statistics.median(m.wall for m in ms)
        cpu = statistics.median(m.cpu for m in ms)
        rss = max(m.rss_mb for m in ms)
        body = statistics.median(m.body_bytes for m in ms)
        verified = "yes" if all(m.ok for m in ms) else "NO: " + next(m.note for m in ms if not m.ok)
        gb = total / 1e9
        runs = "" if len(ms) > 1 else " (1 run)"
        out.append(
            f"| {r.contender} | {wall:.2f}{runs} | {n / wall:.0f} | {total / 1e6 / wall:.1f} | "
            f"{cpu / gb:.1f} | {rss:.0f} | {body / 1e6:.1f} | {median_of(r, 'server_cpu'):.1f} | {verified} |"
        )
    return [*out, ""]


LONG_S = 30.0  # a measurement this long is not repeated: its contender is far off the pace


def repeated(run: Callable[[], Measure], repeats: int) -> list[Measure]:
    out = [run()]
    while len(out) < repeats and out[-1].wall < LONG_S:
        out.append(run())
    return out


def median_of(row: Row, attr: str) -> float:
    return statistics.median(getattr(m, attr) for m in row.measures)


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


def profile_ours(sc: Scenario, folder: Path, root: Path) -> list[str]:
    """Our run of this scenario once more under pyinstrument (a sampling profiler; the call tree
    of the main thread, where the event loop runs), for RESULTS.md."""
    try:
        import pyinstrument  # noqa: F401
    except ImportError:
        return ["(pyinstrument is not installed: `pip install -e '.[bench]'`)", ""]
    server = Server(sc.shaping)
    work = Path(tempfile.mkdtemp(dir=root))
    try:
        cmd, env = command(Contender("ours", "ours"), server.url, folder, work, "Bench")
        out = work / "profile.txt"
        cmd = [
            sys.executable,
            "-m",
            "pyinstrument",
            "-i",
            "0.001",
            "-r",
            "text",
            "--no-color",
            "-o",
            str(out),
            *cmd[1:],
        ]
        run_measured(cmd, env, 3600)
        lines = out.read_text().splitlines() if out.exists() else ["(no profile written)"]
    finally:
        server.close()
        shutil.rmtree(work, ignore_errors=True)
    tree = [ln.replace(str(HERE.parent) + "/", "") for ln in lines if ln.strip()][:60]
    return ["```", *tree, "```", ""]


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def targets(sc: Scenario, rows: list[Row], folder: Path, extra: dict[str, float]) -> list[str]:
    """The issue's targets for our uploader in this scenario, computed from the medians."""
    by = {r.contender: r for r in rows if all(m.wall for m in r.measures)}
    ours = by.get("async-uploader")
    if ours is None:
        return []
    wall = median_of(ours, "wall")
    n = sum(1 for _ in folder.iterdir())
    out: list[str] = []
    for other in COMPARE:  # side by side with another checkout of ours: medians and their ratio
        if (theirs := by.get(other.name)) is not None:
            then = median_of(theirs, "wall")
            rss_now = max(m.rss_mb for m in ours.measures)
            rss_then = max(m.rss_mb for m in theirs.measures)
            out.append(
                f"- {sc.name}, this checkout against {other.name}: {wall:.2f} s against "
                f"{then:.2f} s (this one takes {wall / then:.2f}x the time), peak RSS "
                f"{rss_now:.0f} MB against {rss_then:.0f} MB"
            )
    if sc.name in ("B1", "B2", "B3") and (sixteen := by.get("async-uploader -c 16")) is not None:
        then = median_of(sixteen, "wall")
        streams = statistics.median(m.streams for m in ours.measures)
        out.append(
            f"- {sc.name}, auto concurrency no worse than a fixed 16 (taking turns in this run): "
            f"{wall:.2f} s against {then:.2f} s ({wall / then:.2f}x the time; it ended on "
            f"{streams:.0f} streams, runs: {', '.join(str(m.streams) for m in ours.measures)}): "
            f"{verdict(wall <= then * 1.03)}"
        )
    if sc.name == "B1":
        others = {
            k: median_of(r, "wall") for k, r in by.items() if not k.startswith("async-uploader")
        }
        best = min(others.items(), key=lambda kv: kv[1]) if others else ("none", float("inf"))
        out.append(
            f"- B1, faster than every contender at its best setting: ours {wall:.2f} s, the best "
            f"other {best[0]} {best[1]:.2f} s ({best[1] / wall:.2f}x): {verdict(wall < best[1])}"
        )
        cpu, server = median_of(ours, "cpu"), median_of(ours, "server_cpu")
        total = sum(p.stat().st_size for p in folder.iterdir())
        out.append(
            f"- B1, the bottleneck: the machine's {os.cpu_count()} cores. Ours used {cpu:.2f} CPU s "
            f"({cpu / (total / 1e9):.1f} s per GB, SHA-1 of every file for the pre-check included) and the "
            f"test server {server:.2f} s (it parses and hashes every upload) in {wall:.2f} s of wall time: "
            f"{(cpu + server) / wall:.2f} cores busy of {os.cpu_count()}. The profile below shows where "
            "our part goes."
        )
    elif sc.name == "B2":
        kbps = float(sc.shaping[sc.shaping.index("--bandwidth-kbps") + 1])
        busy = median_of(ours, "body_bytes") * 8 / (kbps * 1000) / wall
        out.append(
            f"- B2, link at least 90 % busy: file bytes / (40 Mbit/s x wall) = {busy:.0%} "
            f"(the rest is request latency and multipart framing): {verdict(busy >= 0.9)}"
        )
    elif sc.name == "B3":
        latency = float(sc.shaping[sc.shaping.index("--latency-ms") + 1]) / 1000
        seq = by.get("sequential (requests)")
        ratio = median_of(seq, "wall") / wall if seq else float("nan")
        phase = median_of(ours, "upload_s")
        streams = statistics.median(m.streams for m in ours.measures)
        floor, rate = 0.8 * streams / latency, n / phase if phase else float("nan")
        out.append(
            f"- B3, at least 0.8 x {streams:.0f} (the streams auto ended on) / {latency * 1000:.0f} ms "
            f"= {floor:.0f} files/s over the upload phase: {rate:.0f} files/s ({phase:.2f} s): "
            f"{verdict(rate >= floor)}. Over the whole run {n / wall:.0f} files/s; the rest is "
            "start-up and the round trips every run needs before and after the uploads (health "
            "check; key, types and album; album creation on a first run; the first bulk check; the "
            f"album link): {latency * 1000:.0f} ms each here"
        )
        if (most := by.get("async-uploader -c 64")) is not None and median_of(most, "upload_s"):
            most_phase, most_wall = median_of(most, "upload_s"), median_of(most, "wall")
            busy = (median_of(most, "cpu") + median_of(most, "server_cpu")) / most_wall
            cores = os.cpu_count() or 1
            limit = (
                ": the cores are the limit here, not the round trips" if busy >= 0.8 * cores else ""
            )
            out.append(
                f"- B3, what this machine does at best: a fixed 64 (no ramp) {n / most_phase:.0f} "
                f"files/s over its upload phase ({most_phase:.2f} s), "
                f"{n / most_phase / (64 / latency):.0%} of 64 / {latency * 1000:.0f} ms, with "
                f"{busy:.2f} of {cores} cores busy (ours and the test server's) over its "
                f"{most_wall:.2f} s{limit}. Auto took {wall:.2f} s ({most_wall / wall:.0%} of its "
                f"speed), {phase - most_phase:.2f} s more in the upload phase: its climb from 4 "
                "streams, and the uploads started meanwhile at fewer"
            )
        out.append(
            f"- B3, at least 10x the sequential reference over the whole run: {ratio:.1f}x: "
            f"{verdict(ratio >= 10)}"
        )
    elif sc.name == "B9":
        share = sum(m.busy for m in ours.measures) / max(1, sum(m.uploads for m in ours.measures))
        fixed_rows = {c.concurrency: by[c.name] for c in fixed(sc) if c.name in by}
        walls = {c: median_of(r, "wall") for c, r in fixed_rows.items()}
        streams = statistics.median(m.streams for m in ours.measures)
        out.append(
            f"- B9, no more than 1 % of uploads answered 503: {share:.2%} "
            f"({sum(m.busy for m in ours.measures)} of {sum(m.uploads for m in ours.measures)} "
            f"upload requests over {len(ours.measures)} runs; it ended on {streams:.0f} streams): "
            f"{verdict(share <= 0.01)}"
        )
        if walls:
            best = min(walls, key=lambda c: walls[c])
            each = ", ".join(
                f"-c {c} {w:.2f} s ({sum(m.busy for m in fixed_rows[c].measures)} 503s)"
                for c, w in walls.items()
            )
            out.append(
                f"- B9, throughput within 10 % of the best fixed setting: {wall:.2f} s against "
                f"-c {best}'s {walls[best]:.2f} s ({walls[best] / wall:.0%} of its files/s; {each}): "
                f"{verdict(wall <= walls[best] / 0.9)}"
            )
    elif sc.name == "B4":
        body = median_of(ours, "body_bytes")
        out.append(
            f"- B4, under 1 s for {n:,} files with no file opened: {wall:.2f} s, {body:.0f} body "
            f"bytes (no file opened: proved by `tests/test_precheck.py::test_idle_rerun_opens_no_file`): "
            f"{verdict(wall < 1 and body == 0)}"
        )
    elif sc.name == "B7":
        rss, floor = max(m.rss_mb for m in ours.measures), extra["stat_alone"]
        out.append(
            f"- B7, an idle run over {n:,} files under 4 s: {wall:.2f} s, where a fresh Python "
            f"stats them alone in {floor:.2f} s (the floor on this machine; 2.8 s on the issue's): "
            f"{verdict(wall < 4)}; {wall - floor:.2f} s over the floor"
        )
        out.append(f"- B7, peak RSS under 100 MB: {rss:.0f} MB: {verdict(rss < 100)}")
    elif sc.name == "B8":
        from async_uploader.config import parse_rate

        cap = parse_rate(sc.max_rate, "--max-rate")
        uses = [m.body_bytes / m.upload_s / cap for m in ours.measures if m.upload_s]
        use = statistics.median(uses) if uses else float("nan")
        out.append(
            f"- B8, the link used within 5 % of the cap ({cap / 1e6:.1f} MB/s): request body bytes "
            f"over the upload phase = {use:.1%} of the cap (runs: "
            f"{', '.join(f'{u:.1%}' for u in uses)}): {verdict(0.95 <= use <= 1.01)}; over the "
            f"whole run, start-up and links included, {median_of(ours, 'body_bytes') / wall / cap:.1%}"
        )
    elif sc.name == "B5":
        body, hashing = median_of(ours, "body_bytes"), extra["hash_alone"]
        out.append(f"- B5, zero body bytes: {body:.0f}: {verdict(body == 0)}")
        met = wall <= 1.3 * hashing
        out.append(
            f"- B5, within 1.3x of hashing the files alone ({hashing:.2f} s, two threads): "
            f"{wall:.2f} s = {wall / hashing:.2f}x: {verdict(met)}."
            + (
                ""
                if met
                else " Fixed costs dominate a job this small: starting Python and importing aiohttp (about 0.25 s, see the B1 profile), the health check and the key/types/album requests, linking every asset in one request and writing the history. Starting the hashing before aiohttp is imported and while connecting would overlap most of it (an estimate, not measured); 1.3x of a 0.31 s job leaves 0.09 s for all the rest, less than the interpreter's own start."
            )
        )
    elif sc.name == "B6":
        rss = max(m.rss_mb for m in ours.measures)
        out.append(
            f"- B6, peak RSS at most 100 MB with a {sc.big / 1e9 if not extra.get('quick') else sc.quick_big / 1e9:.1f} GB video: "
            f"{rss:.0f} MB: {verdict(rss <= 100)}"
        )
        if "rss_100" in extra and "rss_many" in extra:
            a, b = extra["rss_100"], extra["rss_many"]
            met, per_file = b <= 1.2 * a, (b - a) * 1000 / max(1, extra["many"] - 100)
            out.append(
                f"- B6, the same peak RSS within 20 % for 100 files and {int(extra['many']):,} files "
                f"(uploads of 2 kB files): {a:.0f} MB and {b:.0f} MB, {b / a - 1:+.0%}: {verdict(met)}."
                + (
                    ""
                    if met
                    else f" The run grows by about {per_file:.1f} kB per file. The history, the scan's list of files to send (past 20,000) and the album links (past 10,000) are on disk; what a long run adds are steps that a 100-file run never fills (batches of 1,000 checks and 2,000 links, the history's 512 KiB page cache) and the C allocator's free holes: /proc/<pid>/smaps at the peak tells heap, thread arenas and Python's 1 MiB arenas apart (issue 13's notes)."
                )
            )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description="Benchmarks against the other uploaders.")
    parser.add_argument(
        "--quick", action="store_true", help="scaled down, once each: a smoke check"
    )
    parser.add_argument("--scenarios", default=",".join(s.name for s in SCENARIOS))
    parser.add_argument("--repeats", type=int, help="measurements per point (default 3; quick 1)")
    parser.add_argument("--only", help="contender kinds to run: ours,baseline,cli,immichpy,pymmich")
    parser.add_argument(
        "--no-sweep", action="store_true", help="skip the concurrency sweep and plot"
    )
    parser.add_argument("--out", type=Path, default=HERE, help="where RESULTS.md and the plot go")
    parser.add_argument(
        "--compare-with",
        type=Path,
        action="append",
        default=[],
        metavar="CHECKOUT",
        help="also measure async-uploader from this checkout (e.g. a git worktree of an older "
        "commit), side by side with this one (kind 'ours'; repeatable)",
    )
    args = parser.parse_args()
    for checkout in args.compare_with:
        rev = subprocess.run(
            ["git", "-C", str(checkout), "log", "-1", "--format=%h"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        name = f"async-uploader @ {rev or checkout.name}"
        COMPARE.append(Contender(name, "ours", pythonpath=str(checkout.resolve())))
    args.out.mkdir(parents=True, exist_ok=True)
    repeats = args.repeats or (1 if args.quick else 3)
    wanted = set(args.scenarios.split(","))
    CLI[:] = resolve_cli() or []
    has_npx = bool(CLI)
    if not has_npx:
        print("the official CLI could not be installed through npx: measured without it")
        NOTES.append("The official CLI could not be installed through npx: measured without it.")
    for kind in PY_CONTENDERS:
        if (exe := install_python_contender(kind)) is not None:
            PY_EXES[kind] = exe
    root = Path(tempfile.mkdtemp(prefix="bench-"))
    lines = [
        "# Benchmark results",
        "",
        f"Machine: {machine()}. Run: `python -m benchmarks{' --quick' if args.quick else ''}` "
        f"on {time.strftime('%Y-%m-%d')}, {repeats} measurement(s) per point (one when it takes over "
        f"{LONG_S:.0f} s: marked '1 run'), medians (peak RSS: the largest, of the contender's own process tree); every contender against a fresh test server (Immich 3 mode) in its own process; "
        "'verified' checks the server's state (every file an asset, every asset in the album), "
        "never exit codes.",
        "",
    ]
    if args.quick:
        lines += ["**Quick mode: scaled-down smoke run, not numbers to quote.**", ""]
    verdicts: list[str] = []
    extra: dict[str, float] = {"quick": float(args.quick)}
    failures = 0
    try:
        for sc in SCENARIOS:
            if sc.name not in wanted:
                continue
            folder = make_data(root, sc, args.quick)
            seeded = None
            if sc.kind == "idle-direct":
                seeded = seed_direct(folder, root)
                extra["stat_alone"] = stat_alone(folder, repeats)
                print(
                    f"{sc.name}: history of {sum(1 for _ in folder.iterdir()):,} files written in "
                    f"{seeded.measure.wall:.1f}s; stat alone {extra['stat_alone']:.2f}s",
                    flush=True,
                )
            elif sc.kind in ("idle", "new-machine"):
                seeded = seed(sc, folder, root)
                failures += not seeded.measure.ok
                if sc.kind == "idle":
                    extra["rss_many"], extra["many"] = (
                        seeded.measure.rss_mb,
                        sum(1 for _ in folder.iterdir()),
                    )
                    print(
                        f"{sc.name} seeding (our upload of every file): {seeded.measure.wall:.1f}s, "
                        f"{seeded.measure.rss_mb:.0f} MB peak",
                        flush=True,
                    )
            if sc.kind == "new-machine":
                extra["hash_alone"] = hash_alone(folder, repeats)
            rows = []
            side_by_side: dict[str, list[Measure]] = {}
            # Ours, the other checkouts and ours at fixed concurrencies take turns, so that drift
            # hits them alike.
            if COMPARE or fixed(sc):
                pair = [Contender("async-uploader", "ours"), *COMPARE, *fixed(sc)]
                for _ in range(repeats):
                    for who in pair:
                        m = measure(sc, who, folder, root, seeded)
                        side_by_side.setdefault(who.name, []).append(m)
            for who in contenders(has_npx, sc):
                if args.only and who.kind not in args.only.split(","):
                    continue
                row = Row(sc.name, who.name)
                if who.name in side_by_side:
                    row.measures = side_by_side[who.name]
                    failures += sum(not m.ok for m in row.measures)
                    rows.append(row)
                    print(
                        f"{sc.name} {who.name}: "
                        + ", ".join(f"{m.wall:.2f}s" for m in row.measures)
                    )
                    continue
                if sc.kind == "idle-direct" and who.kind != "ours":
                    row.measures.append(
                        Measure(0, 0, 0, 0, True, "n/a: our history, written directly")
                    )
                    rows.append(row)
                    continue
                if sc.max_rate and who.kind != "ours":
                    row.measures.append(Measure(0, 0, 0, 0, True, "n/a: no bandwidth cap"))
                    rows.append(row)
                    continue
                if sc.kind == "idle" and who.kind == "baseline":
                    row.measures.append(
                        Measure(0, 0, 0, 0, True, "n/a: no history, it would send everything again")
                    )
                    rows.append(row)
                    continue
                row.measures = repeated(
                    functools.partial(measure, sc, who, folder, root, seeded), repeats
                )
                failures += sum(not m.ok for m in row.measures)
                rows.append(row)
                print(
                    f"{sc.name} {who.name}: "
                    + ", ".join(
                        f"{m.wall:.2f}s{'' if m.ok else ' FAILED: ' + m.note}" for m in row.measures
                    ),
                    flush=True,
                )
            if sc.name == "B6":
                small = make_data(
                    root,
                    Scenario("M100", "100 small files", 100, 2_000, quick_files=100),
                    args.quick,
                )
                ms = [measure(sc, Contender("ours", "ours"), small, root) for _ in range(repeats)]
                extra["rss_100"] = max(m.rss_mb for m in ms)
            lines += table(rows, sc, folder)
            if sc.name == "B1" and any(r.contender == "async-uploader" for r in rows):
                lines += ["Where our time goes on B1 (pyinstrument, one more run of ours):", ""]
                lines += profile_ours(sc, folder, root)
            if sc.kind == "new-machine":
                lines += [
                    f"Hashing the files alone (a fresh Python, SHA-1 in two threads): {extra['hash_alone']:.2f} s.",
                    "",
                ]
            verdicts += targets(sc, rows, folder, extra)
            shutil.rmtree(folder, ignore_errors=True)
        if not args.no_sweep:
            plot = sweep(root, args.quick, repeats, has_npx, args.out)
            if plot:
                lines += [
                    "## Throughput against concurrency (B3 data, 60 ms per request)",
                    "",
                    f"![throughput]({plot.name})",
                    "",
                ]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if verdicts:
        lines += ["## Targets (ours), computed from the medians above", "", *verdicts, ""]
    if NOTES:
        lines += ["## Notes on the contenders", "", *(f"- {n}" for n in dict.fromkeys(NOTES)), ""]
    (args.out / "RESULTS.md").write_text("\n".join(lines))
    print(f"wrote {args.out / 'RESULTS.md'}; {failures} failed measurements")
    return 1 if failures else 0


def sweep(root: Path, quick: bool, repeats: int, has_npx: bool, out: Path) -> Path | None:
    """Files/s against concurrency for every contender that has a setting for it, on the
    far-server scenario; the sequential ones as lines."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    sc = next(s for s in SCENARIOS if s.name == "B3")
    folder = make_data(root, sc, quick)
    n = sum(1 for _ in folder.iterdir())
    levels = [1, 8] if quick else [1, 2, 4, 8, 16]
    kinds = [
        ("async-uploader", "ours"),
        ("immich CLI 3.2.2", "cli"),
        ("immichpy 9.2.4", "immichpy"),
    ]
    series: dict[str, list[float]] = {}
    for name, kind in kinds:
        if (kind == "cli" and not has_npx) or (kind == "immichpy" and kind not in PY_EXES):
            continue
        series[name] = []
        for c in levels:
            run = functools.partial(measure, sc, Contender(name, kind, c), folder, root)
            walls = [m.wall for m in repeated(run, repeats)]
            series[name].append(n / statistics.median(walls))
            print(f"sweep {name} -c {c}: {series[name][-1]:.1f} files/s", flush=True)
    flat = [Contender("sequential (requests)", "baseline")]
    if "pymmich" in PY_EXES:
        flat.append(Contender("pymmich 0.4.0", "pymmich"))
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, ys in series.items():
        ax.plot(levels, ys, marker="o", label=name)
    for who, style in zip(flat, ("--", ":"), strict=False):
        run = functools.partial(measure, sc, who, folder, root)
        rate = n / statistics.median(m.wall for m in repeated(run, repeats))
        ax.axhline(rate, color="grey", linestyle=style, label=f"{who.name} (no setting)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("concurrency")
    ax.set_ylabel("files/s")
    ax.set_title(f"B3: {n} files of ~30 kB, 60 ms per request")
    ax.legend(fontsize=8)
    path = out / "throughput.png"
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path


if __name__ == "__main__":
    raise SystemExit(main())
