"""``async-uploader status``: what the history holds, in words or as JSON. Reads only."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from .errors import HistoryError
from .outcomes import counted, human_bytes
from .store import History, read_last_run


def summarize(history: History) -> dict[str, Any]:
    records = history.records
    outcomes = Counter(r.outcome for r in records.values())
    last_run = read_last_run(history.path)
    last_album = last_run.get("album_id")
    pending = [
        rel
        for rel, r in records.items()
        if r.outcome in ("created", "duplicate")
        and r.asset_id
        and (r.album_id is None or (last_album and r.album_id != last_album))
    ]
    rejected = [
        {"file": rel, "message": r.message or "", "at": r.at}
        for rel, r in sorted(records.items())
        if r.outcome == "rejected"
    ]
    return {
        "history": str(history.path),
        "files": len(records),
        "bytes": sum(
            r.size or 0 for r in records.values() if r.outcome in ("created", "duplicate")
        ),
        "outcomes": dict(sorted(outcomes.items())),
        "pending_album_links": len(pending),
        "pending": sorted(pending)[:100],
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
    if info["pending_album_links"]:
        lines.append(
            f"  {info['pending_album_links']} not yet in the album (the next run links them)"
        )
    else:
        lines.append("  every uploaded file is in the album")
    if info["rejected"]:
        lines.append(f"  {len(info['rejected'])} rejected by the server (sent again each run):")
        for item in info["rejected"][:20]:
            lines.append(f"    {item['file']}: {item['message']}")
        if len(info["rejected"]) > 20:
            lines.append(f"    ... and {len(info['rejected']) - 20} more (--json lists all)")
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
            + (
                f"via {last.get('server_url', '?')}"
                if last.get("server_contacted", True)
                else "nothing new, so the server was not contacted"
            )
        )
    return "\n".join(lines)


def status(history_file: Path, as_json: bool) -> str:
    """What the history holds; HistoryError when there is none at that path (a status run from
    another folder than the .env's reads as a lost history otherwise)."""
    if not history_file.exists():
        raise HistoryError(
            f"no history at {history_file}: no run has recorded anything there yet (run from the "
            "folder of your .env, or set IMMICH_HISTORY_FILE)"
        )
    info = summarize(History.load(history_file, repair=False))
    return json.dumps(info) if as_json else render(info)
