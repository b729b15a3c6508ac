"""The date window (IMMICH_SINCE, IMMICH_UNTIL): whether a new file's capture time is inside it.

The capture time is the one a run sends (``capture``: the screenshot's name, else the file's
birth time, else its modification time), so a file is judged by the time Immich will show.
A file outside is left alone, unrecorded: a later run whose window holds it sends it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .capture import capture_time
from .files import LocalFile


@dataclass(frozen=True)
class DateWindow:
    """``since <= t < until`` in POSIX seconds (None: open at that end). Plain numbers, so that
    the split scan's walkers can be given it."""

    since: float | None = None
    until: float | None = None

    @classmethod
    def of(cls, since: datetime | None, until: datetime | None) -> DateWindow | None:
        if since is None and until is None:
            return None
        return cls(
            since.timestamp() if since is not None else None,
            until.timestamp() if until is not None else None,
        )

    def __call__(self, f: LocalFile) -> bool:
        t = capture_time(f)[0].timestamp()
        return (self.since is None or t >= self.since) and (self.until is None or t < self.until)
