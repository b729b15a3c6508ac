"""Benchmarks: our uploader and the others, side by side, on the same test server.

    python -m benchmarks [--quick] [--scenarios B1,B3] [--repeats N] [--out benchmarks]

Each measurement gets a fresh test server in its own process (Immich 3 mode, which every
contender speaks) with the scenario's shaping; success is judged on the server's state, never on
exit codes. Writes RESULTS.md and throughput.png. ``--quick`` scales every scenario down and runs
each once: a smoke check that everything works, not a measurement to quote.

    model        scenarios, contenders, measures, rows: plain data
    scenarios    the scenarios and their targets' judges (targets)
    contenders   who is measured, and how each is started
    harness      one measurement: a test server, a timed run, the server's state checked
    report       RESULTS.md's tables, the B1 profile, the throughput plot
"""

from __future__ import annotations

import argparse
import functools
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from . import targets
from .contenders import (
    HERE,
    PY_CONTENDERS,
    contenders,
    in_turns,
    install_python_contender,
    resolve_cli,
)
from .harness import hash_alone, make_data, measure, repeated, seed, seed_direct, stat_alone
from .model import LONG_S, OURS, Bench, Contender, Judging, Measure, Row, Scenario
from .report import machine, profile_ours, sweep, table
from .scenarios import SCENARIOS

# The backfills of small files (2 kB) whose peak RSS B6 holds against the 100-file one's; the
# largest comes from B4's seeding when B4 runs too.
MEMORY_SIZES = (100, 2_000, 20_000)
QUICK_MEMORY_SIZES = (100, 500, 2_000)


def _arguments() -> argparse.Namespace:
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
    return parser.parse_args()


