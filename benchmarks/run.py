"""Benchmarks: our uploader and the others, side by side, on the same test server.

    python -m benchmarks [--quick] [--scenarios B1,B3] [--repeats N] [--out benchmarks]

Each measurement gets a fresh test server in its own process (Immich 3 mode, which every
contender speaks) with the scenario's shaping; success is judged on the server's state, never on
exit codes. Writes RESULTS.md and throughput.png. ``--quick`` scales every scenario down and runs
each once: a smoke check that everything works, not a measurement to quote.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).parent
KEY = "bench-key"
CLI: list[str] = []  # [node, immich script], filled by main()
NPX = ["npx", "-y", "-p", "node@22", "-p", "@immich/cli@3.2.2", "--"]


def resolve_cli() -> list[str] | None:
    """[node 22, the CLI's script]: resolved once through npx, then run directly, so npx's own
    start-up (seconds) is not counted against the CLI."""
    if shutil.which("npx") is None:
        return None
    probe = subprocess.run(
        [*NPX, "sh", "-c", 'command -v node; readlink -f "$(command -v immich)"'],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
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
    kind: str = "upload"  # upload | idle (all in the history) | new-machine (all on the server)
    big: int = 0  # one extra large file (B6), bytes
    quick_big: int = 0


SCENARIOS = [
    Scenario("B1", "LAN backfill", 2000, 250_000, quick_files=150),
    Scenario("B2", "slow uplink: 40 Mbit/s, 20 ms", 60, 400_000,
             ("--bandwidth-kbps", "40000", "--latency-ms", "20"), quick_files=15),
    Scenario("B3", "far server: 100 ms per request", 300, 30_000, ("--latency-ms", "100"), quick_files=40),
    Scenario("B4", "idle scheduled run", 100_000, 2_000, quick_files=3_000, kind="idle"),
    Scenario("B5", "new machine: all on the server, no history", 5000, 30_000, quick_files=300,
             kind="new-machine"),
    Scenario("B6", "memory: one big video + small files", 2000, 20_000, quick_files=100,
             big=1_500_000_000, quick_big=100_000_000),
]  # fmt: skip


@dataclass
class Measure:
    wall: float
    cpu: float
    rss_mb: float
    body_bytes: int
    ok: bool
    note: str = ""


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
    def __init__(self, shaping: tuple[str, ...]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "async_uploader", "test-server", "--port", str(self.port),
             "--api-key", KEY, "--api-version", "3", *shaping],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        self.proc.stdout.readline()

    def get(self, path: str) -> dict:  # type: ignore[type-arg]
        with urllib.request.urlopen(self.url + path, timeout=60) as r:
            return json.loads(r.read())  # type: ignore[no-any-return]

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait()


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


def run_measured(cmd: list[str], env: dict[str, str], timeout: float) -> tuple[float, float, float, int]:  # fmt: skip
    """(wall s, user+sys CPU s, peak RSS MB, exit status) of a command and its descendants."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while True:
        pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            pid, status, ru = os.wait4(proc.pid, 0)
            break
        time.sleep(0.005)
    wall = time.perf_counter() - t0
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def contenders(has_cli: bool) -> dict[str, object]:
    out: dict[str, object] = {"async-uploader": "ours", "sequential (requests)": "baseline"}
    if has_cli:
        out["immich CLI 3.2.2 (default -c)"] = None
        out["immich CLI 3.2.2 -c 4"] = 4
    return out


def command(contender: object, url: str, folder: Path, work: Path, album: str, concurrency: int | None = None) -> tuple[list[str], dict[str, str]]:  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMMICH_", "SCREENSHOTS_"))}
    if contender == "ours":
        env.update(SCREENSHOTS_PATH=str(folder), IMMICH_API_KEY=KEY, IMMICH_LOCAL_URL=url,
                   IMMICH_ALBUM_NAME=album, IMMICH_HISTORY_FILE=str(work / "history.json"),
                   IMMICH_LOG_FILE=str(work / "ours.log"), IMMICH_SETTLE_SECONDS="0")  # fmt: skip
        cmd = [sys.executable, "-m", "async_uploader", "--quiet", "--no-progress"]
        if concurrency:
            cmd += ["--concurrency", str(concurrency)]
        return cmd, env
    if contender == "baseline":
        return [
            sys.executable,
            str(HERE / "baseline_sequential.py"),
            url,
            KEY,
            str(folder),
            album,
        ], env
    c = concurrency or (contender if isinstance(contender, int) else None)
    assert CLI, "the official CLI was not found"
    cmd = [*CLI, "upload", "-u", url + "/api", "-k", KEY, "-r", "-A", album, "--no-progress"]
    if c:
        cmd += ["-c", str(c)]
    env["HOME"] = str(work)
    return [*cmd, str(folder)], env


def measure(sc: Scenario, name: str, contender: object, folder: Path, root: Path, concurrency: int | None = None) -> Measure:  # fmt: skip
    expected = sum(1 for _ in folder.iterdir())
    server = Server(sc.shaping)
    work = Path(tempfile.mkdtemp(dir=root))
    try:
        if sc.kind in ("idle", "new-machine"):
            # Put everything on the server first (and, for the idle run, in our history).
            cmd, env = command("ours", server.url, folder, work, "Bench")
            run_measured(cmd, env, 3600)
            if sc.kind == "new-machine" or contender != "ours":
                (work / "history.json").unlink(missing_ok=True)
        if sc.kind == "idle" and contender == "baseline":
            return Measure(0, 0, 0, 0, True, "n/a: no history, it would send everything again")
        before = server.get("/_testserver/stats")["upload_body_bytes"]
        cmd, env = command(contender, server.url, folder, work, "Bench", concurrency)
        wall, cpu, rss, code = run_measured(cmd, env, 3600)
        stats = server.get("/_testserver/stats")
        state = server.get("/_testserver/state")
        in_album = max((len(a["assetIds"]) for a in state["albums"] if a["albumName"] == "Bench"), default=0)  # fmt: skip
        ok = len(state["assets"]) == expected and in_album == expected
        note = "" if ok else f"server has {len(state['assets'])} assets, album {in_album} of {expected} (exit {code})"  # fmt: skip
        return Measure(wall, cpu, rss, stats["upload_body_bytes"] - before, ok, note)
    finally:
        server.close()
        shutil.rmtree(work, ignore_errors=True)


def machine() -> str:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())  # fmt: skip
    mem = int(next(ln.split()[1] for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")))  # fmt: skip
    return (f"{os.cpu_count()} cores ({cpu}), {mem / 1024 / 1024:.0f} GiB, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}")  # fmt: skip


def table(rows: list[Row], sc: Scenario, folder: Path) -> list[str]:
    total = sum(p.stat().st_size for p in folder.iterdir())
    n = sum(1 for _ in folder.iterdir())
    out = [f"### {sc.name}: {sc.title} ({n} files, {total / 1e6:.1f} MB)", "",
           "| contender | wall s (median) | files/s | MB/s | CPU s per GB | peak RSS MB | body MB sent | verified |",
           "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        ms = [m for m in r.measures if m.wall]
        if not ms:
            out.append(f"| {r.contender} | {r.measures[0].note} | | | | | | |")
            continue
        wall = statistics.median(m.wall for m in ms)
        cpu = statistics.median(m.cpu for m in ms)
        rss = max(m.rss_mb for m in ms)
        body = statistics.median(m.body_bytes for m in ms)
        verified = "yes" if all(m.ok for m in ms) else "NO: " + next(m.note for m in ms if not m.ok)
        gb = total / 1e9
        out.append(f"| {r.contender} | {wall:.2f} | {n / wall:.0f} | {total / 1e6 / wall:.1f} | "
                   f"{cpu / gb:.1f} | {rss:.0f} | {body / 1e6:.1f} | {verified} |")  # fmt: skip
    return [*out, ""]


def main() -> int:
    parser = argparse.ArgumentParser(description="Benchmarks against the other uploaders.")
    parser.add_argument(
        "--quick", action="store_true", help="scaled down, once each: a smoke check"
    )
    parser.add_argument("--scenarios", default=",".join(s.name for s in SCENARIOS))
    parser.add_argument("--repeats", type=int, help="measurements per point (default 3; quick 1)")
    parser.add_argument("--out", type=Path, default=HERE, help="where RESULTS.md and the plot go")
    args = parser.parse_args()
    repeats = args.repeats or (1 if args.quick else 3)
    wanted = set(args.scenarios.split(","))
    CLI[:] = resolve_cli() or []
    has_npx = bool(CLI)
    if not has_npx:
        print("the official CLI could not be installed through npx: measured without it")
    root = Path(tempfile.mkdtemp(prefix="bench-"))
    lines = ["# Benchmark results", "",
             f"Machine: {machine()}. Run: `python -m benchmarks{' --quick' if args.quick else ''}`, "
             f"{repeats} measurement(s) per point, medians; every contender against a fresh test server "
             "(Immich 3 mode) in its own process; 'verified' checks the server's state.", ""]  # fmt: skip
    if args.quick:
        lines += ["**Quick mode: scaled-down smoke run, not numbers to quote.**", ""]
    failures = 0
    try:
        for sc in SCENARIOS:
            if sc.name not in wanted:
                continue
            folder = make_data(root, sc, args.quick)
            rows = []
            for name, contender in contenders(has_npx).items():
                row = Row(sc.name, name)
                for _ in range(repeats):
                    m = measure(sc, name, contender, folder, root)
                    row.measures.append(m)
                    failures += not m.ok
                rows.append(row)
                print(f"{sc.name} {name}: " + ", ".join(f"{m.wall:.2f}s{'' if m.ok else ' FAILED'}" for m in row.measures), flush=True)  # fmt: skip
            lines += table(rows, sc, folder)
            shutil.rmtree(folder, ignore_errors=True)
        plot = sweep(root, args.quick, repeats, has_npx, args.out)
        if plot:
            lines += ["## Throughput against concurrency (B3 data, 100 ms per request)", "", f"![throughput]({plot.name})", ""]  # fmt: skip
    finally:
        shutil.rmtree(root, ignore_errors=True)
    (args.out / "RESULTS.md").write_text("\n".join(lines))
    print(f"wrote {args.out / 'RESULTS.md'}; {failures} failed measurements")
    return 1 if failures else 0


def sweep(root: Path, quick: bool, repeats: int, has_npx: bool, out: Path) -> Path | None:
    """Files/s at concurrency 1..16 for ours and the official CLI on the far-server scenario."""
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
    series: dict[str, list[float]] = {}
    for name, contender in (("async-uploader", "ours"), ("immich CLI 3.2.2", "cli")):
        if contender == "cli" and not has_npx:
            continue
        series[name] = []
        for c in levels:
            walls = [measure(sc, name, contender, folder, root, c).wall for _ in range(repeats)]
            series[name].append(n / statistics.median(walls))
    baseline = [measure(sc, "seq", "baseline", folder, root).wall for _ in range(repeats)]
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, ys in series.items():
        ax.plot(levels, ys, marker="o", label=name)
    ax.axhline(
        n / statistics.median(baseline), color="grey", linestyle="--", label="sequential (requests)"
    )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("concurrency")
    ax.set_ylabel("files/s")
    ax.set_title("B3: 100 ms per request")
    ax.legend()
    path = out / "throughput.png"
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path


if __name__ == "__main__":
    raise SystemExit(main())
