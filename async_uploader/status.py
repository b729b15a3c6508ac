"""``async-uploader status``: what the history holds, in words or as JSON; ``export``: the whole
history as JSON, for people and scripts. Both read only."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import HistoryError
from .store import FACTS_KEY, FIELDS, SCHEMA, History, Meta, legacy_path, read_last_run
from .text import counted, human_bytes

ALBUMS_SHOWN = 20


def summarize(history: History) -> dict[str, Any]:
    """One pass over the records, streamed: a million of them are never all in memory."""
    last_run = read_last_run(history)
    facts = last_run.get(FACTS_KEY)
    facts = facts if isinstance(facts, dict) else {}
    main = str(facts.get("album") or "the album")
    folder_ids = facts.get("folder_albums")
    folder_ids = folder_ids if isinstance(folder_ids, dict) else {}
    last_album = last_run.get("album_id")
    outcomes: Counter[str] = Counter()
    files = on_server = pending_count = 0
    pending: list[str] = []
    rejected: list[dict[str, Any]] = []
    albums: dict[str, dict[str, int]] = {}
    for rel, r in history.rows():
        files += 1
        outcomes[r.outcome] += 1
        if r.outcome not in ("created", "duplicate"):
            if r.outcome == "rejected":
                rejected.append({"file": rel, "message": r.message or "", "at": r.at})
            continue
        on_server += r.size or 0
        if not r.asset_id:
            continue
        expected = last_album if r.album is None else folder_ids.get(r.album)
        counts = albums.setdefault(main if r.album is None else r.album, {"files": 0, "pending": 0})
        counts["files"] += 1
        if (
            r.album_id is None
            or (expected and r.album_id != expected)
            or (r.album and not expected)
        ):
            counts["pending"] += 1
            pending_count += 1
            if len(pending) < 100:
                pending.append(rel)
    left = history.meta(Meta.PAUSED_JOBS).get("queues")
    return {
        "history": str(history.path),
        "jobs_left_paused": [str(q) for q in left] if isinstance(left, list) else [],
        "files": files,
        "bytes": on_server,
        "outcomes": dict(sorted(outcomes.items())),
        "pending_album_links": pending_count,
        "pending": pending,  # the first 100, in path order
        "albums": dict(sorted(albums.items())),  # album name -> its files, and those to link
        "tags_pending": history.tags_pending_count(),
        "rejected": rejected,
        "last_run": last_run or None,
    }


def render(info: dict[str, Any]) -> str:
    lines = [f"History: {info['history']}"]
    if not info["files"] and not info["last_run"]:
        lines.append("  empty: no run has recorded anything yet")
        return "\n".join(lines)
    outcomes = ", ".join(f"{n} {k}" for k, n in info["outcomes"].items()) or "none"
    lines.append(
        f"  {counted(info['files'], 'file')} recorded ({outcomes}); {human_bytes(info['bytes'])} on the server"
    )
    albums = info["albums"]
    if len(albums) > 1:
        lines.append(f"  in {counted(len(albums), 'album')}:")
        for name, counts in list(albums.items())[:ALBUMS_SHOWN]:
            waiting = f", {counts['pending']} to link" if counts["pending"] else ""
            lines.append(f"    {name!r}: {counted(counts['files'], 'file')}{waiting}")
        if len(albums) > ALBUMS_SHOWN:
            lines.append(f"    ... and {len(albums) - ALBUMS_SHOWN} more (--json lists all)")
    if info["pending_album_links"]:
        where = "their albums" if len(albums) > 1 else "the album"
        lines.append(
            f"  {info['pending_album_links']} not yet in {where} (the next run links them)"
        )
    else:
        lines.append("  every uploaded file is in its album")
    if info["tags_pending"]:
        lines.append(f"  {counted(info['tags_pending'], 'asset')} still to tag (the next run does)")
    if info["rejected"]:
        lines.append(f"  {len(info['rejected'])} rejected by the server (sent again each run):")
        for item in info["rejected"][:20]:
            lines.append(f"    {item['file']}: {item['message']}")
        if len(info["rejected"]) > 20:
            lines.append(f"    ... and {len(info['rejected']) - 20} more (--json lists all)")
    if info["jobs_left_paused"]:
        lines.append(
            f"  the server's jobs {', '.join(info['jobs_left_paused'])} may still be paused by a "
            "run (the next run that reaches the server resumes them)"
        )
    last = info["last_run"]
    if last:
        if last.get("interrupted"):
            result = "interrupted (the next run sends the rest)"
        else:
            result = "all done" if last.get("ok") else "with problems (see the log)"
        lines.append(
            f"Last run: {last.get('at', '?')}, {result}: {last.get('created', 0)} created, "
            f"{last.get('duplicates', 0)} duplicates, {last.get('rejected', 0)} rejected, "
            f"{last.get('failed', 0)} failed, {last.get('album_linked', 0)} linked, "
            + (f"{last['held']} held for the local URL, " if last.get("held") else "")
            + (
                f"jobs {', '.join(map(str, last['jobs_paused']))} paused meanwhile, "
                if isinstance(last.get("jobs_paused"), list) and last["jobs_paused"]
                else ""
            )
            + (
                f"via {last.get('server_url', '?')}"
                if last.get("server_contacted", True)
                else "nothing new, so the server was not contacted"
            )
        )
    return "\n".join(lines)


def _open(history_file: Path) -> History:
    """The history, read only; HistoryError when there is none at that path (a status run from
    another folder than the .env's reads as a lost history otherwise). Before the first run of
    this version, an older version's JSON history is read in its place."""
    if not history_file.exists() and not legacy_path(history_file).exists():
        raise HistoryError(
            f"no history at {history_file}: no run has recorded anything there yet (run from the "
            "folder of your .env, or set IMMICH_HISTORY_FILE)"
        )
    return History.open(history_file, readonly=True, repair=False)


def status(history_file: Path, as_json: bool) -> str:
    history = _open(history_file)
    try:
        info = summarize(history)
    finally:
        history.close()
    return json.dumps(info) if as_json else render(info)


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _json(value: Any) -> str:
    r"""JSON text, non-ASCII as it is, and the bytes of a name (or any text) that is not UTF-8 as
    ``\udcXX`` escapes: valid JSON whatever another SQLite tool wrote, and nothing lost."""
    text = json.dumps(value, ensure_ascii=False)
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def export(history_file: Path) -> Iterator[str]:
    """The whole history as one JSON object, a line per file (never one string of a million):
    ``{"history", "schema", "fields", "files": {path: {field: value}}, "last_run"}``. A name
    that is not UTF-8 appears with ``\\udcXX`` escapes for its undecodable bytes."""
    history = _open(history_file)
    try:
        head = {"history": str(history.path), "schema": SCHEMA, "fields": list(FIELDS)}
        yield json.dumps(head)[:-1] + ', "files": {'
        held = None  # each line but the last ends in a comma
        for rel, rec in history.rows():
            if held is not None:
                yield held + ","
            fields = dict(zip(FIELDS, rec.row(rel)[1:-1], strict=True))
            held = f"  {json.dumps(rel)}: {_json(fields)}"
        if held is not None:
            yield held
        yield f'}}, "last_run": {_json(read_last_run(history) or None)}}}'
    finally:
        history.close()
