"""One sync run, as a table of contents: connect, album, scan, upload, link, save.

The pipeline decides; the Immich client moves bytes. It never sees a URL path, header or status
code: it gets values (``UploadAnswer``, ``LinkResult``) and the project's own exceptions.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectSendStream

from .capture import capture_time, find_sidecar, has_own_date, make_xmp
from .config import Config
from .connect import Failover, choose_server
from .errors import (
    ApiError,
    BadAnswer,
    HistoryError,
    TransportError,
    UploaderError,
    first_uploader_error,
)
from .files import LocalFile, ScanResult, iso_utc, opener, sha1_file, valid_utf8
from .history import History, Record, RunLock
from .immich import (
    SMALL_FILE,
    Album,
    FileChanged,
    ImmichClient,
    MediaTypes,
    UploadRequest,
    UploadStatus,
    open_session,
    read_whole,
)
from .local import FACTS_KEY, read_local, server_facts, warn_symlinks
from .progress import Snapshot
from .report import FileResult, Outcome, RunReport, human_bytes
from .retry import RetryPolicy, with_retries

log = logging.getLogger(__name__)

LINK_BATCH = 10_000  # ids per album request; split only past this
CHECK_BATCH = 5_000  # checksums per bulk-upload-check, as the official CLI
FIRST_CHECK_BATCH = 64  # small first batches, so uploads start while the rest is hashed
HASH_THREADS = 2
HASH_GROUP = 32  # files hashed per worker-thread call
MAX_SIDECAR_BYTES = 1_000_000  # multer's field limit is about this


@dataclass
class RunControl:
    """The edges a caller (the CLI, a test) injects into a run."""

    retry: RetryPolicy | None = (
        None  # None: from the config (IMMICH_RETRIES, IMMICH_RETRY_MAX_WAIT)
    )
    stop: anyio.Event | None = None  # set it to stop starting uploads (Ctrl-C, SIGTERM)
    abort: anyio.Event | None = None  # set it to cut in-flight uploads now (a second Ctrl-C)
    grace_seconds: float = 5.0  # in-flight uploads get this long after a stop
    checkpoint_seconds: float = 5.0  # the history is saved at least this often during uploads
    progress_seconds: float = 5.0  # progress this often (0: none)
    on_progress: Callable[[Snapshot], None] | None = None  # None: a log line
    uploading: bool = False  # set from the upload phase on (a stop then means "finish up")
    report: RunReport | None = None  # the run's report, from its start: whatever ends the run
    # Counts that do not add up raise instead of logging an error line: the test suite runs
    # with ASYNC_UPLOADER_STRICT=1 (tests/conftest.py).
    strict: bool = field(default_factory=lambda: os.environ.get("ASYNC_UPLOADER_STRICT") == "1")
    # The local side, already read by the CLI (local.read_local); used by the next sync only.
    prefetched: Future[tuple[History, ScanResult]] | None = None


def _unreadable(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "it became a symlink since the scan; not followed (see --follow-symlinks)"
    return f"cannot read: {exc.strerror or exc}"


def _names(rels: list[str], most: int = 5) -> str:
    """A few names for a log line; many identical files share one asset."""
    shown = ", ".join(rels[:most])
    return shown + (f" and {len(rels) - most} more" if len(rels) > most else "")


def _ms(start: float) -> str:
    return f"{(time.monotonic() - start) * 1000:.0f} ms"


async def resolve_album(client: ImmichClient, name: str, create: bool) -> Album | None:
    """The album with exactly this name (the oldest if several); created when missing."""
    albums = [a for a in await client.list_albums() if a.name == name]
    if albums:
        albums.sort(key=lambda a: a.created_at)
        if len(albums) > 1:
            log.warning(
                "%d albums are named %r; using the oldest (%s, created %s)",
                len(albums),
                name,
                albums[0].id,
                albums[0].created_at,
            )
        return albums[0]
    if not create:
        return None
    album = await client.create_album(name)
    log.info("created album %r (%s)", name, album.id)
    return album


async def connect_phase(
    session: Any, config: Config, retry: RetryPolicy, report: RunReport
) -> tuple[ImmichClient, Failover, MediaTypes, Album | None]:
    """The health race, the key, the server's file types, the album."""
    start = time.monotonic()
    base_url = await choose_server(session, config.urls)
    role = "local" if base_url == config.local_url else "external"
    log.info("server: %s (%s) answered in %s", base_url, role, _ms(start))
    report.server_url = base_url
    client = ImmichClient(
        session, base_url, config.api_key, config.stall_timeout, config.request_timeout
    )
    failover = Failover(session, config.urls, client)
    # The key, the file types, the version (what uploads send) and the album at once: one round
    # trip of latency, not four.
    start = time.monotonic()
    media: list[MediaTypes] = []
    albums: list[Album | None] = []

    async def key() -> None:
        await with_retries(retry, "check key", client.check_key, failover.recover)

    async def types() -> None:
        media.append(await with_retries(retry, "media types", client.media_types, failover.recover))  # fmt: skip

    async def version() -> None:
        major, minor, patch = await with_retries(retry, "version", client.version, failover.recover)  # fmt: skip
        log.info("server: Immich %d.%d.%d", major, minor, patch)

    async def find_album() -> None:
        find = functools.partial(resolve_album, client, config.album, create=not config.dry_run)
        albums.append(await with_retries(retry, "album", find, failover.recover))

    try:
        async with anyio.create_task_group() as tg:
            for step in (key, types, version, find_album):
                tg.start_soon(step)
    except BaseExceptionGroup as group:
        # A rejected key says so, whichever of the three requests noticed first; any other
        # error says what it is (a redirect, a page that is not Immich's, a timeout).
        error = first_uploader_error(group)
        if error is None:
            raise
        raise error from None
    album = albums[0]
    if album is None:
        log.info("album: %r does not exist yet (a real run creates it)", config.album)
    else:
        report.album_id = album.id
        log.info("album: %r is %s (%s)", config.album, album.id, _ms(start))
    return client, failover, media[0], album


