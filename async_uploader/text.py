"""How things are said: counts, sizes, durations, a few names, and text made safe for one line.

Pure functions over plain values; imports nothing of the package, so every room may use it.
"""

from __future__ import annotations

import errno
import re
import time

__all__ = [
    "counted",
    "human_bytes",
    "ms_since",
    "names",
    "one_line",
    "unreadable",
    "valid_utf8",
]


def counted(n: int, word: str, plural: str | None = None) -> str:
    """ "1 file", "2 files" ("1 pass", "3 passes" with the plural given)."""
    return f"{n} {word if n == 1 else plural or word + 's'}"


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def ms_since(start: float) -> str:
    """Milliseconds since ``start`` (a ``time.monotonic()``), for a log line."""
    return f"{(time.monotonic() - start) * 1000:.0f} ms"


def names(rels: list[str], most: int = 5) -> str:
    """A few names for a log line; many identical files share one asset."""
    shown = ", ".join(rels[:most])
    return shown + (f" and {len(rels) - most} more" if len(rels) > most else "")


def unreadable(exc: OSError) -> str:
    """Why a file could not be read, for its result."""
    if exc.errno == errno.ELOOP:
        return "it became a symlink since the scan; not followed (see --follow-symlinks)"
    return f"cannot read: {exc.strerror or exc}"


def valid_utf8(text: str) -> str:
    """``text`` with the lone surrogates of undecodable bytes replaced by U+FFFD."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a byte of a name that is not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(ch)
    if named:
        return named
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def one_line(text: str) -> str:
    """``text`` printable on one line: control characters and undecodable bytes escaped, so
    nothing a file name or a server says can forge a line of the log or the console."""
    return _UNPRINTABLE.sub(_escape, text) if _UNPRINTABLE.search(text) else text
