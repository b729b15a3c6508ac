"""Pausing the server's heavy jobs while a run uploads (``IMMICH_PAUSE_JOBS``: auto, on, off).

A backfill of 500 screenshots makes a server extract metadata and make thumbnails for each while
it is still receiving the rest, on the same cores: on a real Immich 3.1.0 that took a run 10.3 s
against 3.9 s with the queues paused. So by default (``auto``) a run that has 100 files or more to
send pauses those queues, with an admin's key (``IMMICH_ADMIN_API_KEY``, else the API key if it
is an admin's), and resumes them once it is done; ``on`` pauses for any run that sends a file;
``off`` never pauses.

What a run may have paused is recorded in the history before any pause request goes out, and a
queue leaves the record only when the server confirms it runs again: a pause whose answer was lost
or wrong (a 5xx, a timeout, garbage, a redirect, an answer saying the opposite) may have taken
effect, so it stays recorded, and this run (or the next one that reaches the server, after a
crash) resumes it. Resuming a queue that runs does no harm. A queue the server said was paused
before the run asked is the user's: never paused by us, so never resumed.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

import anyio

from ..immich import ImmichError, Kind
from ..limits import DEFAULT, Limits
from ..store import History, Meta

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
NOT_ADMIN = (
    "the key is not an admin's: IMMICH_ADMIN_API_KEY (an admin's key with queue.read and "
    "queue.update) lets a backfill pause the server's jobs"
)


class QueueCalls(Protocol):
    """The calls this phase makes (``immich.ImmichClient`` is one)."""

    @property
    def queues_with_admin_key(self) -> bool: ...

    async def queue_states(self) -> dict[str, bool]: ...

    async def pause_queue(self, name: str, paused: bool) -> bool: ...


def _trouble(exc: ImmichError, admin_key: bool) -> str:
    if exc.kind in (Kind.FORBIDDEN, Kind.AUTH):
        return "the admin key was refused (IMMICH_ADMIN_API_KEY)" if admin_key else NOT_ADMIN
    return str(exc)


class JobPauser:
    """The queues this run (or a crashed one) may have paused, and their resumption."""

    def __init__(
        self,
        client: QueueCalls,
        history: History,
        limits: Limits = DEFAULT,
        said: set[str] | None = None,
    ) -> None:
        self.client = client
        self.history = history
        self.limits = limits
        self.said = said if said is not None else set()  # what a watch's passes said already
        self.recorded: list[str] = self.left_over()  # may be paused by us: to resume
        self.paused: list[str] = []  # paused by this run (for its report)

    def left_over(self) -> list[str]:
        queues = self.history.meta(Meta.PAUSED_JOBS).get("queues")
        if not isinstance(queues, list):
            return []
        return [q for q in queues if isinstance(q, str) and q in HEAVY]

    def _record(self) -> None:
        record: dict[str, Any] = (
            {"queues": self.recorded, "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            if self.recorded
            else {}
        )
        self.history.set_meta(Meta.PAUSED_JOBS, record)

    def _once(self, text: str) -> None:
        """A normal setup's reason not to pause, said once (a watch's passes share it)."""
        if text not in self.said:
            self.said.add(text)
            log.info("jobs: not paused: %s", text)

    async def resume_left_over(self) -> None:
        """A run that paused queues and died before resuming them: resume them now."""
        if self.recorded:
            log.warning(
                "jobs: an earlier run paused %s and did not resume them; resuming",
                ", ".join(self.recorded),
            )
            await self.resume()

    async def pause(self, why: str) -> None:
        """Pause every heavy queue that runs now; recorded (and saved) before the first pause.
        Trouble is a warning (or, for a key that is not an admin's, a note): the run goes on."""
        admin_key = self.client.queues_with_admin_key
        try:
            with anyio.fail_after(self.limits.resume_patience):
                states = await self.client.queue_states()
        except TimeoutError:
            log.warning("jobs: not paused: the server did not list its queues in time")
            return
        except ImmichError as exc:
            trouble = _trouble(exc, admin_key)
            if trouble == NOT_ADMIN:
                self._once(trouble)
            else:
                log.warning("jobs: not paused: %s", trouble)
            return
        running = [q for q in HEAVY if states.get(q) is False]
        theirs = [q for q in HEAVY if states.get(q) is True and q not in self.recorded]
        if not running:
            log.info("jobs: nothing to pause (%s paused already)", ", ".join(theirs) or "none")
            return
        self.recorded = [*dict.fromkeys([*self.recorded, *running])]
        self._record()
        try:
            await anyio.to_thread.run_sync(self.history.save)  # before anything is paused
        except Exception as exc:
            self.recorded = [q for q in self.recorded if q not in running]
            self._record()
            log.warning("jobs: not paused: the history cannot record it (%s)", exc)
            return
        confirmed: list[str] = []

        async def pause_one(name: str) -> None:
            try:
                if await self.client.pause_queue(name, True):
                    confirmed.append(name)
                else:
                    log.warning(
                        "jobs: %s: the server says it still runs; resumed at the end all the same",
                        name,
                    )
            except ImmichError as exc:
                # It may have taken effect all the same (an answer lost on the way back): it
                # stays recorded, and is resumed at the end.
                log.warning("jobs: %s: pause not confirmed (%s)", name, _trouble(exc, admin_key))

        with anyio.move_on_after(self.limits.resume_patience):
            async with anyio.create_task_group() as tg:
                for name in running:
                    tg.start_soon(pause_one, name)
        self.paused = [*dict.fromkeys([*self.paused, *running])]
        kept = f"; {', '.join(theirs)} paused already, left so" if theirs else ""
        log.info(
            "jobs: paused %s while %s%s",
            ", ".join(sorted(confirmed)) or "none confirmed",
            why,
            kept,
        )

    async def resume(self) -> None:
        """Resume what may have been paused; a queue leaves the record only once the server
        says it runs. What does not answer (in ``resume_patience``) stays for the next run."""
        if not self.recorded:
            return
        running: list[str] = []

        async def resume_one(name: str) -> None:
            try:
                if not await self.client.pause_queue(name, False):
                    running.append(name)
                else:
                    log.warning("jobs: %s: the server says it is still paused", name)
            except ImmichError as exc:
                trouble = _trouble(exc, self.client.queues_with_admin_key)
                log.warning("jobs: %s not resumed: %s", name, trouble)

        with anyio.move_on_after(self.limits.resume_patience):
            async with anyio.create_task_group() as tg:
                for name in self.recorded:
                    tg.start_soon(resume_one, name)
        self.recorded = [q for q in self.recorded if q not in running]
        self._record()
        if running:
            log.info("jobs: resumed %s", ", ".join(sorted(running)))
        if self.recorded:
            log.warning(
                "jobs: %s may still be paused; the next run that reaches the server resumes them",
                ", ".join(self.recorded),
            )
