"""What a run keeps on disk beside ``.env``: the history (``history``), the lock that keeps two runs
apart (``lock``) and the last run's record (``last_run``), all written atomically and 0600
(``atomic``). Knows nothing of the server, HTTP or the phases of a run."""

from .history import DONE, FIELDS, History, Record
from .last_run import FACTS_KEY, last_run_path, read_last_run, save_last_run
from .lock import RunLock

__all__ = [
    "DONE",
    "FACTS_KEY",
    "FIELDS",
    "History",
    "Record",
    "RunLock",
    "last_run_path",
    "read_last_run",
    "save_last_run",
]
