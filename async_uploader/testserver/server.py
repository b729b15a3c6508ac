"""Running the emulated server: in the caller's event loop, or in a thread of its own.

The Python API for tests and benchmarks: start on a free port, read counters, change the shaping
while it runs, script a status for the next request of a route, create keys with fewer permissions.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from .app import Emulator
from .hostile import HostileRule, Kind
from .jobs import JobQueues
from .records import random_secret
from .shaping import ScriptedFault, Shaping
from .state import ServerState

T = TypeVar("T")

# The real server drops an idle keep-alive socket after 6 s while announcing timeout=5
# (shared/immich/REAL-SERVER-NOTES.md); clients must cope, so we do the same.
IDLE_CLOSE_SECONDS = 6.0


@dataclass(frozen=True)
class ServerOptions:
    host: str = "127.0.0.1"
    port: int = 0  # 0: a free port
    api_key: str | None = None  # None: a random one
    api_version: int = 3
    server_version: tuple[int, int, int] | None = None  # within api_version; None: its default
    shaping: Shaping = field(default_factory=Shaping)
    seed: int | None = None
    data_dir: Path | None = None
    idle_close_seconds: float = IDLE_CLOSE_SECONDS
    hostile: tuple[HostileRule, ...] = ()  # misbehaviours from the start (see hostile.py)
    # More addresses (port, 0 for a free one), each behind a proxy refusing bodies over its size
    proxies: tuple[tuple[int, int], ...] = ()
    # Background work per created asset (CPU ms per job: metadata, thumbnail), as Immich's
    # workers do it (jobs.py); None: none, the queues only answer.
    job_costs: tuple[float, ...] | None = None
    job_workers: int = 0  # worker processes (0: one per processor)


class TestServer:
    """The emulated server, started and stopped in the running event loop."""

    __test__ = False  # not a pytest test class

    def __init__(self, options: ServerOptions | None = None) -> None:
        self.options = options or ServerOptions()
        self.state = ServerState(self.options.data_dir)
        self.emulator = Emulator(
            self.state,
            self.options.api_version,
            self.options.shaping,
            self.options.seed,
            self.options.server_version,
        )
        for rule in self.options.hostile:
            self.emulator.hostile.add(rule)
        secret = self.options.api_key or random_secret()
        self.api_key = secret
        if secret not in self.state.keys:
            self.state.create_api_key(["all"], name="test-server", secret=secret)
        # The admin's key, for what only an admin may do (the job queues).
        admins = [k for k in self.state.keys.values() if k.admin]
        self.admin_key = (
            admins[0].secret
            if admins
            else self.state.create_api_key(["all"], name="admin", admin=True).secret
        )
        self._runner: web.AppRunner | None = None
        self._aliases: dict[str, web.AppRunner] = {}
        self.port = self.options.port

    @property
    def url(self) -> str:
        host = self.options.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    async def _listen(self, host: str, port: int, max_body: int | None = None) -> web.AppRunner:
        """One more listening address, served by this server's emulator (its state)."""
        runner = web.AppRunner(
            self.emulator.make_app(max_body),
            access_log=None,
            keepalive_timeout=self.options.idle_close_seconds,
            # A stop is a crash as far as clients can tell: in-flight requests are cut at once.
            shutdown_timeout=0.5,
        )
        await runner.setup()
        await web.TCPSite(runner, host, port, reuse_address=True).start()
        return runner

    async def start(self) -> str:
        if self.options.job_costs is not None:
            self.emulator.jobs = JobQueues(
                self.state.paused_queues, self.options.job_costs, self.options.job_workers
            )
            await self.emulator.jobs.start()
        self._runner = await self._listen(self.options.host, self.port)
        self.port = self._runner.addresses[0][1]
        return self.url

    async def add_address(
        self, host: str = "127.0.0.1", port: int = 0, max_body: int | None = None
    ) -> str:
        """Listen on one more address, sharing this server's state: the same server as seen at
        another URL (a LAN and a public address). ``max_body``: that address sits behind a proxy
        that answers 413 to a request body over that many bytes. Returns that URL."""
        runner = await self._listen(host, port, max_body)
        url = f"http://{host}:{runner.addresses[0][1]}"
        self._aliases[url] = runner
        return url

    async def remove_address(self, url: str) -> None:
        """Stop answering at that URL: new connections are refused, open ones are closed."""
        runner = self._aliases.pop(url)
        await runner.cleanup()

    async def stop(self) -> None:
        for url in list(self._aliases):
            await self.remove_address(url)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.emulator.jobs is not None:
            await self.emulator.jobs.stop()
            self.emulator.jobs = None
        self.state.close()

    # -- for tests and benchmarks ----------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        return self.state.stats.snapshot()

    def set_shaping(self, **changes: Any) -> None:
        self.emulator.set_shaping(self.emulator.shaping.with_changes(**changes))

    def script_status(
        self, route: str, status: int, retry_after: float | None = None, message: str | None = None
    ) -> None:
        """The next request on ``route`` ("upload", "bulk-check", "album-add", ...) gets ``status``."""
        self.emulator.script(ScriptedFault(route, status, retry_after, message))

    def create_api_key(self, permissions: list[str], name: str = "limited") -> str:
        return self.state.create_api_key(permissions, name=name).secret

    def hostile(
        self,
        route: str,
        kind: str,
        param: float | None = None,
        times: int | None = None,
        location: str | None = None,
    ) -> None:
        """Misbehave on ``route`` (a name of hostile.ROUTES, or "*"): ``kind`` is one of
        hostile.Kind ("drip", "html-502", ...), for every request or the next ``times``;
        ``location`` is the base URL a redirect points to."""
        self.emulator.hostile.add(HostileRule(route, Kind(kind), param, times, location))

    def clear_hostile(self) -> None:
        self.emulator.hostile.clear()


