"""Reading one setting's text: a boolean, a number in a range, a rate, a size, a URL, a list of
globs. Each parser takes the text and the name to blame (the variable, or the flag) and raises
ConfigError with one line naming it; none accepts a value the run could not use (an infinite
rate, a size past any disk, a time past the year 9999)."""

from __future__ import annotations

import math
import re
from urllib.parse import urlsplit

from ..errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def one_line(value: str, name: str, where: str) -> str:
    """A value with a newline or another control character is a mistake (a key pasted over two
    lines, say), never something to send: exit 2, naming the variable but never its value."""
    if _CONTROL.search(value):
        raise ConfigError(
            f"{name} (in {where}) contains a newline or another control character; "
            "put the value on one line"
        )
    return value


def shown(value: str, most: int = 40) -> str:
    """A bad value as an error line quotes it: never a screenful of digits."""
    value = value.strip()
    return repr(value if len(value) <= most else value[:most] + "...")


def parse_bool(value: str, name: str) -> bool:
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, not {shown(value)}")


def parse_mode(value: str, name: str) -> str:
    """``auto``, ``on`` or ``off`` (a boolean reads as on or off)."""
    text = value.strip().lower()
    if text in ("auto", ""):
        return "auto"
    if text in _TRUE:
        return "on"
    if text in _FALSE:
        return "off"
    raise ConfigError(f"{name} must be auto, on or off, not {shown(value)}")


def parse_number(value: str, name: str, low: float, high: float, integer: bool = False) -> float:
    text = value.strip()
    kind = "a whole number" if integer else "a number"
    try:
        if len(text) > 40:  # no number of ours is written so long
            raise ValueError
        number = int(text) if integer else float(text)
    except ValueError:
        raise ConfigError(
            f"{name} must be {kind} from {low:g} to {high:g}, not {shown(text)}"
        ) from None
    if not (math.isfinite(number) and low <= number <= high):
        raise ConfigError(f"{name} must be from {low:g} to {high:g}, not {shown(text)[1:-1]}")
    return number


def parse_concurrency(value: str, name: str, high: int) -> int | None:
    """``auto`` (None) or a whole number from 1 to ``high``."""
    text = value.strip()
    if text.lower() in ("", "auto"):
        return None
    if text.isascii() and text.isdigit() and len(text) <= 3 and 1 <= int(text) <= high:
        return int(text)
    raise ConfigError(f"{name} must be auto or a whole number from 1 to {high}, not {shown(text)}")


def normalize_url(value: str, name: str) -> str:
    """A base URL without a trailing slash or ``/api``; the client adds ``/api`` itself."""
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{name} must be an http:// or https:// URL, not {shown(value, 80)}")
    if parts.query or parts.fragment:
        raise ConfigError(f"{name} must not have a query or fragment: {shown(value, 80)}")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ConfigError(f"{name} has an invalid port: {shown(value, 80)}") from None
    path = parts.path.rstrip("/")
    if path.endswith("/api"):
        path = path[: -len("/api")]
    return f"{parts.scheme}://{parts.netloc}{path}"


def parse_globs(value: str, name: str) -> tuple[str, ...]:
    """Comma-separated globs; blanks between commas are nothing."""
    return tuple(g.strip() for g in value.split(",") if g.strip())


_AMOUNT = re.compile(r"(\d{1,15}(?:\.\d{1,9})?)\s*(?:([kmg])(i)?)?(b|bit|bits|bps)?(?:/s)?", re.I)
_SCALE = {None: 1, "k": 1e3, "m": 1e6, "g": 1e9}
MIN_RATE = 1_000  # bytes per second: below this an upload of a screenshot takes minutes
MAX_RATE = 100e9  # bytes per second: more than any link carries (800 Gbit/s)
MIN_BODY_LIMIT = 64_000  # no proxy limits bodies to less (nginx's default is 1 MB)
MAX_BODY_LIMIT = 2**50  # a petabyte: no proxy limit, no file, comes near it


def _amount(value: str, name: str, example: str) -> tuple[str, float, str | None]:
    """A number with an optional SI or binary prefix (k, M, G, Ki, Mi, Gi): (the number as
    written, its scale, the unit after the prefix)."""
    match = _AMOUNT.fullmatch(value.strip())
    if match is None:
        raise ConfigError(f"{name} must be {example} (or off), not {shown(value)}")
    number, prefix, binary, unit = match.groups()
    scale = _SCALE[prefix.lower() if prefix else None]
    if binary:
        scale = 1024 ** {"k": 1, "m": 2, "g": 3}[prefix.lower()]
    if unit == "b" and prefix:  # "Mb" reads as megabits to many: say which it is
        raise ConfigError(
            f"{name} {shown(value)} is ambiguous: write {number}{prefix}B for bytes or "
            f"{number}{prefix}bit for bits"
        )
    return number, scale, unit


