"""Pausing the server's heavy jobs while a run uploads (``--pause-jobs``, opt-in, an admin's key).

A first backfill of 50,000 screenshots makes a small server extract metadata, make thumbnails and
run its machine learning for each of them while it is receiving the rest. With ``--pause-jobs`` the
run pauses those queues before its first upload and resumes them once it is done (at the end,
after a Ctrl-C, after a second one). What it paused is recorded in the history's database before
it pauses anything, so that the next run resumes them after a crash; a queue that was paused
already when the run looked is never touched, so never resumed by us.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import anyio

from ..immich import ApiError, BadAnswer, ImmichError, Kind, TransportError
from ..limits import DEFAULT, Limits
from ..store import History, Meta
from .calls import ImmichCalls

log = logging.getLogger(__name__)

# What a backfill sets off for every file: metadata, thumbnails, then machine learning (CLIP
# search, faces, duplicates; OCR in 3.x). Left running: video conversion, the library, backups,
# the storage template, notifications: none is per uploaded screenshot.
HEAVY = (
    "metadataExtraction",
    "thumbnailGeneration",
    "smartSearch",
    "faceDetection",
    "facialRecognition",
    "duplicateDetection",
    "ocr",
)


def _trouble(exc: ImmichError) -> str:
    if exc.kind in (Kind.FORBIDDEN, Kind.AUTH):
        return "the key is not an admin's (pausing jobs needs an admin's key with queue.update)"
    return str(exc)


class JobPauser:
    """The queues this run paused, and their resumption."""

    def __init__(self, client: ImmichCalls, history: History, limits: Limits = DEFAULT) -> None:
        self.client = client
        self.limits = limits
        self.history = history
        self.paused: list[str] = []  # by this run (or a crashed one), not yet resumed

    def left_over(self) -> list[str]:
        queues = self.history.meta(Meta.PAUSED_JOBS).get("queues")
        if not isinstance(queues, list):
            return []
        return [q for q in queues if isinstance(q, str) and q in HEAVY]

    def _record(self) -> None:
        record: dict[str, Any] = (
            {"queues": self.paused, "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            if self.paused
            else {}
        )
        self.history.set_meta(Meta.PAUSED_JOBS, record)

    async def resume_left_over(self) -> None:
        """A run that paused queues and died before resuming them: resume them now."""
        left = self.left_over()
        if not left:
            return
        log.warning("jobs: an earlier run paused %s and did not resume them", ", ".join(left))
        self.paused = left
        await self.resume()

    async def pause(self) -> None:
        """Pause every heavy queue that runs now; recorded (and saved) before the first pause.
        Any trouble is a warning: the run goes on unpaused."""
        try:
            states = await self.client.queue_states()
        except (ApiError, BadAnswer, TransportError) as exc:
            log.warning("jobs: not paused: %s", _trouble(exc))
            return
        running = [q for q in HEAVY if states.get(q) is False]
        already = [q for q in HEAVY if states.get(q) is True]
        if not running:
            log.info("jobs: nothing to pause (%s paused already)", ", ".join(already) or "none")
            return
        self.paused = [*dict.fromkeys([*self.paused, *running])]
        self._record()
        try:
            await anyio.to_thread.run_sync(self.history.save)  # before anything is paused
        except Exception as exc:
            self.paused = []
            self._record()
            log.warning("jobs: not paused: the history cannot record it (%s)", exc)
            return
        done: list[str] = []

        async def pause_one(name: str) -> None:
            try:
                if await self.client.pause_queue(name, True):
                    done.append(name)
            except (ApiError, BadAnswer, TransportError) as exc:
                log.warning("jobs: %s not paused: %s", name, _trouble(exc))

        async with anyio.create_task_group() as tg:
            for name in running:
                tg.start_soon(pause_one, name)
        # One that could not be paused was running and is: not ours to resume.
        self.paused = [q for q in self.paused if q in done or q not in running]
        self._record()
        kept = f"; {', '.join(already)} paused already, left so" if already else ""
        if done:
            log.info("jobs: paused %s for the uploads%s", ", ".join(sorted(done)), kept)

    async def resume(self) -> None:
        """Resume what was paused; what does not answer stays recorded for the next run."""
        if not self.paused:
            return
        resumed: list[str] = []

        async def resume_one(name: str) -> None:
            try:
                if not await self.client.pause_queue(name, False):
                    resumed.append(name)
            except (ApiError, BadAnswer, TransportError) as exc:
                log.warning("jobs: %s not resumed (the next run tries again): %s", name, exc)

        with anyio.move_on_after(self.limits.resume_patience):
            async with anyio.create_task_group() as tg:
                for name in self.paused:
                    tg.start_soon(resume_one, name)
        self.paused = [q for q in self.paused if q not in resumed]
        self._record()
        if resumed:
            log.info("jobs: resumed %s", ", ".join(sorted(resumed)))
        if self.paused:
            log.warning("jobs: %s still paused; the next run resumes them", ", ".join(self.paused))
