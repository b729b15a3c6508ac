"""Every size and patience of a run, in one frozen value: batches, memory bounds, time limits.

The defaults are what the measurements behind them chose (the comments say which); a test that
needs one small passes its own ``Limits`` (through ``control.RunControl``), never patches a
module. Imports nothing of the package.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    # -- the pre-check -----------------------------------------------------------------------
    # Checksums per bulk upload check, in the sync and in verify (the official CLI asks 5,000 at
    # once). A batch and the stream of hashed files waiting for an upload are what the pre-check
    # holds: at 5,000 they were the biggest part of a backfill's memory (6 MB more at its peak,
    # and the heap kept the holes).
    check_batch: int = 1_000
    first_check_batch: int = 64  # small first batches, so uploads start while the rest is hashed
    hash_threads: int = 2
    hash_group: int = 32  # files hashed per worker-thread call (a call per file costs more)

    # -- the uploads ------------------------------------------------------------------------
    # A checkpoint once this many records wait, whatever the time: files the server already has
    # are recorded thousands a second, and what waits is memory.
    checkpoint_records: int = 1_000
    # The disk reads of the uploads (a screenshot read whole, its sidecar): a few threads do them
    # as fast as many would, without anyio's default of 40 threads and their memory.
    disk_threads: int = 4

    # -- the album links --------------------------------------------------------------------
    # Ids per album request, in the sync and in verify --repair. A request of 10,000, its answer
    # and the page of the history behind it held 7 MB at once, the biggest part of a backfill's
    # peak memory; 2,000 cost a few more round trips (500 for a million files, not 100).
    link_batch: int = 2_000
    # Up to this many links wait: read from the history's memory, as a small run has them,
    # without the saves that paging from the database needs (one before, one per page). At
    # 10,000 a 10,000-file backfill (2 kB files) peaked at 47.2 MB against 40.8 for 100 files
    # (+16 %); at 4,000, 45.6 MB (+12 %), no slower (the test server is what a backfill waits on).
    memory_links: int = 4_000
    # How long linking may go without finishing a batch. A backfill of a million is 500 batches,
    # which a real server takes about a minute for (58 s on the test server), so the limit is not
    # on the whole.
    link_patience: float = 60.0
    link_after_stop: float = 15.0  # in all, from a stop (the first Ctrl-C)
    link_after_abort: float = 5.0  # in all, from a second one

    # -- the server's job queues ------------------------------------------------------------
    # A run with this many files to send (after the pre-check) pauses the server's heavy queues
    # (IMMICH_PAUSE_JOBS=auto): smaller runs never touch them.
    pause_from: int = 100
    # Seconds the pauses, or the resumes, may take in all; a resume not done by then is the next
    # run's (a pause not confirmed stays recorded, and is resumed).
    resume_patience: float = 10.0

    # -- verify -------------------------------------------------------------------------------
    album_page: int = 1_000  # assets per page of an album's listing: the most the server gives
    # Pages past what the album's asset count needs: then its listing never ends.
    extra_pages: int = 10

    # -- the local side -----------------------------------------------------------------------
    # Files the scan holds in memory; past this they go to a temporary SQLite file. At 20,000 a
    # backfill of 20,000 small files peaked at 51.8 MB against 40.8 MB for 100 (+27 %: the list of
    # files to send was the difference); at 2,000, 45.7 MB (+12 %), and 19.7-20.1 s against
    # 19.6-21.9 s. B1's 2,000 files stay in memory.
    spill: int = 2_000
    # A history of this many done files splits the scan among processes (``shares``). Below it
    # the fork and the second listing cost about what the split saves: at 100,000 files (B4) it
    # took 1.10x the time where the machine gave us one processor's worth (0.45 s against 0.40).
    split_from: int = 200_000

    # -- watch ----------------------------------------------------------------------------------
    # While files wait for the local URL, it is asked this often whether it answers.
    held_probe: float = 15.0


DEFAULT = Limits()
