"""What a run keeps on disk beside ``.env``: the history, an SQLite database with the last run's
record in it, an older version's JSON history taken over once, and the lock that keeps two runs
apart. Private to its owner (0600). Knows nothing of the server, HTTP or the phases of a run.

    schema    tables, statements, the record of a file, where WAL can be used
    opening   connecting, creating, taking over a JSON history, moving a corrupt one aside
    known     the scan's question: is this file settled and unchanged?
    reader    the connection every part of History queries through
    history   the History: records and saves; pending links (pending), tags to put (tagqueue)
    meta      the keys of what is kept beside the records
    last_run  the last run's record
    legacy    the JSON histories of older versions
    lock      one run at a time
"""

from .history import History
from .last_run import FACTS_KEY, read_last_run, save_last_run
from .legacy import legacy_path
from .lock import RunLock
from .meta import Meta
from .opening import describe, unwritable
from .schema import FIELDS, SCHEMA, SETTLED, Record, filesystem_type

__all__ = [
    "FACTS_KEY",
    "FIELDS",
    "SCHEMA",
    "SETTLED",
    "History",
    "Meta",
    "Record",
    "RunLock",
    "describe",
    "filesystem_type",
    "legacy_path",
    "read_last_run",
    "save_last_run",
    "unwritable",
]
