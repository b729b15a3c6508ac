"""The scenarios: what each measures (files, sizes, the test server's shaping), the fixed
concurrencies ours is compared with, and the function that judges its targets."""

from __future__ import annotations

from . import targets
from .model import Scenario

SCENARIOS = [
    Scenario("B1", "LAN backfill", 2000, 250_000, quick_files=150, fixed=(16,), judge=targets.b1),
    Scenario(
        "B2",
        "slow uplink: 40 Mbit/s, 20 ms",
        60,
        400_000,
        ("--bandwidth-kbps", "40000", "--latency-ms", "20"),
        quick_files=15,
        fixed=(16,),
        judge=targets.b2,
    ),
    # On the far server, 64 too: the most streams allowed, so what this machine does at best.
    Scenario(
        "B3",
        "far server: 60 ms per request",
        300,
        30_000,
        ("--latency-ms", "60"),
        quick_files=40,
        fixed=(16, 64),
        judge=targets.b3,
    ),
    Scenario(
        "B4", "idle scheduled run", 100_000, 2_000, quick_files=3_000, kind="idle", judge=targets.b4
    ),
    Scenario(
        "B5",
        "new machine: all on the server, no history",
        5000,
        30_000,
        quick_files=300,
        kind="new-machine",
        judge=targets.b5,
    ),
    Scenario(
        "B6",
        "memory: one big video + small files",
        2000,
        20_000,
        quick_files=100,
        big=1_500_000_000,
        quick_big=100_000_000,
        judge=targets.b6,
    ),
    Scenario(
        "B7",
        "a million files, idle",
        1_000_000,
        64,
        quick_files=20_000,
        kind="idle-direct",
        judge=targets.b7,
    ),
    Scenario(
        "B8",
        "bandwidth cap: --max-rate 2MB",
        60,
        250_000,
        quick_files=12,
        max_rate="2MB",
        judge=targets.b8,
    ),
    # The small server: the settings around its capacity, to find the best fixed one.
    Scenario(
        "B9",
        "small server: 4 uploads at once, 40 ms each, 8 waiting, 503 beyond",
        600,
        30_000,
        ("--max-processing", "4", "--processing-ms", "40", "--queue-depth", "8"),
        quick_files=60,
        fixed=(2, 4, 8, 12, 16),
        judge=targets.b9,
    ),
    # A server whose jobs cost what Immich's do (metadata and thumbnails for each asset, in
    # worker processes on the same cores): ours by default (it pauses them for a backfill)
    # against itself with --no-pause-jobs and against the CLI, which never pauses them.
    Scenario(
        "B10",
        "a server making thumbnails while it receives: 500 screenshots of 200 kB",
        500,
        196_000,
        ("--job-costs",),
        quick_files=120,
        kind="jobs",
        judge=targets.b10,
    ),
]
