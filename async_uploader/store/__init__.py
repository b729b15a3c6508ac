"""What a run keeps on disk beside ``.env``: the history, an SQLite database with the last run's
record in it (``history``, ``last_run``), an older version's JSON history taken over once
(``legacy``), and the lock that keeps two runs apart (``lock``). Private to its owner (0600).
Knows nothing of the server, HTTP or the phases of a run."""

from .history import DONE, SCHEMA, History, Record, filesystem_type
from .last_run import FACTS_KEY, PAUSED_JOBS, read_last_run, save_last_run
from .legacy import FIELDS, legacy_path
from .lock import RunLock

__all__ = [
    "DONE",
    "FACTS_KEY",
    "FIELDS",
    "PAUSED_JOBS",
    "SCHEMA",
    "History",
    "Record",
    "RunLock",
    "filesystem_type",
    "legacy_path",
    "read_last_run",
    "save_last_run",
]
