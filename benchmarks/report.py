"""What RESULTS.md says: the machine, a table per scenario, our profile on B1, and the plot of
throughput against concurrency on the far-server scenario."""

from __future__ import annotations

import functools
import os
import platform
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from .contenders import HERE, command
from .harness import Server, make_data, measure, repeated, run_measured
from .model import OURS, Bench, Contender, Row, Scenario, median_of
from .scenarios import SCENARIOS


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


def profile_ours(sc: Scenario, folder: Path, root: Path, bench: Bench) -> list[str]:
    """Our run of this scenario once more under pyinstrument (a sampling profiler; the call tree
    of the main thread, where the event loop runs), for RESULTS.md."""
    try:
        import pyinstrument  # noqa: F401
    except ImportError:
        return ["(pyinstrument is not installed: `pip install -e '.[bench]'`)", ""]
    server = Server(sc.shaping)
    work = Path(tempfile.mkdtemp(dir=root))
    try:
        cmd, env = command(OURS, server.url, folder, work, "Bench", bench)
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
            *(c for c in cmd[1:] if c != "-P"),  # pyinstrument's own -m runs this checkout
        ]
        run_measured(cmd, env, 3600)
        lines = out.read_text().splitlines() if out.exists() else ["(no profile written)"]
    finally:
        server.close()
        shutil.rmtree(work, ignore_errors=True)
    tree = [ln.replace(str(HERE.parent) + "/", "") for ln in lines if ln.strip()][:60]
    return ["```", *tree, "```", ""]


def sweep(root: Path, repeats: int, bench: Bench, out: Path) -> Path | None:
    """Files/s against concurrency for every contender that has a setting for it, on the
    far-server scenario; the sequential ones as lines."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    sc = next(s for s in SCENARIOS if s.name == "B3")
    folder = make_data(root, sc, bench.quick)
    n = sum(1 for _ in folder.iterdir())
    levels = [1, 8] if bench.quick else [1, 2, 4, 8, 16]
    kinds = [
        ("async-uploader", "ours"),
        ("immich CLI 3.2.2", "cli"),
        ("immichpy 9.2.4", "immichpy"),
    ]
    series: dict[str, list[float]] = {}
    for name, kind in kinds:
        if (kind == "cli" and not bench.cli) or (kind == "immichpy" and kind not in bench.py_exes):
            continue
        series[name] = []
        for c in levels:
            run = functools.partial(measure, sc, Contender(name, kind, c), folder, root, bench)
            walls = [m.wall for m in repeated(run, repeats)]
            series[name].append(n / statistics.median(walls))
            print(f"sweep {name} -c {c}: {series[name][-1]:.1f} files/s", flush=True)
    flat = [Contender("sequential (requests)", "baseline")]
    if "pymmich" in bench.py_exes:
        flat.append(Contender("pymmich 0.4.0", "pymmich"))
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, ys in series.items():
        ax.plot(levels, ys, marker="o", label=name)
    for who, style in zip(flat, ("--", ":"), strict=False):
        run = functools.partial(measure, sc, who, folder, root, bench)
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
