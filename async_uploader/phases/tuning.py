"""``IMMICH_CONCURRENCY=auto``: how many uploads at once, found while uploading.

A fixed 16 is too few for a far server (each stream waits out the round trip) and too many for a
small one (it queues them, or a proxy in front of it answers 503). The tuner starts at ``START``
streams and measures what the uploads achieve, window by window: the work done per second (bytes
sent, plus ``FILE_COST`` for each file answered, so that small files count as the round trips they
are). The first window opens once the first upload is answered, and every window one upload time
after a change, once the new streams are under way; each is measured from answer to answer.

Each level is compared with the one before. While a step up brings at least 80 % of its
proportional gain (doubling the streams, 1.8x the work) the streams are only waiting out round
trips: the tuner doubles them; from 50 % it steps up by half. It doubles them too, whatever the
work measured, while each upload takes no longer than at the fastest level (within ``FLAT``): no
upload waits behind another yet, and a short window that came out low was chance. Below that,
with uploads slower, the extra streams queue somewhere (the link, the server, this machine's CPU)
and it settles. A step that brought less than half its share is measured once more (one window
can be unlucky) and judged on the two: if it still brought 3 % more work (``KEEP``), the tuner
stays there, as something is near its limit and the extra streams cost it nothing (16 beat 8 on
this 2-core machine's LAN, and a busy server says so: see below); else it goes back to the level
before.

What a busy server or its proxy answers (502, 503, 504, 429, 408, or an upload timing out) cuts
the streams at once to 70 % (once per window) and makes the level it was at a ceiling for the run,
so the tuner does not walk back into it. A 500 is not taken for load: Immich answers it for a
file it fails on, and a flaky server would otherwise be driven down to one stream. Settled, a
sharp rise in the time each upload takes that brings no more work cuts to 80 %, and every
``PROBE_SECONDS`` it tries a quarter more (below the ceiling), kept only if it pays at least half
its share, so a backfill that outlives a change of network follows it and a queue does not creep
up on a server. Within 1..high.
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from typing import Any

import anyio

from ..immich import ApiError, ImmichError
from ..text import human_bytes

log = logging.getLogger(__name__)

START = 4  # streams at first: few enough for a small server, enough to measure from
# A far server starts nearer its level: a stream per this much of the first requests' round trip
# (60 ms: 30 streams), since each stream spends its upload mostly waiting for the answer. A near
# server (a few ms) starts at START, as a small one needs.
SECONDS_PER_STREAM = 0.002
REMEMBERED_DAYS = 30  # the last run's level at a URL counts this long
FILE_COST = 64 * 1024  # bytes of work a file's round trip is worth (its request and answer)
WINDOW = 0.05  # seconds a measurement takes at least
WINDOW_ROUNDS = 1.5  # ... and at least this many upload times
WINDOW_ANSWERS = 8  # ... and at least this many answers, or half as many as the streams
WINDOW_MAX = 3.0  # a window with few answers (big files) ends here all the same
BACK_OFF = 0.7
PROBE_SECONDS = 10.0  # settled and quiet this long: a step up, to see whether more do better
KEEP = 1.03  # a step up bringing at least this much more work is kept, however little it paid
FLAT = 1.25  # upload times within this of the fastest window's: no upload waits behind another
SLOWER = 2.0  # upload times this much longer than when settled, with no more work done: too many


def is_congestion(exc: BaseException) -> bool:
    """What a server (or the proxy before it) answers when it has too much to do: a busy
    status (502, 503, 504, 429, 408), a timeout, an upload that stalled."""
    return isinstance(exc, ImmichError) and exc.kind.congestion


def first_level(round_trip: float | None, remembered: int | None, high: int) -> tuple[int, str]:
    """Where auto concurrency starts, and why: the level the last run at this URL ended on;
    else from the round trip of the run's first requests; else ``START``."""
    if remembered is not None:
        return max(1, min(high, remembered)), "where the last run at this URL ended"
    if round_trip is not None:
        level = max(START, min(high, round(round_trip / SECONDS_PER_STREAM)))
        if level > START:
            return level, f"a round trip of {round_trip * 1000:.0f} ms"
    return START, "a near server"


def remembered(levels: dict[str, Any], url: str, now: float) -> int | None:
    """The level the last run at ``url`` ended on (the history's record), if recent."""
    entry = levels.get(url)
    if not isinstance(entry, dict):
        return None
    streams, at = entry.get("streams"), entry.get("at")
    if type(streams) is not int or not isinstance(at, int | float):
        return None
    return streams if 0 <= now - at < REMEMBERED_DAYS * 86400 else None