class Uploader:
    """The upload phase: a bounded number of streams at once, one result per file."""

    def __init__(
        self,
        client: ImmichClient,
        config: Config,
        history: History,
        report: RunReport,
        control: RunControl,
        retry: RetryPolicy,
        failover: Failover,
    ) -> None:
        self.retry = retry
        self.failover = failover
        self.client = client
        self.config = config
        self.history = history
        self.report = report
        self.control = control
        self.bytes_sent = 0
        self.bytes_done = 0
        self.total_bytes = 0
        self.total_files = 0
        self.finished: set[str] = set()
        self.history_error: HistoryError | None = None
        self.precheck = True  # off once the server shows it has no bulk upload check

    def _on_bytes(self, n: int) -> None:
        self.bytes_sent += n
        self.report.bytes_uploaded += n

    def known_sha1(self, f: LocalFile) -> str | None:
        """The hash of these exact bytes, if the history has it (a rejected or stale record)."""
        rec = self.history.get(f.rel)
        return rec.sha1 if rec and rec.matches(f.size, f.mtime_ns) else None

    async def _hash_group(
        self, group: list[LocalFile], limiter: anyio.CapacityLimiter, out: dict[str, str]
    ) -> None:
        """SHA-1 of a group of files in one worker-thread call (a call per file costs more in
        thread hand-offs than hashing a 30 kB screenshot)."""
        follow = self.config.follow_symlinks

        def hash_all() -> list[str | OSError]:
            results: list[str | OSError] = []
            for f in group:
                try:
                    results.append(sha1_file(f.path, follow_symlinks=follow))
                except OSError as exc:
                    results.append(exc)
            return results

        for f, result in zip(group, await anyio.to_thread.run_sync(hash_all, limiter=limiter), strict=True):  # fmt: skip
            if isinstance(result, str):
                out[f.rel] = result
                continue
            self.total_bytes -= f.size
            if isinstance(result, FileNotFoundError):
                self.record(FileResult(f, Outcome.VANISHED, message="deleted before it could be sent"))  # fmt: skip
            else:
                self.record(FileResult(f, Outcome.FAILED, message=_unreadable(result)))

    async def _ask_server(self, hashed: list[tuple[LocalFile, str]]) -> dict[str, tuple[str, bool]]:
        """rel -> (asset id, trashed) of the files the server already has."""
        if not self.precheck or not hashed:
            return {}
        # Each file is asked about by its place in the batch, not its path: no local path goes
        # to the server, and a name that is not UTF-8 needs no encoding.
        items = [(str(i), sha) for i, (_, sha) in enumerate(hashed)]
        try:
            known = await with_retries(
                self.retry,
                "bulk upload check",
                lambda: self.client.bulk_check(items),
                self.failover.recover,
            )
            return {hashed[int(i)][0].rel: answer for i, answer in known.items()}
        except ApiError as exc:
            if exc.status in (404, 405):
                log.info("the server has no bulk upload check; relying on the checksum header")
            else:
                log.warning("bulk upload check failed (%s); uploading and letting the server "
                            "spot duplicates", exc)  # fmt: skip
            self.precheck = False
        except (TransportError, BadAnswer) as exc:
            log.warning("bulk upload check failed (%s); uploading instead", exc)
            if isinstance(exc, BadAnswer):
                self.precheck = False  # it will say the same garbage again
        return {}

    async def precheck_and_queue(
        self,
        todo: list[LocalFile],
        out: MemoryObjectSendStream[tuple[LocalFile, str | None]],
        stop: anyio.Event,
    ) -> None:
        """Hash what has no known hash (in threads), ask the server about it in batches; what it
        already has is recorded (and linked later) without its bytes, the rest goes to upload."""
        limiter = anyio.CapacityLimiter(HASH_THREADS)
        batch = FIRST_CHECK_BATCH
        start = 0
        async with out:
            while start < len(todo) and not stop.is_set():
                chunk = todo[start : start + batch]
                start += len(chunk)
                batch = min(batch * 4, CHECK_BATCH)
                hashes: dict[str, str] = {}
                unknown = []
                for f in chunk:
                    if (sha := self.known_sha1(f)) is not None:
                        hashes[f.rel] = sha
                    else:
                        unknown.append(f)
                # Groups small enough that both threads get work even in the first batch.
                size = max(1, min(HASH_GROUP, -(-len(unknown) // HASH_THREADS)))
                async with anyio.create_task_group() as tg:
                    for i in range(0, len(unknown), size):
                        tg.start_soon(self._hash_group, unknown[i : i + size], limiter, hashes)
                hashed = [(f, hashes[f.rel]) for f in chunk if f.rel in hashes]
                on_server = await self._ask_server(hashed)
                for f, sha in hashed:
                    if f.rel in on_server:
                        asset_id, trashed = on_server[f.rel]
                        self.total_bytes -= f.size
                        note = (
                            " (in the Immich trash: restore it there to see it)" if trashed else ""
                        )
                        self.record(FileResult(f, Outcome.DUPLICATE, asset_id, note, sha))
                        continue
                    try:
                        await out.send((f, sha))
                    except anyio.BrokenResourceError:
                        return  # the uploads stopped taking files

    def _prepare(self, f: LocalFile, when: datetime) -> tuple[tuple[str, bytes] | None, bytes | None]:  # fmt: skip
        """In a worker thread, what an upload needs from the disk: its sidecar (the user's own;
        else, unless the file carries its own date, one we make with the capture time and local
        offset), and a small file's bytes, read once here (a larger file is streamed)."""
        follow = self.config.follow_symlinks
        data = read_whole(f.path, f.size, follow) if f.size <= SMALL_FILE else None
        if not self.config.sidecar:
            return None, data
        own = find_sidecar(f.path)
        if own is not None:
            shown = valid_utf8(own.name)
            if own.is_symlink() and not follow:
                log.warning("sidecar %s is a symlink; not sent (--follow-symlinks sends what it points to)", shown)  # fmt: skip
                return None, data
            try:
                with open(own, "rb", opener=opener(follow)) as fh:
                    xmp = fh.read(MAX_SIDECAR_BYTES + 1)
                if len(xmp) <= MAX_SIDECAR_BYTES:
                    return (valid_utf8(own.name), xmp), data
                log.warning("sidecar %s is over 1 MB; not sent", shown)
            except OSError as exc:
                log.warning("cannot read sidecar %s: %s; not sent", shown, exc.strerror)
            return None, data
        if has_own_date(f.path, data):
            return None, data
        return (f"{f.upload_name}.xmp", make_xmp(when)), data

    async def upload_one(self, f: LocalFile, checksum: str | None = None) -> FileResult:
        when, _source = capture_time(f)
        try:
            sidecar, data = await anyio.to_thread.run_sync(self._prepare, f, when)
        except FileNotFoundError:
            return FileResult(f, Outcome.VANISHED, message="deleted before it could be sent")
        except FileChanged:
            return FileResult(f, Outcome.CHANGED, message="modified since the scan")
        except OSError as exc:
            return FileResult(f, Outcome.FAILED, message=_unreadable(exc))
        req = UploadRequest(
            path=f.path,
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
        )
        try:
            answer = await with_retries(
                self.retry,
                f"upload {f.rel}",
                lambda: self.client.upload(req, self._on_bytes),
                self.failover.recover,
            )
        except FileNotFoundError:
            return FileResult(f, Outcome.VANISHED, message="deleted before it could be sent")
        except FileChanged as exc:
            kept = f"; the server kept what it got as asset {exc.asset_id}" if exc.asset_id else ""
            return FileResult(f, Outcome.CHANGED, message=f"modified while being sent{kept}")
        except OSError as exc:
            return FileResult(f, Outcome.FAILED, message=_unreadable(exc))
        except (TransportError, ApiError, BadAnswer) as exc:
            # Not recorded: only what the server confirmed goes into the history.
            return FileResult(f, Outcome.FAILED, message=str(exc))
        self.report.files_sent += 1
        if answer.status is UploadStatus.REJECTED:
            return FileResult(f, Outcome.REJECTED, message=answer.message, sha1=answer.checksum)
        outcome = Outcome.CREATED if answer.status is UploadStatus.CREATED else Outcome.DUPLICATE
        return FileResult(f, outcome, asset_id=answer.asset_id, sha1=answer.checksum)

    def record(self, result: FileResult) -> None:
        f = result.file
        self.finished.add(f.rel)
        self.report.add(result)
        size = human_bytes(f.size)
        if result.outcome in (Outcome.CREATED, Outcome.DUPLICATE, Outcome.REJECTED, Outcome.EMPTY):
            self.history.record(
                f.rel,
                Record(
                    size=f.size,
                    mtime_ns=f.mtime_ns,
                    outcome=result.outcome.value,
                    asset_id=result.asset_id,
                    sha1=result.sha1,
                    message=result.message or None,
                ),
            )
        if result.outcome is Outcome.CREATED:
            log.info("created    %s (%s) -> %s", f.rel, size, result.asset_id)
        elif result.outcome is Outcome.DUPLICATE:
            log.info(
                "duplicate  %s (%s): already on the server as %s%s",
                f.rel,
                size,
                result.asset_id,
                result.message,
            )
        elif result.outcome is Outcome.REJECTED:
            log.warning("rejected   %s (%s): %s", f.rel, size, result.message)
        elif result.outcome is Outcome.FAILED:
            log.error("failed     %s (%s): %s", f.rel, size, result.message)
        elif result.outcome is Outcome.VANISHED:
            log.warning("vanished   %s: deleted before it could be sent; skipped", f.rel)
        elif result.outcome is Outcome.CHANGED:
            log.warning("changed    %s: %s; the next run sends it again", f.rel, result.message)
        elif result.outcome is Outcome.EMPTY:
            log.warning("empty      %s: 0 bytes, which Immich refuses; skipped until it has content", f.rel)  # fmt: skip

    async def run(self, todo: list[LocalFile]) -> None:
        # Immich 3 answers a 0-byte file 400 "File is empty": never sent, and recorded so that
        # later runs leave it alone while it stays empty (and send it once it has content).
        for f in todo:
            if f.size == 0:
                self.record(FileResult(f, Outcome.EMPTY))
        sendable = [f for f in todo if f.size]
        self.total_files = len(sendable)
        self.total_bytes = sum(f.size for f in sendable)
        limiter = anyio.CapacityLimiter(self.config.concurrency)
        stop = self.control.stop or anyio.Event()
        abort = self.control.abort or anyio.Event()
        start = time.monotonic()

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
                while True:
                    await anyio.sleep(self.control.checkpoint_seconds)
                    if self.history.dirty:
                        try:
                            self.history.save()
                        except HistoryError as exc:
                            # Nothing more is sent that could not be recorded; the final save
                            # tries once more and the run ends with this error.
                            log.error("%s; stopping new uploads", exc)
                            self.history_error = exc
                            stop.set()
                            return

            async def ticker() -> None:
                while True:
                    await anyio.sleep(self.control.progress_seconds)
                    snapshot = Snapshot(
                        files_done=self.report.finished,
                        files_total=self.total_files,
                        bytes_done=self.bytes_done,
                        bytes_total=self.total_bytes,
                        bytes_sent=self.bytes_sent,
                        elapsed=time.monotonic() - start,
                    )
                    if self.control.on_progress is not None:
                        self.control.on_progress(snapshot)
                    else:
                        log.info("%s", snapshot.line())

            outer.start_soon(stopper)
            outer.start_soon(checkpoint)
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
                max_buffer_size=CHECK_BATCH
            )
            with uploads:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self.precheck_and_queue, sendable, send, stop)
                    async with receive:
                        async for f, sha in receive:
                            token = object()
                            await limiter.acquire_on_behalf_of(token)
                            if stop.is_set():
                                limiter.release_on_behalf_of(token)
                                break
                            tg.start_soon(one, f, sha, token)
            outer.cancel_scope.cancel()

    def close(self, todo: list[LocalFile]) -> None:
        """After the upload phase, however it ended: files never started, and uploads cut off
        by a stop, are sent by the next run."""
        stop = self.control.stop
        if stop is not None and stop.is_set() and self.history_error is None:
            self.report.interrupted = True
        for f in todo:
            if f.rel not in self.finished:
                self.report.add(FileResult(f, Outcome.NOT_STARTED))


async def link_pending(
    client: ImmichClient,
    history: History,
    album_id: str,
    report: RunReport,
    retry: RetryPolicy,
    recover: Callable[[], Awaitable[bool]] | None = None,
) -> None:
    """Every recorded asset not yet in the album, in batches of LINK_BATCH ids."""
    pending = history.pending_links(album_id)
    if not pending:
        return
    start = time.monotonic()
    by_id: dict[str, list[str]] = {}
    for rel, asset_id in pending.items():
        by_id.setdefault(asset_id, []).append(rel)
    ids = list(by_id)
    for i in range(0, len(ids), LINK_BATCH):
        batch = ids[i : i + LINK_BATCH]
        try:
            results = await with_retries(
                retry,
                "add to album",
                functools.partial(client.add_to_album, album_id, batch),
                recover,
            )
        except (TransportError, ApiError, BadAnswer) as exc:
            report.link_failed += len(batch)
            log.error("album: could not add %d assets: %s (the next run retries)", len(batch), exc)
            continue
        for res in results:
            rels = by_id.get(res.asset_id, [])
            if res.linked:
                history.mark_linked(rels, album_id)
                report.album_linked += len(rels)
            elif res.error in ("no_permission", "not_found"):
                # The asset is gone from the server (deleted, or another user's): forget it, so the
                # next run sends the file again instead of skipping it forever.
                for rel in rels:
                    history.forget(rel)
                report.link_failed += len(rels)
                log.error(
                    "album: asset %s of %s is not on the server any more (%s); "
                    "the next run uploads it again",
                    res.asset_id,
                    _names(rels),
                    res.error,
                )
            else:
                report.link_failed += len(rels)
                log.error(
                    "album: %s not linked: %s (the next run retries)", _names(rels), res.error
                )
    log.info("album: linked %d assets in %s", report.album_linked, _ms(start))


class CountsDoNotAddUp(AssertionError):
    """A file the scan offered ended in no final state, or in two: a bug of ours."""


def _check_counts(report: RunReport, strict: bool) -> None:
    """scanned = done before + one final outcome for each of the rest (as immich-go checks)."""
    missing = report.unaccounted()
    if missing:
        message = (
            f"the counts do not add up: {report.scanned} scanned, {report.skipped_history} done "
            f"before, {report.finished} with an outcome"
        )
        if strict:
            raise CountsDoNotAddUp(message)
        log.error("internal: %s (please report it)", message)


def _log_uploads(report: RunReport, seconds: float) -> None:
    """What the upload phase sent: only files whose bytes went up and were answered."""
    left = (
        f"; interrupted, {report.not_started} left for the next run" if report.interrupted else ""
    )
    log.info(
        "uploads: %d %s sent (%s) in %.2f s%s",
        report.files_sent,
        "file" if report.files_sent == 1 else "files",
        human_bytes(report.bytes_uploaded),
        seconds,
        left,
    )


async def _link_for_a_while(
    client: ImmichClient,
    history: History,
    album_id: str,
    report: RunReport,
    retry: RetryPolicy,
    control: RunControl,
    failover: Failover,
) -> None:
    """The album links, bounded in time (shorter after a stop, shortest after a second one);
    a failure is logged and left for the next run, never raised past the save."""
    hurry = control.abort is not None and control.abort.is_set()
    limit = 5 if hurry else 15 if report.interrupted else 60
    with anyio.move_on_after(limit) as scope:
        try:
            await link_pending(client, history, album_id, report, retry, failover.recover)
        except UploaderError as exc:
            log.error("album: %s; the next run links what is left", exc)
            report.link_failed = len(history.pending_links(album_id))
    if scope.cancelled_caught:
        log.warning("album: linking took over %d s; the next run links what is left", limit)
        report.link_failed = len(history.pending_links(album_id))


def _save(
    history: History, report: RunReport, config: Config, album_id: str, media: MediaTypes
) -> HistoryError | None:
    """The history, then ``<history>.last-run``: each tried whatever the other did. The first
    failure is returned, for the run to end with (and the CLI to say, once)."""
    failure = None
    try:
        if history.dirty:
            history.save()
    except HistoryError as exc:
        failure = exc
    try:
        history.save_last_run(
            {
                "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                **report.to_json(),
                "ok": report.ok and not report.interrupted,
                "interrupted": report.interrupted,
                FACTS_KEY: server_facts(config, album_id, media.image | media.video),
            }
        )
    except HistoryError as exc:
        failure = failure or exc
    return failure


async def sync(
    config: Config, control: RunControl | None = None, *, locked: bool = False
) -> RunReport:
    """One whole run. Raises UploaderError for what stops the run; per-file trouble is in the
    report, which ``control.report`` holds from the start (for a caller whose run was cut)."""
    control = control or RunControl()
    retry = control.retry or RetryPolicy(retries=config.retries, cap=config.retry_max_wait)
    report = control.report = RunReport(dry_run=config.dry_run)
    t0 = time.monotonic()
    lock = RunLock(config.history_file)
    if not config.dry_run and not locked:  # locked: the caller (watch) holds it already
        lock.acquire()
    try:
        # The history and the folder are read in a thread (the CLI may have started it before
        # importing aiohttp) while the network phase runs.
        prefetched, control.prefetched = control.prefetched, None

        def local_side() -> tuple[History, ScanResult]:
            return prefetched.result() if prefetched is not None else read_local(config)

        async with open_session(config.concurrency, config.stall_timeout) as session:
            start = time.monotonic()
            local: list[tuple[History, ScanResult]] = []

            async def in_thread() -> None:
                local.append(await anyio.to_thread.run_sync(local_side))

            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(in_thread)
                    client, failover, media, album = await connect_phase(
                        session, config, retry, report
                    )
            except BaseExceptionGroup as group:
                if (error := first_uploader_error(group)) is None:
                    raise
                raise error from None
            history, everything = local[0]
            scanned = everything.only(media.accepts)
            todo, done = scanned.files, scanned.done
            report.scanned = len(todo) + done
            report.skipped_history = done
            report.settling = len(scanned.settling)
            for problem in scanned.errors:
                log.warning("scan: %s", problem)
            warn_symlinks(scanned, report)
            if scanned.settling:
                log.info(
                    "scan: %d files changed in the last %g s; left for the next run",
                    len(scanned.settling),
                    config.settle_seconds,
                )
            empty = sum(1 for f in todo if not f.size)
            log.info(
                "scan: %d files, %d already done, %d to send (%s)%s, %d of other types ignored, in %s",
                report.scanned,
                done,
                len(todo) - empty,
                human_bytes(sum(f.size for f in todo)),
                f", {empty} empty" if empty else "",
                len(scanned.unsupported),
                _ms(start),
            )

            if config.dry_run:
                report.would_upload = [f.rel for f in todo if f.size]
                report.empty = len(todo) - len(report.would_upload)
                pending = len(history.pending_links(album.id)) if album else 0
                for f in todo:
                    if f.size:
                        log.info("would upload %s (%s)", f.rel, human_bytes(f.size))
                    else:
                        log.info("would skip %s: empty", f.rel)
                log.info(
                    "dry run: would upload %d files and link %d earlier uploads; nothing changed",
                    len(report.would_upload),
                    pending,
                )
                return report

            assert album is not None
            start = time.monotonic()
            uploader = Uploader(client, config, history, report, control, retry, failover)
            control.uploading = True  # from here on a stop means "finish up", never "cancel"
            try:
                if todo:
                    try:
                        await uploader.run(todo)
                    except BaseExceptionGroup as group:
                        # A run-stopping error in one upload (the key revoked mid-run, say)
                        # comes out of the task group wrapped; the CLI wants it plain.
                        if (error := first_uploader_error(group)) is None:
                            raise
                        raise error from None
                    finally:
                        uploader.close(todo)
                        _log_uploads(report, time.monotonic() - start)
            finally:
                # Link what was uploaded and save, whatever ended the uploads; shielded, so a
                # second Ctrl-C cannot leave the history unsaved, and nothing the linking does
                # (a hostile answer, a bug) can skip the save.
                with anyio.CancelScope(shield=True):
                    try:
                        await _link_for_a_while(client, history, album.id, report, retry, control, failover)  # fmt: skip
                    finally:
                        report.server_url = client.base_url
                        save_error = _save(history, report, config, album.id, media)
            for error in (uploader.history_error, save_error):
                if error is not None:
                    raise error
            _check_counts(report, control.strict)
    finally:
        lock.release()
        report.duration_s = time.monotonic() - t0
    return report


__all__ = ["RunControl", "UploaderError", "sync"]
