"""The keys of the history's ``meta`` table: each a JSON object kept beside the records and
committed with them. One enum, so that no two rooms spell a key apart."""

from __future__ import annotations

import enum


class Meta(enum.StrEnum):
    LAST_RUN = "last_run"  # what the last run did, and what it learnt of the server (last_run)
    PAUSED_JOBS = "paused_jobs"  # job queues a run paused and has not resumed (phases/jobs)
    EXTERNAL_LIMIT = "external_limit"  # the body size a 413 refused there (phases/held)
    OPENED_AT = "opened_at"  # when a run last proved it could write (History.check_writable)
    STREAMS = "streams"  # the uploads at once auto concurrency ended on, per URL (phases/tuning)
    FOLDER_ALBUMS = "folder_albums"  # {"mode"} the records' album names were made for (targets)
