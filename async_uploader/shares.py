"""The scan split among processes, for a folder of hundreds of thousands of files.

An idle run over a million files is a million ``stat`` calls and as many history look-ups, and
threads cannot share that work out (the GIL: two threads took longer than one), but processes
can. So the scan forks: every process lists every folder, and each takes the files whose path
hashes to its share (a fork keeps the parent's hash seed, so each file has one owner even if the
folder changes between the listings), stats them and checks them against the history it
inherited. A child sends back only what is not done (files to send, a batch at a time, and the
names it has to report), so an idle run's children send next to nothing.

Only from the command line's own thread (a fork copies one thread of a process whose other threads
may hold locks), only where fork is safe (not macOS, not Windows), and only without
``--follow-symlinks`` (a folder reached through a link is found by its owner's stat alone). A child
that fails, for whatever reason, has its share scanned again by the parent.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import signal
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any, NoReturn

from .files import FileList, LocalFile, ScanResult, Walk

log = logging.getLogger(__name__)

MOST = 4  # processes: past this the folder's own locks in the kernel are the limit (unmeasured)
BATCH = 1000  # files a child sends at once
_LENGTH = struct.Struct("<I")


def processes_for(done: int, *, follow_symlinks: bool, exact: bool, threshold: int) -> int:
    """How many processes should scan a folder whose history has ``done`` files: one unless
    there are at least ``threshold`` of them (below it a fork costs more than it saves), the
    machine has more than one processor for us, and splitting is safe here. ``exact``: the
    history's check needs nothing of it that a child would change (files imported from a list
    of names learn their size as they are seen, in the parent's history)."""
    if done < threshold or follow_symlinks or not exact:
        return 1
    if not hasattr(os, "fork") or sys.platform == "darwin":
        return 1
    if threading.active_count() > 1:
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MOST))


def scan_split(walk: Walk, processes: int) -> ScanResult:
    """``walk`` done by ``processes`` processes, one share each: the same result as
    ``files.scan`` with the same settings."""
    assert not walk.follow_symlinks, "a followed link to a folder would be entered by one share"
    walk = replace(walk, now=walk.now if walk.now is not None else time.time())  # one clock
    children: list[_Child] = []
    result = ScanResult(FileList(walk.spill))
    log.debug("scan: %d processes, each a share of the files", processes)
    try:
        for mine in range(1, processes):
            child = _Child.start(walk, (processes, mine))
            if child is None:  # no fork to be had: this process takes that share too
                _share_into(result, walk, (processes, mine))
            else:
                children.append(child)
        walk(result, result.files.append, (processes, 0))
        for child in children:
            if not child.collect_into(result):
                _share_into(result, walk, child.share)
    finally:
        for child in children:
            child.end()
    result.files.finish()
    return result


def _share_into(result: ScanResult, walk: Walk, share: tuple[int, int]) -> None:
    """Another share walked by this process."""
    theirs = ScanResult()
    walk(theirs, result.files.append, share)
    _merge(result, _counts(theirs))


def _counts(r: ScanResult) -> tuple[Any, ...]:
    """What a share found besides its files to send."""
    return (
        r.unsupported,
        r.settling,
        r.ignored,
        r.excluded,
        r.errors,
        r.unchanged,
        r.symlinks,
        r.outside,
    )


def _merge(result: ScanResult, counts: tuple[Any, ...]) -> None:
    unsupported, settling, ignored, excluded, errors, unchanged, symlinks, outside = counts
    result.unsupported += unsupported
    result.settling += settling
    result.ignored += ignored
    result.excluded += excluded
    result.errors += errors
    result.unchanged += unchanged
    result.symlinks += symlinks
    for ext, n in outside.items():
        result.outside[ext] = result.outside.get(ext, 0) + n


class _Child:
    """A forked walker of one share, and the pipe it reports on."""

    def __init__(self, pid: int, fd: int, share: tuple[int, int]) -> None:
        self.pid, self.fd, self.share = pid, fd, share
        self.reaped = False

    @classmethod
    def start(cls, walk: Walk, share: tuple[int, int]) -> _Child | None:
        try:
            r, w = os.pipe()
        except OSError:
            return None
        try:
            pid = os.fork()
        except OSError as exc:
            os.close(r)
            os.close(w)
            log.debug("scan: cannot fork (%s); one process scans", exc)
            return None
        if pid == 0:  # the child: never returns
            os.close(r)
            _child_main(walk, share, w)
        os.close(w)
        return cls(pid, r, share)

    def collect_into(self, result: ScanResult) -> bool:
        """The child's findings added to ``result``; False, and nothing added, when it failed
        (its share is then the caller's to scan)."""
        theirs = FileList()
        try:
            with os.fdopen(self.fd, "rb", closefd=False) as pipe:
                end: tuple[Any, ...] | None = None
                for message in _frames(pipe):
                    if message[0] == "files":
                        for row in message[1]:
                            theirs.append(LocalFile(*row))
                    elif message[0] == "end":
                        end = message
            code = self._reap()
            if end is None or code != 0:
                log.debug("scan: the process for share %s failed (exit %s)", self.share, code)
                return False
            counts = end[1]
            if not isinstance(counts, tuple) or len(counts) != 7:
                raise ValueError("an end frame of another shape")
            theirs.finish()
            for f in theirs:
                result.files.append(f)
            _merge(result, counts)
            return True
        except (OSError, EOFError, ValueError, TypeError, pickle.UnpicklingError) as exc:
            log.debug(
                "scan: the process for share %s sent what cannot be read: %s", self.share, exc
            )
            return False
        finally:
            theirs.close()

    def _reap(self) -> int:
        _, status = os.waitpid(self.pid, 0)
        self.reaped = True
        return os.waitstatus_to_exitcode(status)

    def end(self) -> None:
        """Ends the child if it still runs (the parent stopped: Ctrl-C, an error), and reaps it."""
        with contextlib.suppress(OSError):
            os.close(self.fd)
        if not self.reaped:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                self._reap()


def _frames(pipe: Any) -> Iterator[tuple[Any, ...]]:
    while header := pipe.read(_LENGTH.size):
        if len(header) != _LENGTH.size:
            raise EOFError("a cut frame")
        (size,) = _LENGTH.unpack(header)
        body = pipe.read(size)
        if len(body) != size:
            raise EOFError("a cut frame")
        yield pickle.loads(body)


def _child_main(walk: Walk, share: tuple[int, int], fd: int) -> NoReturn:
    """The forked child's whole life: walk its share, send what is not done, exit. It touches
    nothing the parent owns (the history's connection, the log, the console) and leaves by
    ``os._exit``, so no buffer or handler of the parent's runs twice."""
    code = 1
    try:
        # Signals end it at once (the parent reaps it); a Python handler copied from the parent
        # must not run here.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_DFL)
        with os.fdopen(fd, "wb") as pipe:
            send = _sender(pipe)
            batch: list[tuple[Any, ...]] = []

            def add(f: LocalFile) -> None:
                batch.append(tuple(f))
                if len(batch) >= BATCH:
                    send(("files", batch))
                    batch.clear()

            mine = ScanResult()  # its files go to ``add``, not to mine.files
            walk(mine, add, share)
            if batch:
                send(("files", batch))
            send(("end", _counts(mine)))
        code = 0
    except BaseException:  # whatever it was, the parent scans this share again
        code = 1
    finally:
        os._exit(code)


def _sender(pipe: Any) -> Callable[[tuple[Any, ...]], None]:
    def send(message: tuple[Any, ...]) -> None:
        body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        pipe.write(_LENGTH.pack(len(body)))
        pipe.write(body)

    return send
