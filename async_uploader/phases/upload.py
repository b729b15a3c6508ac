"""The upload phase: the files the pre-check (``precheck``) sends on are uploaded through a
bounded number of streams; every file ends in exactly one result, recorded in the history and the
report; checkpoints save the history meanwhile, and a stop or an abort ends the phase.
"""

from __future__ import annotations

import logging
import os
import time
from datetime import datetime

import anyio

from ..capture import capture_time, find_sidecar, has_own_date, make_xmp
from ..config import MAX_CONCURRENCY, Config
from ..control import RunControl, Signals
from ..errors import HistoryError
from ..files import FileList, LocalFile, iso_utc, opener
from ..immich import (
    SMALL_FILE,
    ApiError,
    BadAnswer,
    FileChanged,
    Kind,
    TransportError,
    UploadAnswer,
    UploadRequest,
    read_whole,
)
from ..outcomes import FileResult, Outcome, RunReport
from ..progress import Rate, Snapshot
from ..retry import RetryPolicy, with_retries
from ..store import History, Meta
from ..text import counted, human_bytes, unreadable, valid_utf8
from .calls import ImmichCalls
from .connect import Failover
from .held import BodyLimit
from .precheck import Precheck
from .results import Placement, record_result
from .tuning import StreamTuner, first_level, remember, remembered
from .waiting import first_of

log = logging.getLogger(__name__)

MAX_SIDECAR_BYTES = 1_000_000  # multer's field limit is about this