def parse_rate(value: str, name: str) -> float:
    """Bytes per second from ``2MB``, ``500kB``, ``1.5MiB``, ``20Mbit`` or ``750000`` (bytes);
    ``0``, ``off`` or ``none``: no cap (0)."""
    if value.strip().lower() in ("", "0", "off", "none"):
        return 0.0
    example = "a rate in bytes per second such as 2MB, 500kB, 20Mbit or 750000"
    number, scale, unit = _amount(value, name, example)
    if unit and unit.lower() in ("bit", "bits", "bps"):
        scale /= 8
    rate = float(number) * scale
    if rate < MIN_RATE:
        raise ConfigError(
            f"{name} must be at least {MIN_RATE // 1000} kB per second, not {shown(value)}"
        )
    if rate > MAX_RATE:
        raise ConfigError(f"{name} must be at most 100GB per second, not {shown(value)}")
    return rate


def parse_size(value: str, name: str) -> int | None:
    """Bytes from ``100MB``, ``1GiB``, ``512kB`` or ``1000000``; ``0``, ``off`` or ``none``:
    not set (None)."""
    if value.strip().lower() in ("", "0", "off", "none"):
        return None
    number, scale, unit = _amount(value, name, "a size such as 100MB, 1GiB or 1000000")
    if (unit and unit.lower() in ("bit", "bits", "bps")) or value.strip().lower().endswith("/s"):
        raise ConfigError(f"{name} is a size in bytes (such as 100MB), not {shown(value)}")
    size = float(number) * scale
    if size < MIN_BODY_LIMIT:
        raise ConfigError(
            f"{name} must be at least {MIN_BODY_LIMIT // 1000} kB, not {shown(value)}"
        )
    if size > MAX_BODY_LIMIT:
        raise ConfigError(f"{name} must be at most 1PiB, not {shown(value)}")
    return int(size)


VISIBILITIES = ("timeline", "archive", "hidden")


def parse_visibility(value: str, name: str) -> str:
    """Where uploads go in Immich: ``timeline``, ``archive`` or ``hidden``. ``locked`` is
    refused: an API key can neither read a locked asset nor add it to an album (golden 48k,
    49c), so the run could not finish what it starts."""
    text = value.strip().lower() or "timeline"
    if text == "locked":
        raise ConfigError(
            f"{name}=locked is not supported: an API key can neither read a locked asset nor "
            "add it to an album; use archive or hidden, and move them to the locked folder in "
            "Immich's app"
        )
    if text not in VISIBILITIES:
        raise ConfigError(f"{name} must be timeline, archive or hidden, not {shown(value)}")
    return text


FOLDER_ALBUMS = ("off", "folder", "path")


def parse_folder_albums(value: str, name: str) -> str:
    """``off`` (one album), ``folder`` (a subfolder's files go to the album of its own name) or
    ``path`` (of its path under the folder)."""
    text = value.strip().lower() or "off"
    if text in _FALSE:
        return "off"
    if text not in FOLDER_ALBUMS:
        raise ConfigError(f"{name} must be off, folder or path, not {shown(value)}")
    return text


MAX_TAG = 200  # characters of one tag's whole path: far more than anyone types


def parse_tag(value: str, name: str) -> str:
    """One tag as Immich keeps it: "/" nests (``Screens/2024`` is ``2024`` under ``Screens``),
    blanks around each part and empty parts dropped, as the server drops them."""
    if _CONTROL.search(value):
        raise ConfigError(f"{name} has a tag with a newline or another control character")
    tag = "/".join(part.strip() for part in value.split("/") if part.strip())
    if not tag:
        raise ConfigError(f"{name} has an empty tag name: {shown(value)}")
    if len(tag) > MAX_TAG:
        raise ConfigError(f"{name} has a tag of over {MAX_TAG} characters: {shown(value)}")
    return tag


def parse_tags(value: str, name: str) -> tuple[str, ...]:
    """Comma-separated tags (blanks between commas are nothing), each once."""
    names = [parse_tag(part, name) for part in value.split(",") if part.strip()]
    return tuple(dict.fromkeys(names))


def parse_ping_url(value: str, name: str) -> str | None:
    """A health-check URL (healthchecks.io's or a compatible one): http(s), kept as given but
    for a trailing slash, which would make its ``/start`` and ``/fail`` into ``//start``."""
    text = value.strip()
    if not text:
        return None
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # Never quoted: the URL itself is what lets anyone ping the check.
        raise ConfigError(f"{name} must be an http:// or https:// URL")
    if parts.fragment:
        raise ConfigError(f"{name} must not have a fragment (#...)")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ConfigError(f"{name} has an invalid port") from None
    return parts._replace(path=parts.path.rstrip("/")).geturl()
