"""Files too big for the external URL wait for the local one.

The external URL usually sits behind a proxy with a body limit (Cloudflare's is 100 MB, nginx's
default 1 MB); the LAN address has none. While a run uses the external URL, a file over that
limit is *held*: not sent, not rejected, not recorded, so the next run on the local URL sends it.
The limit is ``IMMICH_EXTERNAL_MAX_UPLOAD``, else what a 413 at the external URL taught an earlier
run (the size refused, kept in the history's database for the runs after).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ..config import Config
from ..store import History, Meta
from ..text import human_bytes

log = logging.getLogger(__name__)

# A request carries more than the file: the form's fields and the sidecar (about 1 kB).
BODY_ALLOWANCE = 8 * 1024


class BodyLimit:
    """Which files the URL in use cannot take, and what a 413 there teaches."""

    def __init__(self, config: Config, history: History) -> None:
        self.local_url = config.local_url
        self.external_url = config.external_url
        self.configured = config.external_max_upload
        self.history = history
        learnt = history.meta(Meta.EXTERNAL_LIMIT)  # for another external URL: not this one's limit
        refused = learnt.get("refused") if learnt.get("url") == self.external_url else None
        fits = type(refused) is int and refused > 0
        self.refused: int | None = refused if fits else None
        self.refused_at: str = str(learnt.get("at", "")) if fits else ""

    def _waits_for_local(self, url: str) -> bool:
        """Only the external URL is limited, and only with a local URL to wait for."""
        return bool(self.local_url) and url == self.external_url and url != self.local_url

    def holds(self, url: str, size: int) -> str | None:
        """Why a file of ``size`` bytes waits for the local URL, or None to send it to ``url``."""
        if not self._waits_for_local(url):
            return None
        if self.configured is not None:
            if size + BODY_ALLOWANCE > self.configured:
                return f"over the external URL's limit of {human_bytes(self.configured)}"
            return None
        if self.refused is not None and size >= self.refused:
            return (
                f"the external URL refused {human_bytes(self.refused)} (HTTP 413"
                f"{', ' + self.refused_at[:10] if self.refused_at else ''})"
            )
        return None

    def refused_413(self, url: str, size: int) -> bool:
        """A 413 at ``url`` for a file of ``size``: True when the file is held for the local URL
        (and the size remembered for later runs), False when it stays rejected (no local URL)."""
        if not self._waits_for_local(url):
            return False
        if self.refused is None or size < self.refused:
            self.refused = size
            self.refused_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            self.history.set_meta(Meta.EXTERNAL_LIMIT, self.describe_learnt())
            log.warning(
                "the external URL %s refused a %s upload (HTTP 413: a proxy's body limit); files "
                "this big wait for the local URL%s",
                url,
                human_bytes(size),
                "" if self.configured is None else " (IMMICH_EXTERNAL_MAX_UPLOAD is higher)",
            )
        return True

    def sent(self, url: str, size: int) -> None:
        """An upload of ``size`` went through ``url``: a learnt limit at or under it is out of
        date (the proxy's limit was raised), and forgotten."""
        if url == self.external_url and self.refused is not None and size >= self.refused:
            log.info(
                "the external URL took %s, more than it refused before: limit forgotten",
                human_bytes(size),
            )
            self.refused, self.refused_at = None, ""
            self.history.set_meta(Meta.EXTERNAL_LIMIT, {})

    def describe_learnt(self) -> dict[str, Any]:
        return {"url": self.external_url, "refused": self.refused, "at": self.refused_at}


def known_limit(config: Config, history: History | None) -> str:
    """For ``check``: the external URL's body limit as this tool knows it, in words."""
    if not config.external_url:
        return "no external URL configured"
    if config.external_max_upload is not None:
        return f"{human_bytes(config.external_max_upload)} (IMMICH_EXTERNAL_MAX_UPLOAD)"
    if history is not None:
        limit = BodyLimit(config, history)
        if limit.refused is not None:
            return (
                f"under {human_bytes(limit.refused)} (a 413 answered for that size, "
                f"{limit.refused_at[:10] or 'date unknown'})"
            )
    return "none known (learnt from the first 413 there)"
