"""The server's background work, costing what Immich's does: each created asset queues a metadata
extraction, and when that is done a thumbnail generation; worker processes spend each job's CPU
time while its queue runs, on the same cores as the server. A paused queue keeps its jobs waiting
(one already running finishes), and a resumed one picks them up: what pausing the jobs is for.

Off unless costs are given (``ServerOptions.job_costs``, ``--job-costs``). Calibrated against a
real Immich 3.1.0 on the same 2 cores, where 500 screenshots of 196 kB took 10.3 s with the queues
running and 3.9 s with them paused (2.6x): here the queues run Immich's default concurrency (5
metadata and 3 thumbnail jobs at once, each a worker process: Immich's do not share the API's
event loop, and threads would share this server's GIL) at 40 and 120 ms of CPU a job, and the
same backfill took 2.4-2.7 s with the queues running against 0.94-0.99 s with them paused
(2.6-2.8x; 0.99 s with no jobs at all). The costs matter less than the concurrency: once the
jobs queue up, 8 busy workers take most of 2 cores whatever each job costs.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

# The queues the emulated work goes through, in the order an asset goes through them, and how
# many jobs of each run at once: Immich's default concurrency for these queues (5 and 3).
PIPELINE = ("metadataExtraction", "thumbnailGeneration")
CONCURRENCY = (5, 3)
DEFAULT_COSTS = (40.0, 120.0)  # CPU ms per job of each queue: see the docstring


def burn(cpu_ms: float) -> None:
    """Spend ``cpu_ms`` of this process's CPU time (in a worker process)."""
    end = time.process_time() + cpu_ms / 1000
    while time.process_time() < end:
        sum(range(1000))


def _ready() -> int:
    """A worker's answer that it has started: its pid, after holding it a moment."""
    time.sleep(0.2)
    return os.getpid()


@dataclass
class Queue:
    name: str
    cost_ms: float
    concurrency: int
    waiting: deque[str] = field(default_factory=deque)
    active: int = 0
    completed: int = 0

    def counts(self, paused: bool) -> dict[str, int]:
        """As GET /api/queues (statistics) and GET /api/jobs (jobCounts) say them."""
        return {
            "active": self.active,
            "completed": self.completed,
            "failed": 0,
            "delayed": 0,
            "waiting": 0 if paused else len(self.waiting),
            "paused": len(self.waiting) if paused else 0,
        }


class JobQueues:
    """The queues' state and their workers, on the server's event loop."""

    def __init__(
        self, paused: set[str], costs: tuple[float, ...] = DEFAULT_COSTS, workers: int = 0
    ) -> None:
        self.paused = paused  # the server state's set: a pause is the state's, kept across restarts
        self.queues = {
            name: Queue(name, cost, most)
            for name, cost, most in zip(PIPELINE, costs, CONCURRENCY, strict=True)
        }
        # A process per job that may run at once, as Immich runs them on however many cores
        # there are; fewer with ``workers``.
        self.workers = workers or sum(CONCURRENCY)
        self._pool: ProcessPoolExecutor | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def counts(self, name: str) -> dict[str, int] | None:
        queue = self.queues.get(name)
        return queue.counts(name in self.paused) if queue is not None else None

    def created(self, asset_id: str) -> None:
        """An asset was created: its metadata waits to be extracted."""
        self.queues[PIPELINE[0]].waiting.append(asset_id)
        self._wake.set()

    def changed(self) -> None:
        """A queue was paused or resumed."""
        self._wake.set()

    async def start(self) -> None:
        """The workers started, and ready: a worker takes a second of CPU to start, which must
        not fall on the first measured run (it did: B10's ratio halved)."""
        # spawn: the server may run in a thread of a bigger process (the tests'), which a fork
        # would copy with its locks held.
        context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(self.workers, mp_context=context)
        seen: set[int] = set()
        for _ in range(20):  # until each worker has answered once (each task holds one 0.2 s)
            warm = [self._pool.submit(_ready) for _ in range(self.workers)]
            seen.update(await asyncio.gather(*(asyncio.wrap_future(f) for f in warm)))
            if len(seen) >= self.workers:
                break
        self._task = asyncio.get_running_loop().create_task(self._dispatch())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    async def _dispatch(self) -> None:
        """Start every job a queue that runs may start (its concurrency, a free worker); then
        wait for news (a job done, an asset created, a queue paused or resumed)."""
        while True:
            self._wake.clear()
            busy = sum(q.active for q in self.queues.values())
            for queue in self.queues.values():
                while (
                    queue.waiting
                    and queue.active < queue.concurrency
                    and busy < self.workers
                    and queue.name not in self.paused
                ):
                    busy += 1
                    queue.active += 1
                    job = self._run(queue, queue.waiting.popleft())
                    asyncio.get_running_loop().create_task(job)
            await self._wake.wait()

    async def _run(self, queue: Queue, asset_id: str) -> None:
        assert self._pool is not None
        try:
            await asyncio.get_running_loop().run_in_executor(self._pool, burn, queue.cost_ms)
        finally:
            queue.active -= 1
            queue.completed += 1
            following = PIPELINE.index(queue.name) + 1
            if following < len(PIPELINE):
                self.queues[PIPELINE[following]].waiting.append(asset_id)
            self._wake.set()
