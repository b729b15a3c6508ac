"""``async-uploader demo``: a whole sync against the built-in test server, for a first try.

It starts the test server on a free loopback port, syncs the configured folder (else a generated
sample of screenshots) into it, prints the summary and what the server now holds, and stops. The
history and log go to a temporary folder: the demo never touches a real history or server.
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
import tempfile
import time
import zlib
from pathlib import Path

import anyio

from .config import Config, Secret, load_config
from .control import RunControl
from .errors import EXIT_OK, EXIT_PARTIAL, ConfigError
from .local import offline_report, read_local
from .logsetup import setup_logging
from .run import sync
from .testserver import ServerOptions, TestServer
from .text import counted, human_bytes

SAMPLE_NAMES = [
    "Screenshot 2024-05-01 at 12.00.00.png",
    "Screenshot 2024-05-01 at 12.05.31.png",
    "Screenshot_20240502-093012.png",
    "Screenshot from 2024-05-03 18-22-04.png",
    "Bildschirmfoto 2024-05-04 um 08.15.00.png",
    "Capture d’écran 2024-05-05 à 10.10.10.png",
    "スクリーンショット 2024-05-06 11.11.11.png",
    "Screen Shot 2024-05-07 at 9.41.00 PM.png",
    "notes.txt",  # not a media type: the scan leaves it alone
]
SHOWN = 20  # assets listed by name; the rest as "and N more"


def png(width: int, height: int, seed: int) -> bytes:
    """A small valid RGB PNG whose pixels depend on ``seed`` (so every sample is distinct)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(
        b"\x00" + bytes(((x * 7 + y * 3 + seed * 31) % 256) for x in range(width * 3))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def make_samples(folder: Path) -> None:
    for i, name in enumerate(SAMPLE_NAMES):
        path = folder / name
        path.write_bytes(b"hello\n" if name.endswith(".txt") else png(64, 48, i))
        # Old enough that the scan does not take them for files still being written.
        os.utime(path, (1714564800 + i * 3600, 1714564800 + i * 3600))


def run_demo(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="async-uploader-demo-") as tmp:
        work = Path(tmp)
        folder: Path | None = None
        album = args.album or "Screenshots"
        try:
            configured = load_config(
                {
                    "env_file": args.env_file,
                    "folder": args.folder,
                    "album": album,
                    "local_url": "http://127.0.0.1",
                    "recursive": args.recursive,
                },
                environ={k: v for k, v in os.environ.items() if k != "IMMICH_API_KEY"}
                | {"IMMICH_API_KEY": "demo"},
            )
            folder = configured.folder
            album = configured.album
            recursive = configured.recursive
        except ConfigError:
            folder = None
            recursive = bool(args.recursive)
        if folder is None:
            folder = work / "screenshots"
            folder.mkdir()
            make_samples(folder)
        setup_logging(log_file=work / "demo.log", secrets=[], quiet=args.quiet, debug=args.debug)
        return anyio.run(_demo, folder, album, work, recursive, backend="asyncio")


async def _second_run(config: Config, server: TestServer) -> None:
    """Run again, as cron would: nothing is new, so the run settles from the history alone,
    without a single request to the server (the CLI's idle path); else a sync as usual."""
    before = sum(server.state.stats.requests.values())
    t0 = time.monotonic()
    history, scanned = await anyio.to_thread.run_sync(read_local, config)
    idle = offline_report(config, history, scanned)
    if idle is None:  # something was left (a rejected file, one still being written): sync it
        again = await sync(config, RunControl(progress_seconds=0), (history, scanned))
        print(
            f"A second run found {counted(again.skipped_history, 'file')} already done and "
            f"uploaded {again.created} new ones.",
            flush=True,
        )
        return
    history.close()
    scanned.files.close()
    ms = (time.monotonic() - t0) * 1000
    asked = sum(server.state.stats.requests.values()) - before
    print(
        f"A second run, as cron would start it: nothing new ({counted(idle[0].scanned, 'file')} "
        f"in the history and the album), done in {ms:.0f} ms without contacting the server "
        f"({counted(asked, 'request')}).",
        flush=True,
    )


async def _demo(folder: Path, album: str, work: Path, recursive: bool) -> int:
    server = TestServer(ServerOptions(port=0))
    await server.start()
    try:
        print(
            f"Demo: test server at {server.url}, uploading {folder} to album {album!r}", flush=True
        )
        config = Config(
            folder=folder,
            api_key=Secret(server.api_key),
            local_url=server.url,
            external_url=None,
            album=album,
            history_file=work / "history.json",
            log_file=work / "demo.log",
            recursive=recursive,
            settle_seconds=0.0,
        )
        report = await sync(config, RunControl(progress_seconds=0))
        print("Done: " + report.summary(), flush=True)
        state = server.state
        print(f"The server now holds {counted(len(state.assets), 'asset')}:", flush=True)
        for a in state.albums.values():
            print(f"  album {a.name!r}: {counted(len(a.asset_ids), 'asset')}", flush=True)
            assets = sorted(
                (state.assets[i] for i in a.asset_ids), key=lambda x: x.original_file_name
            )
            for asset in assets[:SHOWN]:
                print(f"    {asset.original_file_name}  ({human_bytes(asset.size)})", flush=True)
            if len(assets) > SHOWN:
                print(f"    and {len(assets) - SHOWN} more", flush=True)
        await _second_run(config, server)
        return EXIT_OK if report.ok else EXIT_PARTIAL
    finally:
        await server.stop()
        sys.stdout.flush()
