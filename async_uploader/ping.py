"""Health-check pings (IMMICH_PING_URL), as healthchecks.io and the services that copy it expect:
``<url>/start`` when a run starts, ``<url>`` when it ends well, ``<url>/<exit code>`` when it does
not, the run's summary line as the body. So a scheduled sync that stops working tells someone.

A ping never fails a run and never holds it up for long: each is sent from a thread of its own
(the standard library's ``urllib``: no event loop, no session), given ``TIMEOUT`` seconds at
most, and a run waits for its last ping no longer than that. It carries no key and no cookie,
never follows a redirect (a 3xx is a failed ping, said once), and the URL itself is never
logged: it is what lets anyone ping the check.
"""

from __future__ import annotations

import logging
import threading
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from . import __version__
from .config import redact

log = logging.getLogger(__name__)

TIMEOUT = 5.0  # seconds a ping may take, and a run waits for one at most
MOST_BODY = 10_000  # bytes of the summary sent (healthchecks keeps the first 100 kB)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises the 3xx as an HTTPError: never followed


_OPENER = urllib.request.build_opener(_NoRedirects())


def ping_url(base: str, suffix: str) -> str:
    """``base`` with ``/suffix`` after its path (a query kept after it)."""
    parts = urlsplit(base)
    path = parts.path.rstrip("/") + (f"/{suffix}" if suffix else "")
    return urlunsplit(parts._replace(path=path))


class Pinger:
    """The pings of one run, or of one watch."""

    def __init__(self, url: str, secrets: list[str], timeout: float = TIMEOUT) -> None:
        self.url = url
        self.secrets = secrets
        self.timeout = timeout
        self.host = urlsplit(url).hostname or "?"
        self.sent: list[tuple[str, bool]] = []  # (what, answered 2xx): for the log and tests
        self._said = False
        self._pending: threading.Thread | None = None

    def start(self) -> None:
        """``/start``, not waited for."""
        self._send("start", "")

    def finish(self, code: int, summary: str) -> None:
        """The run's end: success (exit 0) or its exit code, with the summary; waits for it (and
        a ``/start`` still going) ``timeout`` seconds at most."""
        self.wait()
        self._send("" if code == 0 else str(code), summary)
        self.wait()

    def beat(self, ok: bool, summary: str) -> None:
        """A watch's ping after a pass, or while idle: success, or ``/fail``; not waited for."""
        if self._pending is not None and self._pending.is_alive():
            return  # the last one is still going: one at a time
        self._send("" if ok else "fail", summary)

    def wait(self) -> None:
        if self._pending is not None:
            self._pending.join(self.timeout)

    def _send(self, suffix: str, body: str) -> None:
        data = redact(body, self.secrets).encode("utf-8", "replace")[:MOST_BODY]
        thread = threading.Thread(target=self._post, args=(suffix, data), name="ping", daemon=True)
        self._pending = thread
        thread.start()

    def _post(self, suffix: str, data: bytes) -> None:
        what = f"/{suffix}" if suffix else "success"
        request = urllib.request.Request(
            ping_url(self.url, suffix),
            data=data,
            method="POST",
            headers={
                "User-Agent": f"async-uploader/{__version__}",
                "Content-Type": "text/plain; charset=utf-8",
            },
        )
        try:
            with _OPENER.open(request, timeout=self.timeout) as answer:
                answer.read(1024)
            self.sent.append((what, True))
            log.debug("ping: %s to %s", what, self.host)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            self.sent.append((what, False))
            reason = getattr(exc, "code", None) or getattr(exc, "reason", None) or exc
            if not self._said:  # once a run: a check service that is down is not our failure
                self._said = True
                log.warning(
                    "ping: %s to %s failed (%s); the run goes on",
                    what,
                    self.host,
                    redact(str(reason), [self.url, *self.secrets]),
                )
