"""``<history>.last-run``: what the last run did (for ``status``) and what it learnt of the server
(for the next run to settle an idle run offline). A small JSON object beside the history, written
whole and atomically; a missing or unreadable one reads as empty."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ..outcomes import RunReport
from .atomic import atomic_write

# The key of what a run that reached the server learnt of it (local.server_facts builds it).
FACTS_KEY = "server"


def last_run_path(history_path: Path) -> Path:
    return history_path.with_name(history_path.name + ".last-run")


def read_last_run(history_path: Path) -> dict[str, Any]:
    try:
        data = json.loads(last_run_path(history_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_last_run(history_path: Path, report: RunReport, facts: dict[str, Any]) -> None:
    """The one shape of the record, for a run that reached the server and for an idle one."""
    record = {
        "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **report.to_json(),
        "ok": report.ok and not report.interrupted,
        FACTS_KEY: facts,
    }
    atomic_write(last_run_path(history_path), json.dumps(record, ensure_ascii=False))
