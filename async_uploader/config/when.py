"""Reading a date window's ends (IMMICH_SINCE, IMMICH_UNTIL): a date, a date and time, or an age.

Each end becomes one instant (an aware datetime); the window holds the capture times ``t`` with
``since <= t < until``. A date is a whole local day: since its first moment, until the end of it
(so ``--since 2024-05-01 --until 2024-05-01`` is that one day). A date and time is that local
moment (or the moment of its own offset); ``--until`` includes it. An age (``30d``, ``12h``,
``2w``) counts back from now: ``--since 30d`` is the last thirty days, ``--until 30d`` everything
older than that.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

from ..errors import ConfigError
from .values import shown

_AGE = re.compile(r"(\d{1,5})\s*([hdw])", re.I)
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
EXAMPLES = "a date (2024-05-01), a date and time (2024-05-01T18:30) or an age (30d, 12h, 2w)"
EARLIEST = datetime(1900, 1, 1).astimezone()  # no screenshot is older; nor is any date of ours


def _local(dt: datetime) -> datetime:
    """A naive time is local; an aware one keeps its offset."""
    return dt.astimezone() if dt.tzinfo is None else dt


def parse_when(value: str, name: str, end: bool, now: datetime | None = None) -> datetime:
    """The instant one end of the window stands for (``end``: the until end, exclusive)."""
    text = value.strip()
    now = now or datetime.now().astimezone()
    age = _AGE.fullmatch(text)
    if age is not None:
        back = int(age[1]) * _UNITS[age[2].lower()]
        if back > now - EARLIEST:
            raise ConfigError(f"{name} reaches back past 1900: {shown(text)}")
        return now - back
    try:
        if len(text) == 10:  # YYYY-MM-DD: a whole local day
            day = date.fromisoformat(text)
            moment = _local(datetime.combine(day, time()))
            after = _local(datetime.combine(day + timedelta(days=1), time()))
        elif len(text) <= 40:
            moment = _local(datetime.fromisoformat(text.replace(" ", "T", 1)))
            after = moment + timedelta(microseconds=1)
        else:
            raise ValueError
    except (ValueError, OverflowError):
        raise ConfigError(f"{name} must be {EXAMPLES}, not {shown(text)}") from None
    if moment < EARLIEST:
        raise ConfigError(f"{name} is before 1900: {shown(text)}")
    return after if end else moment


def parse_since(value: str, name: str) -> datetime | None:
    return parse_when(value, name, end=False) if value.strip() else None


def parse_until(value: str, name: str) -> datetime | None:
    return parse_when(value, name, end=True) if value.strip() else None
