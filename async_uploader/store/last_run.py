"""The last run's record: what it did (for ``status``) and what it learnt of the server (for the
next run to settle an idle run offline). Kept in the history's database (``history``), so that it
commits together with the records it speaks of."""

from __future__ import annotations

import time
from typing import Any

from ..outcomes import RunReport
from .history import History

# The field of the record that holds what a run that reached the server learnt of it
# (local.server_facts builds it).
FACTS_KEY = "server"


def read_last_run(history: History) -> dict[str, Any]:
    return history.last_run()


def save_last_run(history: History, report: RunReport, facts: dict[str, Any]) -> None:
    """The one shape of the record, for a run that reached the server and for an idle one;
    written with the records by one transaction (the history's save)."""
    history.set_last_run(
        {
            "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **report.to_json(),
            "ok": report.ok and not report.interrupted,
            FACTS_KEY: facts,
        }
    )
    history.save()