def _bench(args: argparse.Namespace) -> Bench:
    """What this machine has: the other checkouts, the official CLI, the Python uploaders."""
    bench = Bench(quick=args.quick)
    for checkout in args.compare_with:
        rev = subprocess.run(
            ["git", "-C", str(checkout), "log", "-1", "--format=%h"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        name = f"async-uploader @ {rev or checkout.name}"
        bench.compare.append(Contender(name, "ours", pythonpath=str(checkout.resolve())))
    bench.cli = resolve_cli() or []
    if not bench.cli:
        print("the official CLI could not be installed through npx: measured without it")
        bench.notes.append(
            "The official CLI could not be installed through npx: measured without it."
        )
    for kind in PY_CONTENDERS:
        if (exe := install_python_contender(kind, bench.notes)) is not None:
            bench.py_exes[kind] = exe
    return bench


def _not_applicable(sc: Scenario, who: Contender) -> str:
    """Why a contender is not measured in a scenario ("" when it is)."""
    if sc.kind == "idle-direct" and who.kind != "ours":
        return "n/a: our history, written directly"
    if sc.max_rate and who.kind != "ours":
        return "n/a: no bandwidth cap"
    if sc.kind == "idle" and who.kind == "baseline":
        return "n/a: no history, it would send everything again"
    return ""


def _scenario(
    sc: Scenario,
    args: argparse.Namespace,
    bench: Bench,
    root: Path,
    repeats: int,
    extra: dict[str, Any],
) -> tuple[list[str], list[str], int]:
    """One scenario measured: its table's lines, its targets' lines, its failed measurements."""
    folder = make_data(root, sc, args.quick)
    failures = 0
    seeded = None
    if sc.kind == "idle-direct":
        seeded = seed_direct(folder, root)
        extra["stat_alone"] = stat_alone(folder, repeats)
        files = sum(1 for _ in folder.iterdir())
        print(
            f"{sc.name}: history of {files:,} files written in {seeded.measure.wall:.1f}s; "
            f"stat alone {extra['stat_alone']:.2f}s",
            flush=True,
        )
    elif sc.kind in ("idle", "new-machine"):
        seeded = seed(sc, folder, root, bench)
        failures += not seeded.measure.ok
        if sc.kind == "idle":
            extra["seeded_rss"] = (sum(1 for _ in folder.iterdir()), seeded.measure.rss_mb)
            print(
                f"{sc.name} seeding (our upload of every file): {seeded.measure.wall:.1f}s, "
                f"{seeded.measure.rss_mb:.0f} MB peak",
                flush=True,
            )
    if sc.kind == "new-machine":
        extra["hash_alone"] = hash_alone(folder, repeats)
    # Ours, the other checkouts and ours at fixed concurrencies take turns, so that drift hits
    # them alike.
    side_by_side: dict[str, list[Measure]] = {}
    if turns := in_turns(bench, sc):
        for _ in range(repeats):
            for who in turns:
                m = measure(sc, who, folder, root, bench, seeded)
                side_by_side.setdefault(who.name, []).append(m)
    rows = []
    for who in contenders(bench, sc):
        if args.only and who.kind not in args.only.split(","):
            continue
        row = Row(sc.name, who.name)
        rows.append(row)
        if why := _not_applicable(sc, who):
            row.measures.append(Measure(0, 0, 0, 0, True, why))
            continue
        run = functools.partial(measure, sc, who, folder, root, bench, seeded)
        row.measures = side_by_side.get(who.name) or repeated(run, repeats)
        failures += sum(not m.ok for m in row.measures)
        shown = ", ".join(
            f"{m.wall:.2f}s{'' if m.ok else ' FAILED: ' + m.note}" for m in row.measures
        )
        print(f"{sc.name} {who.name}: {shown}", flush=True)
    if sc.name == "B6":
        extra["rss_by_files"] = _memory_by_size(sc, args, bench, root, repeats, extra)
    lines = table(rows, sc, folder)
    if sc.name == "B1" and any(r.contender == OURS.name for r in rows):
        lines += ["Where our time goes on B1 (pyinstrument, one more run of ours):", ""]
        lines += profile_ours(sc, folder, root, bench)
    if sc.kind == "new-machine":
        lines += [
            "Hashing the files alone (a fresh Python, SHA-1 in two threads): "
            f"{extra['hash_alone']:.2f} s.",
            "",
        ]
    judging = Judging(sc, rows, folder, bench, extra)
    verdicts = targets.common(judging) if judging.by_name.get(OURS.name) else []
    if sc.judge is not None and OURS.name in judging.by_name:
        verdicts += sc.judge(judging)
    shutil.rmtree(folder, ignore_errors=True)
    return lines, verdicts, failures


def _memory_by_size(
    sc: Scenario,
    args: argparse.Namespace,
    bench: Bench,
    root: Path,
    repeats: int,
    extra: dict[str, Any],
) -> dict[int, float]:
    """Peak RSS of ours backing up folders of small files of several sizes (the largest from
    B4's seeding, when B4 ran first)."""
    out: dict[int, float] = {}
    for n in QUICK_MEMORY_SIZES if args.quick else MEMORY_SIZES:
        small = make_data(
            root, Scenario(f"M{n}", f"{n} small files", n, 2_000, quick_files=n), args.quick
        )
        ms = [measure(sc, OURS, small, root, bench) for _ in range(repeats)]
        out[n] = max(m.rss_mb for m in ms)
        print(f"B6 memory: {n:,} files, peak {out[n]:.0f} MB", flush=True)
        shutil.rmtree(small, ignore_errors=True)
    if "seeded_rss" in extra:
        files, rss = extra["seeded_rss"]
        out[files] = rss
    return out


def main() -> int:
    args = _arguments()
    args.out.mkdir(parents=True, exist_ok=True)
    repeats = args.repeats or (1 if args.quick else 3)
    wanted = set(args.scenarios.split(","))
    bench = _bench(args)
    root = Path(tempfile.mkdtemp(prefix="bench-"))
    lines = [
        "# Benchmark results",
        "",
        f"Machine: {machine()}. Run: `python -m benchmarks{' --quick' if args.quick else ''}` "
        f"on {time.strftime('%Y-%m-%d')}, {repeats} measurement(s) per point (one when it takes "
        f"over {LONG_S:.0f} s: marked '1 run'), medians (peak RSS: the largest, of the "
        "contender's own process tree); every contender against a fresh test server (Immich 3 "
        "mode) in its own process; 'verified' checks the server's state (every file an asset, "
        "every asset in the album), never exit codes.",
        "",
    ]
    if args.quick:
        lines += ["**Quick mode: scaled-down smoke run, not numbers to quote.**", ""]
    verdicts: list[str] = []
    extra: dict[str, Any] = {}
    failures = 0
    try:
        for sc in SCENARIOS:
            if sc.name in wanted:
                table_lines, judged, failed = _scenario(sc, args, bench, root, repeats, extra)
                lines += table_lines
                verdicts += judged
                failures += failed
        if not args.no_sweep and (plot := sweep(root, repeats, bench, args.out)):
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
    if bench.notes:
        notes = dict.fromkeys(bench.notes)
        lines += ["## Notes on the contenders", "", *(f"- {n}" for n in notes), ""]
    (args.out / "RESULTS.md").write_text("\n".join(lines))
    print(f"wrote {args.out / 'RESULTS.md'}; {failures} failed measurements")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
