"""Which default concurrency? Wall time of a whole sync at 1, 2, 4, 8 and 16 uploads at once.

The test server runs in its own process (as a real server would), with the shaping of each link;
each point is the median of three runs against a fresh server. Run:

    python -m benchmarks.concurrency_sweep [--quick]
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio

from async_uploader.config import Config, Secret
from async_uploader.run import RunControl, sync

SCENARIOS = [
    # name, files, bytes each, test-server shaping flags
    ("LAN, no shaping", 500, 250_000, []),
    ("40 Mbit/s + 20 ms", 60, 400_000, ["--latency-ms", "20", "--bandwidth-kbps", "40000"]),
    ("100 ms per request", 300, 30_000, ["--latency-ms", "100"]),
]
LEVELS = tuple(int(c) for c in os.environ.get("SWEEP_LEVELS", "1,2,4,8,16").split(","))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def one_run(folder: Path, concurrency: int, work: Path, shaping: list[str]) -> float:
    port = free_port()
    server = subprocess.Popen(  # noqa: ASYNC220 - started once, before any timing
        [
            sys.executable,
            "-m",
            "async_uploader",
            "test-server",
            "--port",
            str(port),
            "--api-key",
            "bench",
            *shaping,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        server.stdout.readline()  # listening
        config = Config(
            folder=folder,
            api_key=Secret("bench"),
            local_url=f"http://127.0.0.1:{port}",
            external_url=None,
            album="Bench",
            history_file=work / f"history-{time.monotonic_ns()}.json",
            log_file=work / "bench.log",
            concurrency=concurrency,
            settle_seconds=0,
        )
        t0 = time.perf_counter()
        report = await sync(config, RunControl(progress_seconds=0))
        elapsed = time.perf_counter() - t0
        expected = sum(1 for _ in folder.iterdir())
        if report.created != expected:
            raise SystemExit(
                f"only {report.created} of {expected} files uploaded: {report.summary()}"
            )
        return elapsed
    finally:
        server.terminate()
        server.wait()


async def main(quick: bool) -> None:
    logging.disable(logging.INFO)
    work = Path(tempfile.mkdtemp(prefix="concurrency-sweep-"))
    print(f"{'scenario':24} " + " ".join(f"{'c=' + str(c):>8}" for c in LEVELS))
    for name, files, size, shaping in SCENARIOS:
        files = max(10, files // 10) if quick else files
        folder = work / f"data-{files}-{size}"
        folder.mkdir()
        for i in range(files):
            path = folder / f"f{i:05d}.png"
            path.write_bytes(os.urandom(size))
            os.utime(path, (1714564800, 1714564800))
        medians = []
        for c in LEVELS:
            times = [await one_run(folder, c, work, shaping) for _ in range(1 if quick else 3)]
            medians.append(statistics.median(times))
        print(f"{name:24} " + " ".join(f"{t:7.2f}s" for t in medians), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the files, one run each")
    anyio.run(main, parser.parse_args().quick)
