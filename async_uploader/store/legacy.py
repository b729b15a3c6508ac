"""The histories of older versions, read once to be taken over by the database (``history``).

Two shapes: version 1's JSON (``{"version": 1, "fields": [...], "files": {rel: [row]}}``, with its
``<name>.last-run`` beside it), and the seed script's (a list of file names, or a dict keyed by
them). Only read: the file is left exactly as it was.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

# Version 1's record fields, in its row order: the same as the database's columns.
FIELDS = ("size", "mtime_ns", "outcome", "asset_id", "sha1", "album_id", "at", "message")
LEGACY = "legacy"  # outcomes.Outcome.LEGACY: imported from a list of names, size not yet known


class Legacy(NamedTuple):
    rows: dict[str, list[Any]]  # rel -> a row in FIELDS order
    kind: str  # what it was, for the log: "version 1" or "a list of file names"
    last_run: dict[str, Any]  # version 1's <name>.last-run, or {}
    skipped: dict[str, str]  # rel -> why its record was left out (a field of the wrong type)


INT64 = 2**63  # SQLite's integers are 64-bit
_TEXT_FIELDS = ("asset_id", "sha1", "album_id", "message")


def _whole(value: Any, low: int) -> bool:
    return type(value) is int and low <= value < INT64


def malformed(row: list[Any]) -> str | None:
    """Why a version 1 record cannot be taken over (a field of the wrong type, written by hand
    or by another program), or None when it can."""
    record = dict(zip(FIELDS, row, strict=True))
    if record["size"] is not None and not _whole(record["size"], 0):
        return f"size {str(record['size'])[:30]} is not a whole number of bytes"
    if record["mtime_ns"] is not None and not _whole(record["mtime_ns"], -INT64):
        return f"mtime_ns {str(record['mtime_ns'])[:30]} is not a whole number"
    if not isinstance(record["outcome"], str):
        return "its outcome is not a word"
    if not isinstance(record["at"], str):
        return "its time is not a text"
    for name in _TEXT_FIELDS:
        if record[name] is not None and not isinstance(record[name], str):
            return f"{name} is not a text"
    return None


def database_path(configured: Path) -> Path:
    """The database a configured history name means: a ``.json`` name (an older version's
    history) means the ``.sqlite`` beside it, which takes that JSON over on its first run."""
    return configured.with_suffix(".sqlite") if configured.suffix.lower() == ".json" else configured


def legacy_path(database: Path) -> Path:
    """Where an older version kept the history that this database replaces."""
    return database.with_suffix(".json")


def read_legacy(path: Path) -> Legacy:
    """The older history at ``path``; ValueError (with what is wrong) when it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(exc.strerror or str(exc)) from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 ({exc.reason})") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if isinstance(data, dict) and "version" in data and "files" in data:
        if data["version"] != 1:
            raise ValueError(f"unknown history version {data['version']!r}")
        if tuple(data.get("fields", ())) != FIELDS:
            raise ValueError("unexpected record fields")
        rows = data["files"]
        if not isinstance(rows, dict):
            raise ValueError("malformed records")
        good: dict[str, list[Any]] = {}
        skipped: dict[str, str] = {}
        for rel, row in rows.items():
            if not isinstance(row, list) or len(row) != len(FIELDS):
                skipped[rel] = f"not a record of {len(FIELDS)} fields"
            elif why := malformed(row):
                skipped[rel] = why
            else:
                good[rel] = row
        return Legacy(good, "version 1", _last_run(path), skipped)
    if isinstance(data, list | dict):
        names = list(data)
        if not all(isinstance(n, str) for n in names):
            raise ValueError("not a list of file names")
        empty = [None, None, LEGACY, None, None, None, "", None]
        return Legacy({n: list(empty) for n in names}, "a list of file names", {}, {})
    raise ValueError("not a history")


def _last_run(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.with_name(path.name + ".last-run").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
