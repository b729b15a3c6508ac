"""``async-uploader test-server``: run the emulated Immich server until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import re
import signal
import sys
from pathlib import Path

from .hostile import HostileRule, Kind
from .jobs import DEFAULT_COSTS
from .server import ServerOptions, TestServer
from .shaping import FAULT_ROUTES, Shaping


def _rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text}")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, not {text}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be from 0 to 65535, not {value}")
    return value


def _version(text: str) -> tuple[int, int, int]:
    parts = text.strip().lstrip("v").split(".")
    try:
        major, minor, patch = (int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be X.Y.Z, not {text!r}") from None
    return major, minor, patch


def _routes(text: str) -> frozenset[str]:
    routes = frozenset(r.strip() for r in text.split(",") if r.strip())
    unknown = routes - set(FAULT_ROUTES)
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown route(s) {', '.join(sorted(unknown))}; known: {', '.join(FAULT_ROUTES)}"
        )
    return routes


def _costs(text: str) -> tuple[float, ...]:
    try:
        costs = tuple(float(c) for c in text.split(","))
    except ValueError:
        costs = ()
    if len(costs) != len(DEFAULT_COSTS) or not all(0 <= c <= 10_000 for c in costs):
        raise argparse.ArgumentTypeError(f"expected META_MS,THUMB_MS such as 40,120, not {text!r}")
    return costs


def _hostile(text: str) -> HostileRule:
    try:
        return HostileRule.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


_UNITS = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "ki": 1024, "mi": 1024**2, "gi": 1024**3}


def _proxy(text: str) -> tuple[int, int]:
    """``PORT:SIZE``: another address, behind a proxy refusing bodies over SIZE (100MB, 1MiB)."""
    port, _, size = text.partition(":")
    match = re.fullmatch(r"(\d+)\s*([kmg]i?)?b?", size.strip(), re.IGNORECASE)
    if not port.isdigit() or int(port) > 65535 or match is None:
        raise argparse.ArgumentTypeError(f"expected PORT:SIZE such as 0:100MB, not {text!r}")
    return int(port), int(match[1]) * _UNITS[(match[2] or "").lower()]


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = parser or argparse.ArgumentParser(prog="async-uploader test-server")
    p.description = "Run an Immich-compatible test server (in memory unless --data-dir)."
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--port", type=_port, default=2283, help="port (default 2283; 0 picks a free one)"
    )
    p.add_argument("--api-key", help="the API key to accept (default: a random one, printed)")
    p.add_argument(
        "--api-version",
        type=int,
        choices=(2, 3),
        default=3,
        help="3: behave as Immich 3.1.0 (default); 2: as Immich 2.7.5",
    )
    p.add_argument(
        "--server-version",
        type=_version,
        metavar="X.Y.Z",
        help="what /api/server/version says, within --api-version's major (e.g. 3.2.2)",
    )
    p.add_argument(
        "--latency-ms",
        type=_non_negative,
        default=0.0,
        help="delay every request by this many milliseconds",
    )
    p.add_argument(
        "--bandwidth-kbps",
        type=_non_negative,
        default=0.0,
        help="cap the total upload rate over all connections (kilobits/s; 0: none)",
    )
    p.add_argument(
        "--fail-rate",
        type=_rate,
        default=0.0,
        help="share of requests answered 500 before the body is read",
    )
    p.add_argument(
        "--reset-rate",
        type=_rate,
        default=0.0,
        help="share of requests whose connection is dropped mid-body",
    )
    p.add_argument(
        "--stall-rate",
        type=_rate,
        default=0.0,
        help="share of requests during which reading stops for --stall-seconds",
    )
    p.add_argument(
        "--stall-seconds", type=_non_negative, default=10.0, help="length of a stall (default 10)"
    )
    p.add_argument(
        "--max-processing",
        type=int,
        default=0,
        metavar="N",
        help="a small server: at most N uploads handled at once (default 0: no limit)",
    )
    p.add_argument(
        "--processing-ms",
        type=_non_negative,
        default=0.0,
        metavar="MS",
        help="the server's own work per upload, holding its place (default 0)",
    )
    p.add_argument(
        "--queue-depth",
        type=int,
        default=0,
        metavar="N",
        help="uploads that wait for a place; any more get 503 (default 0)",
    )
    p.add_argument(
        "--fault-routes",
        type=_routes,
        default=frozenset({"upload"}),
        help=f"routes faults apply to, comma-separated (default upload; "
        f"known: {','.join(FAULT_ROUTES)})",
    )
    p.add_argument(
        "--hostile",
        type=_hostile,
        action="append",
        default=[],
        metavar="ROUTE=KIND[:N]",
        help="misbehave on a route, e.g. albums=drip:1, '*=echo-key', upload=html-502 "
        f"(repeatable; kinds: {', '.join(k.value for k in Kind)})",
    )
    p.add_argument(
        "--proxy",
        type=_proxy,
        action="append",
        default=[],
        metavar="PORT:SIZE",
        help="also listen on PORT (0: a free one) as if behind a proxy that answers 413 to a "
        "request body over SIZE (e.g. 0:100MB; repeatable): an external URL with a body limit",
    )
    p.add_argument(
        "--job-costs",
        type=_costs,
        nargs="?",
        const=DEFAULT_COSTS,
        metavar="META_MS,THUMB_MS",
        help="a server whose jobs cost what Immich's do: each created asset queues a metadata "
        "extraction and a thumbnail, each spending this much CPU in worker processes unless its "
        f"queue is paused (default {DEFAULT_COSTS[0]:g},{DEFAULT_COSTS[1]:g}, calibrated against "
        "a real Immich 3.1.0)",
    )
    p.add_argument(
        "--job-workers",
        type=int,
        default=0,
        metavar="N",
        help="worker processes for --job-costs (default 0: one per processor)",
    )
    p.add_argument("--seed", type=int, help="seed for the fault draws (repeatable runs)")
    p.add_argument(
        "--data-dir",
        type=Path,
        help="keep uploaded files and the server state here, across restarts",
    )
    return p


def options_from_args(args: argparse.Namespace) -> ServerOptions:
    shaping = Shaping(
        latency_ms=args.latency_ms,
        bandwidth_kbps=args.bandwidth_kbps,
        fail_rate=args.fail_rate,
        reset_rate=args.reset_rate,
        stall_rate=args.stall_rate,
        stall_seconds=args.stall_seconds,
        max_processing=args.max_processing,
        processing_ms=args.processing_ms,
        queue_depth=args.queue_depth,
        fault_routes=args.fault_routes,
    )
    return ServerOptions(
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        api_version=args.api_version,
        server_version=args.server_version,
        shaping=shaping,
        seed=args.seed,
        data_dir=args.data_dir,
        hostile=tuple(args.hostile),
        proxies=tuple(args.proxy),
        job_costs=args.job_costs,
        job_workers=args.job_workers,
    )


async def serve(options: ServerOptions) -> None:
    server = TestServer(options)
    try:
        await server.start()
    except OSError as exc:
        taken = exc.errno == errno.EADDRINUSE
        hint = "; another server has that port: --port 0 takes a free one" if taken else ""
        print(
            f"test-server: cannot listen on {options.host}:{options.port}: "
            f"{'address already in use' if taken else exc.strerror or exc}{hint}",
            file=sys.stderr,
        )
        raise SystemExit(2) from None
    proxied = [
        (await server.add_address(options.host, port, size), size) for port, size in options.proxies
    ]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    version = ".".join(map(str, server.emulator.server_version))
    print(f"Immich test server (Immich {version}) listening on {server.url}", flush=True)
    print(f"URL:     {server.url}/api", flush=True)
    print(f"API key: {server.api_key}", flush=True)
    print(f"Admin API key: {server.admin_key} (for the job queues)", flush=True)
    for url, size in proxied:
        print(f"Proxy:   {url}/api (answers 413 to a body over {size} bytes)", flush=True)
    if options.data_dir:
        print(f"Data:    {options.data_dir}", flush=True)
    if options.job_costs is not None:
        costs = ", ".join(f"{c:g} ms" for c in options.job_costs)
        print(f"Jobs:    every asset costs {costs} of CPU (metadata, thumbnail)", flush=True)
    for rule in options.hostile:
        print(
            f"Hostile: {rule.route} answers {rule.kind.value}"
            + (f" ({rule.param:g})" if rule.param else ""),
            flush=True,
        )
    print("Press Ctrl-C to stop.", flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop()
        print("Test server stopped.", flush=True)


def run(args: argparse.Namespace) -> int:
    try:
        options = options_from_args(args)
        if options.server_version is not None and options.server_version[0] != options.api_version:
            raise ValueError(
                f"--server-version {'.'.join(map(str, options.server_version))} is not a {options.api_version}.x release (--api-version {options.api_version})"
            )
    except ValueError as exc:
        print(f"test-server: {exc}", file=sys.stderr)
        return 2
    asyncio.run(serve(options))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))
