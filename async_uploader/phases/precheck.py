"""The pre-check: hash what the history has no hash for (in worker threads, in groups), ask the
server about it in batches (the bulk upload check), and record what it already has without its
bytes; the rest goes on, with its hash, to the uploads, through a bounded stream (backpressure:
hashing runs at most a batch or so ahead of the uploads).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable

import anyio
from anyio.streams.memory import MemoryObjectSendStream

from ..config import Config
from ..files import FileList, LocalFile, sha1_file
from ..immich import ApiError, BadAnswer, Kind, TransportError
from ..limits import Limits
from ..outcomes import FileResult, Outcome
from ..retry import RetryPolicy, with_retries
from ..store import History
from ..text import counted, unreadable
from .calls import ImmichCalls
from .connect import Failover

log = logging.getLogger(__name__)


class Precheck:
    """Feeds the uploads: each file either recorded here (on the server already, vanished,
    unreadable) through ``record``, or sent on with its SHA-1; ``skip`` is told of each file
    that will not be uploaded (for the progress totals)."""

    def __init__(
        self,
        client: ImmichCalls,
        config: Config,
        history: History,
        retry: RetryPolicy,
        failover: Failover,
        record: Callable[[FileResult], None],
        skip: Callable[[LocalFile], None],
        limits: Limits,
        backfill: anyio.Event | None = None,
        first_batch: int | None = None,
    ) -> None:
        self.backfill = backfill  # set once limits.pause_from files are to be sent
        self.first_batch = first_batch or limits.first_check_batch
        self.client = client
        self.limits = limits
        self.config = config
        self.history = history
        self.retry = retry
        self.failover = failover
        self.record = record
        self.skip = skip
        self.precheck = True  # off once the server shows it has no bulk upload check
        self.on_server = 0  # files the server had already: recorded, linked, never sent
        self.to_send = 0  # files passed on to the uploads

    def known_sha1s(self, files: list[LocalFile]) -> dict[str, str]:
        """rel -> the hash of these exact bytes, where the history has it (a rejected or stale
        record): one query for the batch, run in a worker thread so that the event loop never
        waits on the database (a checkpoint may be committing)."""
        records = self.history.get_many([f.rel for f in files])
        return {
            f.rel: rec.sha1
            for f in files
            if (rec := records.get(f.rel)) and rec.sha1 and rec.matches(f.size, f.mtime_ns)
        }

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
                    results.append(sha1_file(f.fspath, follow_symlinks=follow))
                except OSError as exc:
                    results.append(exc)
            return results

        for f, result in zip(
            group, await anyio.to_thread.run_sync(hash_all, limiter=limiter), strict=True
        ):
            if isinstance(result, str):
                out[f.rel] = result
                continue
            self.skip(f)
            if isinstance(result, FileNotFoundError):
                self.record(
                    FileResult(f, Outcome.VANISHED, message="deleted before it could be sent")
                )
            else:
                self.record(FileResult(f, Outcome.FAILED, message=unreadable(result)))

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
            if exc.kind is Kind.NOT_FOUND:
                log.info("the server has no bulk upload check; relying on the checksum header")
            else:
                log.warning(
                    "bulk upload check failed (%s); every file is sent, and the server "
                    "answers duplicate for those it has",
                    exc,
                )
            self.precheck = False
        except (TransportError, BadAnswer) as exc:
            log.warning("bulk upload check failed (%s); uploading instead", exc)
            if isinstance(exc, BadAnswer):
                self.precheck = False  # it will say the same garbage again
        return {}

    async def run(
        self,
        todo: FileList,
        out: MemoryObjectSendStream[tuple[LocalFile, str | None]],
        stop: anyio.Event,
    ) -> None:
        """Hash what has no known hash (in threads), ask the server about it in batches; what it
        already has is recorded (and linked later) without its bytes, the rest goes to upload."""
        limits = self.limits
        limiter = anyio.CapacityLimiter(limits.hash_threads)
        batch = self.first_batch
        files = iter(todo)  # read a batch at a time: a million files are never all in memory
        async with out:
            while not stop.is_set() and (chunk := list(itertools.islice(files, batch))):
                batch = min(batch * 4, limits.check_batch)
                hashes = await anyio.to_thread.run_sync(self.known_sha1s, chunk)
                unknown = [f for f in chunk if f.rel not in hashes]
                # Groups small enough that both threads get work even in the first batch.
                size = max(1, min(limits.hash_group, -(-len(unknown) // limits.hash_threads)))
                async with anyio.create_task_group() as tg:
                    for i in range(0, len(unknown), size):
                        tg.start_soon(self._hash_group, unknown[i : i + size], limiter, hashes)
                hashed = [(f, hashes[f.rel]) for f in chunk if f.rel in hashes]
                on_server = await self._ask_server(hashed)
                for f, sha in hashed:
                    if f.rel in on_server:
                        asset_id, trashed = on_server[f.rel]
                        self.skip(f)
                        note = (
                            " (in the Immich trash: restore it there to see it)" if trashed else ""
                        )
                        self.record(FileResult(f, Outcome.DUPLICATE, asset_id, note, sha))
                        self.on_server += 1
                        continue
                    try:
                        await out.send((f, sha))
                    except anyio.BrokenResourceError:
                        return  # the uploads stopped taking files
                    self.to_send += 1
                    if self.to_send == self.limits.pause_from and self.backfill is not None:
                        self.backfill.set()
            if todo and not stop.is_set():
                asked = "" if self.precheck else " (the server could not be asked)"
                log.info(
                    "pre-check: %d of %s already on the server%s, %d to send",
                    self.on_server,
                    counted(len(todo), "file"),
                    asked,
                    self.to_send,
                )
