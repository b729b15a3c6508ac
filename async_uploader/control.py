"""What a caller (the CLI, watch, a test) gives a run besides its configuration: frozen settings
(retry policy, limits, the pace of checkpoints and progress) and the run's stop signals.

A leaf of the package: the phases and the run import it, and it imports none of them.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio

from .limits import DEFAULT, Limits

if TYPE_CHECKING:  # not at run time: the CLI's idle path imports this, and never the HTTP side
    from .progress import Snapshot
    from .retry import RetryPolicy


class Phase(enum.Enum):
    """Where a run is, as a Ctrl-C sees it."""

    PREPARING = "preparing"  # reading, connecting, asking: a signal ends the run at once
    UPLOADING = "uploading"  # from the upload phase on: a signal means "finish up"


class Signals:
    """The stop signals of a run (or of a watch and its passes): set by the CLI's signal
    handler, read by the phases. Made inside the event loop."""

    def __init__(self) -> None:
        self.stop = anyio.Event()  # no new uploads (a Ctrl-C, SIGTERM, an unwritable history)
        self.abort = anyio.Event()  # cut the uploads in flight now (a second Ctrl-C)
        self.phase = Phase.PREPARING  # set by ``run.sync`` alone


def _strict() -> bool:
    # Counts that do not add up raise instead of logging an error line: the test suite runs
    # with ASYNC_UPLOADER_STRICT=1 (tests/conftest.py).
    return os.environ.get("ASYNC_UPLOADER_STRICT") == "1"


@dataclass(frozen=True)
class RunControl:
    """The edges a caller injects into a run."""

    retry: RetryPolicy | None = None  # None: from the config (IMMICH_RETRIES, ..._MAX_WAIT)
    limits: Limits = DEFAULT
    signals: Signals | None = None  # None: the run makes its own (nobody can stop it)
    grace_seconds: float = 5.0  # in-flight uploads get this long after a stop
    checkpoint_seconds: float = 5.0  # the history is saved at least this often during uploads
    progress_seconds: float = 5.0  # progress this often (0: none)
    on_progress: Callable[[Snapshot], None] | None = None  # None: a log line
    strict: bool = field(default_factory=_strict)
    # What a run said once and need not say again (a watch's passes share it: "the key is not an
    # admin's" is a normal setup, not news each pass).
    said: set[str] = field(default_factory=set, compare=False)
