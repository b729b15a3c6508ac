"""The local side: which files to send, as the folder has them. Knows nothing of the server or
HTTP, and only reads: nothing here (or anywhere in the uploader) writes, moves or deletes a
user's file.

    local     a file as the scan saw it, and what its name alone says
    filelist  the files to send, spilled to a temporary database past a bound
    walk      the scan: the folder walked by stat alone
    hashing   SHA-1 of a file
"""

from .filelist import FileList
from .hashing import sha1_file
from .local import (
    JUNK_DIRS,
    PARTIAL_SUFFIXES,
    LocalFile,
    extension,
    from_sql,
    is_ignored_name,
    iso_utc,
    matches,
    opener,
    sql_text,
)
from .walk import ScanResult, Walk, scan

__all__ = [
    "JUNK_DIRS",
    "PARTIAL_SUFFIXES",
    "FileList",
    "LocalFile",
    "ScanResult",
    "Walk",
    "extension",
    "from_sql",
    "is_ignored_name",
    "iso_utc",
    "matches",
    "opener",
    "scan",
    "sha1_file",
    "sql_text",
]