class ServerThread:
    """A TestServer in a thread of its own, for synchronous tests and subprocess clients."""

    def __init__(self, options: ServerOptions | None = None) -> None:
        self.options = options or ServerOptions()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.server: TestServer | None = None

    def start(self) -> ServerThread:
        ready: Future[TestServer] = Future()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                server = TestServer(self.options)
                loop.run_until_complete(server.start())
            except BaseException as exc:  # reported to the starting thread
                ready.set_exception(exc)
                loop.close()
                return
            ready.set_result(server)
            loop.run_forever()
            loop.run_until_complete(server.stop())
            # Handlers of connections cut by the stop: let them see it, then close the loop.
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

        self._thread = threading.Thread(target=run, name="immich-test-server", daemon=True)
        self._thread.start()
        self.server = ready.result(timeout=30)
        # Keep the port for a restart on the same address.
        self.options = _with_port(self.options, self.server.port)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
        self._loop = None
        self._thread = None

    def restart(self) -> None:
        """Stop and start again on the same port (with a data_dir, the state survives)."""
        self.stop()
        self.start()

    def add_address(self, port: int = 0, max_body: int | None = None) -> str:
        """Another URL for the same server (shared state); see TestServer.add_address."""
        assert self._loop is not None and self.server is not None
        future = asyncio.run_coroutine_threadsafe(
            self.server.add_address(port=port, max_body=max_body), self._loop
        )
        return future.result(timeout=30)

    def remove_address(self, url: str) -> None:
        assert self._loop is not None and self.server is not None
        future = asyncio.run_coroutine_threadsafe(self.server.remove_address(url), self._loop)
        future.result(timeout=30)

    def call(self, fn: Callable[[TestServer], T]) -> T:
        """Run ``fn(server)`` in the server's thread and return its result."""
        assert self._loop is not None and self.server is not None
        server = self.server

        async def run() -> T:
            return fn(server)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=30)

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    @property
    def api_key(self) -> str:
        assert self.server is not None
        return self.server.api_key

    @property
    def admin_key(self) -> str:
        assert self.server is not None
        return self.server.admin_key

    def stats(self) -> dict[str, Any]:
        return self.call(lambda s: s.stats())

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _with_port(options: ServerOptions, port: int) -> ServerOptions:
    from dataclasses import replace

    return replace(options, port=port)
