"""A line of ``check``'s table: what was checked, how it stands, and the fix."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Level(enum.Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Row:
    item: str
    level: Level
    detail: str
    fix: str = ""