def remember(levels: dict[str, Any], url: str, streams: int, now: float) -> dict[str, Any]:
    """The record with this URL's level: the four URLs used last (a laptop has two)."""
    kept = {u: e for u, e in levels.items() if u != url and isinstance(e, dict)}
    newest = sorted(
        kept,
        key=lambda u: kept[u].get("at", 0) if isinstance(kept[u].get("at"), int | float) else 0,
    )[-3:]
    return {**{u: kept[u] for u in newest}, url: {"streams": streams, "at": now}}


class StreamTuner:
    """Sets ``limiter.total_tokens`` (the uploads at once) from what the uploads report."""

    def __init__(self, limiter: anyio.CapacityLimiter, high: int, start: int = START) -> None:
        self.limiter = limiter
        self.high = high
        self.streams = max(1, min(start, high))
        self.start = self.streams
        limiter.total_tokens = self.streams
        self.work = 0  # bytes sent + FILE_COST per answer, since the start
        self.answers = 0
        self.times: list[float] = []  # seconds per answered upload, this window
        self.congestion: list[str] = []  # what the server answered, this window
        self.cut_this_window = False
        self.ceiling = high + 1  # the fewest streams a busy server answered: never again
        self.settled = False
        self.changes = 0
        self.why = "starting"
        self._settled_time: float | None = None  # median upload time when it settled
        self._quiet_since = time.monotonic()
        self._last: tuple[int, float] | None = None  # (streams, work per second) of the last window
        self._first = anyio.Event()  # set by the first answer
        self._doubt: float | None = None  # a step brought little: its first measure, of two
        self._probing = False  # settled, and looking whether more streams do better
        self._fastest: float | None = None  # the lowest median upload time of a quiet window
        # When the last answer came, and the work done by then: windows run from answer to
        # answer, as streams that started together answer in bursts, and a window cut between
        # two bursts would count one burst too many or too few.
        self._answer_at, self._work_at_answer = time.monotonic(), 0

    # -- what the uploads report ----------------------------------------------------------------
    def sent(self, nbytes: int) -> None:
        self.work += nbytes

    def answered(self, seconds: float) -> None:
        self.answers += 1
        self.work += FILE_COST
        self.times.append(seconds)
        self._answer_at, self._work_at_answer = time.monotonic(), self.work
        self._first.set()

    def failed(self, exc: BaseException) -> None:
        if not is_congestion(exc):
            return
        what = exc.status_line if isinstance(exc, ApiError) else "a timeout"
        self.congestion.append(what)
        if not self.cut_this_window:  # at once: every upload in flight would get the same
            self.cut_this_window = True
            self.ceiling = min(self.ceiling, self.streams)
            self._set(max(1, math.floor(self.streams * BACK_OFF)), f"the server answered {what}")
            self.settled = True
            self._probing = False
            self._last = None

    # -- deciding ---------------------------------------------------------------------------------
    def _set(self, streams: int, why: str) -> None:
        streams = max(1, min(self.high, streams))
        if streams == self.streams:
            return
        log.info("concurrency: %d -> %d streams: %s", self.streams, streams, why)
        self.streams = streams
        self.limiter.total_tokens = streams
        self.changes += 1
        self.why = why

    def _settle(self, streams: int, why: str, median: float | None) -> None:
        before = self.streams
        self._set(streams, why)
        if not self.settled or before != self.streams:
            log.info("concurrency: settled on %d streams (%s)", self.streams, why)
        self.settled = True
        self.why = why
        self._settled_time = median if streams == before else None
        self._quiet_since = time.monotonic()

    def decide(self, streams: int, rate: float, median: float | None) -> None:
        """One window's measurement: ``rate`` the work per second at ``streams``."""
        last, self._last = self._last, (streams, rate)
        if self.congestion:
            self._quiet_since = time.monotonic()
            return
        if median is not None:
            self._fastest = median if self._fastest is None else min(self._fastest, median)
        shown = f"{human_bytes(rate)}/s of work at {streams}"
        if self.settled:
            if (
                self._settled_time is not None
                and median is not None
                and median > SLOWER * self._settled_time
                and last is not None
                and rate <= last[1] * 1.05
            ):
                self._set(
                    math.floor(streams * 0.8),
                    f"uploads take {median / self._settled_time:.1f}x as long, for no more work",
                )
                self._settled_time = None
                return
            if self._settled_time is None:
                self._settled_time = median
            up = min(math.ceil(streams * 1.25), self.high, self.ceiling - 1)
            if time.monotonic() - self._quiet_since >= PROBE_SECONDS and up > streams:
                self.settled = False  # look one step up again
                self._probing = True
                self._set(up, "looking whether more streams do better")
            return
        if last is None or last[0] >= streams:  # the first window, or the first after a cut
            up = min(streams * 2, self.high, self.ceiling - 1)
            if up <= streams:
                self._settle(streams, f"the most allowed, {shown}", median)
            else:
                self._set(up, shown)
            return

        low, low_rate = last

        def judged(rate: float) -> tuple[float, float, str]:
            """The work at ``rate`` against the level before: gain, share of the proportional
            gain it brought, and how the log shows it."""
            gain = rate / low_rate if low_rate > 0 else math.inf
            return (
                gain,
                (gain - 1) / (streams / low - 1),
                f"{human_bytes(rate)}/s of work at {streams}",
            )

        gain, paid_share, shown = judged(rate)
        if (
            paid_share < 0.8
            and median is not None
            and self._fastest is not None
            and median <= FLAT * self._fastest
        ):
            # Each upload takes no longer than with fewer streams, so none waits behind another
            # (on the link, in the server, for this machine's CPU): the work measured fell short
            # by chance (a window is short, and streams answer in bursts). More will pay.
            up = min(streams * 2, self.high, self.ceiling - 1)
            if up > streams:
                self._doubt = None
                self._set(
                    up,
                    f"{shown}, {gain:.2f}x the work at {last[0]} "
                    f"but uploads no slower ({median / self._fastest:.2f}x the fastest)",
                )
                return
        if paid_share < 0.5 and self._doubt is None:
            # One window can be unlucky (a slow answer, this machine busy elsewhere): measure the
            # level once more against the same one before, and decide on the two together.
            self._doubt = rate
            self._last = last
            return
        if paid_share < 0.5 and self._doubt is not None:
            gain, paid_share, shown = judged((rate + self._doubt) / 2)
        self._doubt = None
        probing, self._probing = self._probing, False
        if paid_share >= 0.5:
            up = math.ceil(streams * (2.0 if paid_share >= 0.8 else 1.5))
            up = min(up, self.high, self.ceiling - 1)
            if up <= streams:
                why = (
                    "the most allowed"
                    if streams >= self.high
                    else "below where the server got busy"
                )
                self._settle(streams, f"{why}, {shown}", median)
            else:
                self._set(up, f"{shown}, {gain:.2f}x the work at {last[0]}")
        elif gain >= KEEP and not probing:
            # More still helped, less than in proportion: something is near its limit (this
            # machine's cores, the link, the server) and the extra streams cost it nothing
            # (a busy server says so, and the streams come down at once).
            self._settle(streams, f"{shown}, {gain:.2f}x the work at {last[0]}", median)
        elif probing:
            self._settle(
                last[0],
                f"{shown}, {gain:.2f}x the work at {last[0]}: not worth the extra streams",
                None,
            )
        else:
            self._settle(last[0], f"{shown}, no better than at {last[0]} ({gain:.2f}x)", None)

    async def run(self) -> None:
        """The measuring loop, for as long as the uploads run (cancelled with them)."""
        await self._first.wait()  # uploads start after the first bulk check: measure from then
        typical = statistics.median(self.times) if self.times else 0.0
        while True:
            streams = self.streams
            # The new streams' first uploads are only starting: measure once they are under way.
            await anyio.sleep(min(typical, WINDOW_MAX))
            if self.streams != streams:
                continue
            began, work0, answers0 = time.monotonic(), self.work, self.answers
            since, work_since = self._answer_at, self._work_at_answer  # the last answer before
            self.times, self.congestion, self.cut_this_window = [], [], False
            while True:
                await anyio.sleep(0.05)
                elapsed = time.monotonic() - began
                per_upload = statistics.median(self.times) if self.times else 0.0
                long_enough = elapsed >= max(WINDOW, WINDOW_ROUNDS * per_upload)
                if self.streams != streams:
                    break  # cut meanwhile: measure the new level afresh
                if (
                    long_enough and self.answers - answers0 >= max(WINDOW_ANSWERS, streams // 2)
                ) or (elapsed >= WINDOW_MAX):
                    break
            if self.streams != streams:
                typical = per_upload
                continue
            if self.answers > answers0 and self._answer_at > since:
                rate = (self._work_at_answer - work_since) / (self._answer_at - since)
            else:  # no answer (big files): the bytes sent meanwhile
                rate = (self.work - work0) / (time.monotonic() - began)
            median = statistics.median(self.times) if self.times else None
            before = self.streams
            self.decide(streams, rate, median)
            typical = (median or 0.0) if self.streams != before else 0.0

    @property
    def measured(self) -> bool:
        """Whether the level it ends on was found by measuring (not just where it started)."""
        return self.settled or self.changes > 0

    def summary(self) -> str:
        return (
            f"auto: {self.streams} streams at the end (from {self.start}, "
            f"{self.changes} changes; last: {self.why})"
        )
