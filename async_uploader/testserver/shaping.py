"""Link shaping and fault injection: latency, one shared upload bandwidth cap, 500s, resets, stalls.

All randomness comes from one ``random.Random(seed)``, drawn once per request in arrival order, so a
seeded run injects the same faults into the same requests every time.
"""

from __future__ import annotations

import asyncio
import enum
import random
import time
from dataclasses import dataclass, field, replace

# Routes that faults may hit. "upload" is POST /api/assets; the others are the JSON write routes an
# uploader also depends on.
FAULT_ROUTES = ("upload", "bulk-check", "album-create", "album-add", "search")


class Fault(enum.Enum):
    NONE = "none"
    FAIL = "fail"  # HTTP 500 before the body is read
    RESET = "reset"  # connection dropped half-way through the body
    STALL = "stall"  # reading stops for stall_seconds part-way through the body
    STATUS = "status"  # a scripted status (429/503 with Retry-After, 413 from a "proxy", ...)


@dataclass(frozen=True)
class Shaping:
    latency_ms: float = 0.0
    bandwidth_kbps: float = 0.0  # kilobits per second over all connections; 0 means no cap
    fail_rate: float = 0.0
    reset_rate: float = 0.0
    stall_rate: float = 0.0
    stall_seconds: float = 10.0
    # A request arriving on a keep-alive connection idle for longer than this is cut off unanswered:
    # what a client sees when it reuses a socket the server is closing (the real server closes
    # idle sockets at 6 s). 0: off.
    idle_reset_seconds: float = 0.0
    # A small server: at most ``max_processing`` uploads handled at once (0: no limit), each
    # holding its place for ``processing_ms`` more once its body is in (the server's own work);
    # ``queue_depth`` more wait for a place, their bodies unread, and any beyond those get 503
    # at once, as nginx's limit_conn in front of a busy server answers.
    max_processing: int = 0
    processing_ms: float = 0.0
    queue_depth: int = 0
    fault_routes: frozenset[str] = field(default_factory=lambda: frozenset({"upload"}))

    def __post_init__(self) -> None:
        for name in ("fail_rate", "reset_rate", "stall_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {value}")
        if self.fail_rate + self.reset_rate + self.stall_rate > 1.0:
            raise ValueError("fail_rate + reset_rate + stall_rate must not exceed 1")
        for name in (
            *("latency_ms", "bandwidth_kbps", "stall_seconds", "idle_reset_seconds"),
            *("max_processing", "processing_ms", "queue_depth"),
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        unknown = set(self.fault_routes) - set(FAULT_ROUTES)
        if unknown:
            raise ValueError(f"unknown fault routes: {sorted(unknown)}; known: {FAULT_ROUTES}")

    def with_changes(self, **changes: object) -> Shaping:
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ScriptedFault:
    """The next matching request gets this status (and Retry-After) instead of being served."""

    route: str
    status: int
    retry_after: float | None = None
    message: str | None = None


class TokenBucket:
    """One bandwidth cap shared by every connection.

    Each read reserves its slot on a virtual timeline (``next_free``), so concurrent readers share
    the rate fairly and the total never exceeds it, however many connections there are. A short
    burst allowance keeps it from penalising a reader that was idle.
    """

    def __init__(self, bytes_per_second: float, burst_seconds: float = 0.005) -> None:
        self.rate = bytes_per_second
        self.burst = burst_seconds
        self._next_free = time.monotonic()

    async def consume(self, nbytes: int) -> None:
        if self.rate <= 0 or nbytes <= 0:
            return
        now = time.monotonic()
        start = max(self._next_free, now - self.burst)
        self._next_free = start + nbytes / self.rate
        delay = self._next_free - now
        if delay > 0:
            await asyncio.sleep(delay)


class Processing:
    """The places of a small server (``Shaping.max_processing``): uploads take one each, in the
    order they came; those that find every place taken and the queue full are turned away."""

    def __init__(self) -> None:
        self.busy = 0
        self.waiting: list[asyncio.Future[None]] = []
        self.most_busy = 0
        self.turned_away = 0

    async def enter(self, shaping: Shaping) -> bool:
        """True once the upload has its place; False (answer 503) when the queue is full."""
        if shaping.max_processing <= 0:
            self.busy += 1
            return True
        if self.busy >= shaping.max_processing:
            if len(self.waiting) >= shaping.queue_depth:
                self.turned_away += 1
                return False
            turn = asyncio.get_running_loop().create_future()
            self.waiting.append(turn)
            try:
                await turn  # handed the place of one that left (``leave``)
            except BaseException:
                if turn in self.waiting:
                    self.waiting.remove(turn)
                elif turn.done() and not turn.cancelled():
                    self.leave()  # given a place just as it gave up: pass it on
                raise
        else:
            self.busy += 1
        self.most_busy = max(self.most_busy, self.busy)
        return True

    def leave(self) -> None:
        while self.waiting:
            turn = self.waiting.pop(0)
            if not turn.done():
                turn.set_result(None)  # the place passes on: busy stays as it is
                return
        self.busy -= 1


class FaultPlan:
    """Draws the fault of each request from one seeded generator."""

    def __init__(self, seed: int | None) -> None:
        self._rng = random.Random(seed)
        self.scripted: list[ScriptedFault] = []

    def draw(self, shaping: Shaping, route: str) -> tuple[Fault, float]:
        """The fault for one request and, for resets and stalls, the fraction of the body first read."""
        if route not in shaping.fault_routes:
            return Fault.NONE, 0.0
        r = self._rng.random()
        where = self._rng.uniform(0.2, 0.8)
        if r < shaping.fail_rate:
            return Fault.FAIL, 0.0
        if r < shaping.fail_rate + shaping.reset_rate:
            return Fault.RESET, where
        if r < shaping.fail_rate + shaping.reset_rate + shaping.stall_rate:
            return Fault.STALL, where
        return Fault.NONE, 0.0

    def take_scripted(self, route: str) -> ScriptedFault | None:
        for i, fault in enumerate(self.scripted):
            if fault.route == route:
                return self.scripted.pop(i)
        return None