class Uploader:
    """The upload phase: a bounded number of streams at once, one result per file."""

    def __init__(
        self,
        client: ImmichCalls,
        config: Config,
        history: History,
        report: RunReport,
        control: RunControl,
        signals: Signals,
        retry: RetryPolicy,
        failover: Failover,
        round_trip: float | None = None,
    ) -> None:
        self.signals = signals
        self.limits = control.limits
        self.round_trip = round_trip
        self.retry = retry
        self.failover = failover
        self.client = client
        self.config = config
        self.placement = Placement(config.folder_albums, config.tags)
        self.history = history
        self.report = report
        self.control = control
        self.bytes_sent = 0
        self.bytes_done = 0
        self.total_bytes = 0
        self.total_files = 0
        self.recorded = 0  # files with their final result: the rest were never started
        self.checkpoints = 0  # history saves during the uploads, each in a worker thread
        self.longest_checkpoint = 0.0  # seconds, the longest of them
        self.longest_stall = 0.0  # seconds the event loop was kept from running, at most
        self.history_error: HistoryError | None = None
        self.disk = anyio.CapacityLimiter(self.limits.disk_threads)
        self.limit = BodyLimit(config, history)
        self.tuner: StreamTuner | None = None  # IMMICH_CONCURRENCY=auto, once uploads begin
        # Set once the pre-check has passed limits.pause_from files on: a backfill; and once
        # it is over, however many it passed on.
        self.backfill = anyio.Event()
        self.checked = anyio.Event()
        # When given, the uploads wait for it (the server's jobs paused first, for a backfill),
        # and the pre-check's first batch is this big (None: limits.first_check_batch).
        self.gate: anyio.Event | None = None
        self.first_batch: int | None = None

    def _skip(self, f: LocalFile) -> None:
        self.total_bytes -= f.size  # settled without an upload: not in the bytes left to send

    def _on_bytes(self, n: int) -> None:
        self.bytes_sent += n
        self.report.bytes_uploaded += n
        if self.tuner is not None:
            self.tuner.sent(n)

    async def _attempt(self, req: UploadRequest) -> UploadAnswer:
        """One upload attempt, its time and trouble told to the tuner (auto concurrency)."""
        began = time.monotonic()
        try:
            answer = await self.client.upload(req, self._on_bytes)
        except Exception as exc:
            if self.tuner is not None:
                self.tuner.failed(exc)
            raise
        if self.tuner is not None:
            if answer.outcome is Outcome.REJECTED and answer.refusal is Kind.TOO_LARGE:
                pass  # a proxy's body limit: not the server being busy, not a measure either
            else:
                self.tuner.answered(time.monotonic() - began)
        return answer

    def _prepare(
        self, f: LocalFile, when: datetime
    ) -> tuple[tuple[str, bytes] | None, bytes | None]:
        """In a worker thread, what an upload needs from the disk: its sidecar (the user's own;
        else, unless the file carries its own date, one we make with the capture time and local
        offset), and a small file's bytes, read once here (a larger file is streamed)."""
        follow = self.config.follow_symlinks
        data = read_whole(f.fspath, f.size, follow) if f.size <= SMALL_FILE else None
        if not self.config.sidecar:
            return None, data
        own = find_sidecar(f.fspath)
        if own is not None:
            shown = valid_utf8(os.path.basename(own))
            if os.path.islink(own) and not follow:
                log.warning(
                    "sidecar %s is a symlink; not sent (--follow-symlinks sends what it points to)",
                    shown,
                )
                return None, data
            try:
                with open(own, "rb", opener=opener(follow)) as fh:
                    xmp = fh.read(MAX_SIDECAR_BYTES + 1)
                if len(xmp) <= MAX_SIDECAR_BYTES:
                    return (shown, xmp), data
                log.warning("sidecar %s is over 1 MB; not sent", shown)
            except OSError as exc:
                log.warning("cannot read sidecar %s: %s; not sent", shown, exc.strerror)
            return None, data
        if has_own_date(f.fspath, data):
            return None, data
        return (f"{f.upload_name}.xmp", make_xmp(when)), data

    async def upload_one(self, f: LocalFile, checksum: str | None = None) -> FileResult:
        if held := self.limit.holds(self.client.base_url, f.size):
            return FileResult(f, Outcome.HELD, message=held)
        when, _source = capture_time(f)
        try:
            sidecar, data = await anyio.to_thread.run_sync(
                self._prepare, f, when, limiter=self.disk
            )
        except FileNotFoundError:
            return FileResult(f, Outcome.VANISHED, message="deleted before it could be sent")
        except FileChanged:
            return FileResult(f, Outcome.CHANGED, message="modified since the scan")
        except OSError as exc:
            return FileResult(f, Outcome.FAILED, message=unreadable(exc))
        req = UploadRequest(
            path=f.fspath,
            filename=f.upload_name,
            size=f.size,
            device_asset_id=f.device_asset_id,
            device_id=self.config.device_id,
            file_created_at=iso_utc(when),
            file_modified_at=iso_utc(f.modified),
            mtime_ns=f.mtime_ns,
            checksum=checksum,
            sidecar=sidecar,
            data=data,
            follow_symlinks=self.config.follow_symlinks,
            visibility=self.config.visibility,
        )
        try:
            answer = await with_retries(
                self.retry,
                f"upload {f.rel}",
                lambda: self._attempt(req),
                self.failover.recover,
            )
        except FileNotFoundError:
            return FileResult(f, Outcome.VANISHED, message="deleted before it could be sent")
        except FileChanged as exc:
            kept = f"; the server kept what it got as asset {exc.asset_id}" if exc.asset_id else ""
            return FileResult(f, Outcome.CHANGED, message=f"modified while being sent{kept}")
        except OSError as exc:
            return FileResult(f, Outcome.FAILED, message=unreadable(exc))
        except (TransportError, ApiError, BadAnswer) as exc:
            # Not recorded: only what the server confirmed goes into the history.
            return FileResult(f, Outcome.FAILED, message=str(exc))
        if answer.outcome is Outcome.REJECTED:
            if answer.refusal is Kind.TOO_LARGE and self.limit.refused_413(answer.url, f.size):
                return FileResult(f, Outcome.HELD, message="the external URL refused it (HTTP 413)")
            self.report.files_sent += 1
            return FileResult(f, Outcome.REJECTED, message=answer.message, sha1=answer.checksum)
        self.report.files_sent += 1
        self.limit.sent(answer.url, f.size)
        return FileResult(f, answer.outcome, asset_id=answer.asset_id, sha1=answer.checksum)

    def record(self, result: FileResult) -> None:
        self.recorded += 1
        record_result(result, self.history, self.report, self.placement)

    async def run(self, todo: FileList) -> None:
        # Immich 3 answers a 0-byte file 400 "File is empty": never sent, and recorded so that
        # later runs leave it alone while it stays empty (and send it once it has content).
        for f in todo.empties():
            self.record(FileResult(f, Outcome.EMPTY))
        sendable = todo.nonempty()
        self.total_files = len(sendable)
        self.total_bytes = sendable.bytes
        fixed = self.config.concurrency
        limiter = anyio.CapacityLimiter(fixed or MAX_CONCURRENCY)
        if fixed is None and sendable:
            levels = self.history.meta(Meta.STREAMS)
            last = remembered(levels, self.client.base_url, time.time())
            first, why = first_level(self.round_trip, last, MAX_CONCURRENCY)
            log.info("concurrency: auto, from %d streams (%s)", first, why)
            self.tuner = StreamTuner(limiter, MAX_CONCURRENCY, start=first)
        stop, abort = self.signals.stop, self.signals.abort
        start = time.monotonic()
        if self.config.max_rate and sendable:
            log.info("uploads: capped at %s per second in all", human_bytes(self.config.max_rate))

        async with anyio.create_task_group() as outer:
            uploads = anyio.CancelScope()

            async def stopper() -> None:
                await stop.wait()
                log.warning(
                    "stopping: no new uploads; %.0f s for those in flight",
                    self.control.grace_seconds,
                )
                with anyio.move_on_after(self.control.grace_seconds):
                    await abort.wait()  # a second Ctrl-C: cut them now
                uploads.cancel()

            async def checkpoint() -> None:
                """Every checkpoint_seconds, and sooner once ``limits.checkpoint_records`` wait:
                files the server already has are recorded thousands a second, and what waits is
                memory."""
                every = self.control.checkpoint_seconds
                last = time.monotonic()
                while True:
                    await anyio.sleep(min(every, 0.25))
                    due = time.monotonic() - last >= every
                    if self.history.dirty and (
                        due or self.history.unsaved >= self.limits.checkpoint_records
                    ):
                        began = last = time.monotonic()
                        try:
                            # In a worker thread: the uploads go on while it commits.
                            await anyio.to_thread.run_sync(self.history.save)
                            self.checkpoints += 1
                            took = time.monotonic() - began
                            self.longest_checkpoint = max(self.longest_checkpoint, took)
                        except HistoryError as exc:
                            # Nothing more is sent that could not be recorded; the final save
                            # tries once more and the run ends with this error.
                            log.error("%s; stopping new uploads", exc)
                            self.history_error = exc
                            stop.set()
                            return

            async def stall_watch() -> None:
                """How late the event loop wakes up: what anything (a checkpoint, hashing, the
                GIL) kept it from running, for the log."""
                while True:
                    began = time.monotonic()
                    await anyio.sleep(0.05)
                    late = time.monotonic() - began - 0.05
                    self.longest_stall = max(self.longest_stall, late)

            async def ticker() -> None:
                rate = Rate()
                while True:
                    await anyio.sleep(self.control.progress_seconds)
                    elapsed = time.monotonic() - start
                    snapshot = Snapshot(
                        files_done=self.report.finished,
                        files_total=self.total_files,
                        bytes_done=self.bytes_done,
                        bytes_total=self.total_bytes,
                        bytes_sent=self.bytes_sent,
                        elapsed=elapsed,
                        rate=rate.add(
                            elapsed, self.bytes_sent, self.bytes_done, self.report.finished
                        ),
                    )
                    if self.control.on_progress is not None:
                        self.control.on_progress(snapshot)
                    else:
                        log.info("%s", snapshot.line())

            outer.start_soon(stopper)
            outer.start_soon(checkpoint)
            if self.tuner is not None:
                outer.start_soon(self.tuner.run)
            outer.start_soon(stall_watch)
            if self.control.progress_seconds > 0:
                outer.start_soon(ticker)

            async def one(f: LocalFile, sha: str | None, token: object) -> None:
                try:
                    result = await self.upload_one(f, sha)
                finally:
                    limiter.release_on_behalf_of(token)
                self.bytes_done += f.size
                self.record(result)

            # Bounded: hashing runs at most a batch or so ahead of the uploads, so a 100,000-file
            # backfill does not hold 100,000 hashed entries waiting for their turn.
            send, receive = anyio.create_memory_object_stream[tuple[LocalFile, str | None]](
                max_buffer_size=self.limits.check_batch
            )
            with uploads:
                async with anyio.create_task_group() as tg:
                    precheck = Precheck(
                        self.client,
                        self.config,
                        self.history,
                        self.retry,
                        self.failover,
                        self.record,
                        self._skip,
                        self.limits,
                        self.backfill,
                        self.first_batch,
                    )

                    async def check() -> None:
                        try:
                            await precheck.run(sendable, send, stop)
                        finally:
                            self.checked.set()

                    tg.start_soon(check)
                    if self.gate is not None:
                        await first_of(self.gate, stop)
                    async with receive:
                        async for f, sha in receive:
                            token = object()
                            await limiter.acquire_on_behalf_of(token)
                            if stop.is_set():
                                limiter.release_on_behalf_of(token)
                                break
                            tg.start_soon(one, f, sha, token)
            outer.cancel_scope.cancel()

    def close(self, todo: FileList) -> None:
        """After the upload phase, however it ended: files never started, and uploads cut off
        by a stop, are sent by the next run (counted: every other file has its result)."""
        if self.signals.stop.is_set() and self.history_error is None:
            self.report.interrupted = True
        self.report.not_started += len(todo) - self.recorded
        if self.report.held:
            log.warning(
                "held: %s (%s) too big for the external URL %s; the next run on the local URL "
                "%s sends them",
                counted(self.report.held, "file"),
                human_bytes(self.report.held_bytes),
                self.client.base_url,
                self.config.local_url,
            )
        if self.tuner is not None:
            log.info("concurrency: %s", self.tuner.summary())
            if self.tuner.measured:  # the level this server took: where the next run starts
                url, levels = self.client.base_url, self.history.meta(Meta.STREAMS)
                self.history.set_meta(
                    Meta.STREAMS, remember(levels, url, self.tuner.streams, time.time())
                )
        if self.checkpoints:
            log.info(
                "checkpoints: %d history saves in a worker thread, the longest %.0f ms; the event "
                "loop was held up %.0f ms at most",
                self.checkpoints,
                self.longest_checkpoint * 1000,
                self.longest_stall * 1000,
            )
