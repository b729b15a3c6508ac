"""A streaming multipart/form-data reader that keeps part headers as raw bytes.

The real server (multer/busboy) reads a part's ``filename=`` as Latin-1 and re-decodes it as UTF-8,
keeps backslashes and strips everything before the last path separator. aiohttp's reader decodes
and unquotes headers its own way, so we parse the bytes ourselves; it also lets the link shaping
and fault injection act on exact byte counts. Nothing is ever held whole: part bodies stream.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

MAX_HEADER_BYTES = 16 * 1024


class MultipartError(Exception):
    """The body is not well-formed multipart/form-data."""


@dataclass(frozen=True)
class PartHeaders:
    name: str
    filename: str | None  # as busboy would give it, re-decoded as the real server does
    content_type: str | None


_PARAM_RE = re.compile(rb';\s*([A-Za-z0-9_*.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


def _busboy_name(raw: bytes) -> str:
    """Decode a raw ``filename=`` value the way Immich ends up storing it."""
    text = raw.decode("latin-1")
    # busboy (preservePath false) keeps only what follows the last / or \.
    text = re.split(r"[/\\]", text)[-1]
    # Immich then re-decodes the Latin-1 string as UTF-8 (mapToUploadFile).
    return text.encode("latin-1").decode("utf-8", errors="replace")


def _ext_name(value: bytes) -> str | None:
    """RFC 5987 ``filename*=UTF-8''...``: busboy decodes it; Immich's Latin-1 round trip breaks it."""
    try:
        charset, _, encoded = value.decode("latin-1").split("'", 2)
    except ValueError:
        return None
    decoded = unquote_to_bytes(encoded).decode(charset or "utf-8", errors="replace")
    decoded = re.split(r"[/\\]", decoded)[-1]
    return decoded.encode("latin-1", errors="replace").decode("utf-8", errors="replace")


def parse_part_headers(block: bytes) -> PartHeaders:
    name: str | None = None
    filename: str | None = None
    filename_ext: str | None = None
    content_type: str | None = None
    for line in block.split(b"\r\n"):
        key, sep, value = line.partition(b":")
        if not sep:
            continue
        key = key.strip().lower()
        if key == b"content-type":
            content_type = value.strip().decode("latin-1")
        elif key == b"content-disposition":
            for m in _PARAM_RE.finditer(value):
                pkey = m.group(1).lower()
                pval = m.group(2).strip()
                if pval.startswith(b'"') and pval.endswith(b'"') and len(pval) >= 2:
                    pval = pval[1:-1]
                if pkey == b"name":
                    name = pval.decode("utf-8", errors="replace")
                elif pkey == b"filename":
                    filename = _busboy_name(pval)
                elif pkey == b"filename*":
                    filename_ext = _ext_name(pval)
    if name is None:
        raise MultipartError("part without a name")
    return PartHeaders(name=name, filename=filename_ext or filename, content_type=content_type)


class MultipartStream:
    """Reads parts one after another from ``read`` (an awaitable giving b"" at the end)."""

    def __init__(self, read: Callable[[], Awaitable[bytes]], boundary: str) -> None:
        self._read = read
        self._delim = b"--" + boundary.encode("latin-1")
        self._body_delim = b"\r\n" + self._delim
        self._buf = b""
        self._eof = False
        self._in_part = False
        self._done = False
        self._started = False

    async def _fill(self) -> bool:
        if self._eof:
            return False
        chunk = await self._read()
        if not chunk:
            self._eof = True
            return False
        self._buf += chunk
        return True

    async def next_part(self) -> PartHeaders | None:
        """Skip what is left of the current part and return the next part's headers."""
        while self._in_part:
            await self.read_chunk()
        if self._done:
            return None
        if not self._started:
            # The preamble ends at the first delimiter.
            while (i := self._buf.find(self._delim)) < 0:
                if len(self._buf) > len(self._delim):
                    self._buf = self._buf[-len(self._delim) :]
                if not await self._fill():
                    raise MultipartError("no multipart boundary found")
            self._buf = self._buf[i + len(self._delim) :]
            self._started = True
        while len(self._buf) < 2:
            if not await self._fill():
                raise MultipartError("unexpected end of body")
        if self._buf.startswith(b"--"):
            self._done = True
            return None
        while (end := self._buf.find(b"\r\n\r\n")) < 0:
            if len(self._buf) > MAX_HEADER_BYTES:
                raise MultipartError("part headers too large")
            if not await self._fill():
                raise MultipartError("unexpected end of body")
        block = self._buf[:end]
        self._buf = self._buf[end + 4 :]
        if block.startswith(b"\r\n"):
            block = block[2:]
        self._in_part = True
        return parse_part_headers(block)

    async def read_chunk(self) -> bytes:
        """Next piece of the current part's body; b"" once the part has ended."""
        if not self._in_part:
            return b""
        keep = len(self._body_delim) - 1
        while True:
            i = self._buf.find(self._body_delim)
            if i >= 0:
                data = self._buf[:i]
                self._buf = self._buf[i + len(self._body_delim) :]
                self._in_part = False
                if not data:
                    return b""
                return data
            if len(self._buf) > keep:
                data = self._buf[:-keep]
                self._buf = self._buf[-keep:]
                return data
            if not await self._fill():
                raise MultipartError("unexpected end of body inside a part")

    async def read_part(self, limit: int) -> bytes:
        """The rest of the current part, refused past ``limit`` bytes (multer's field limit)."""
        out = bytearray()
        while chunk := await self.read_chunk():
            out += chunk
            if len(out) > limit:
                raise MultipartError("Field value too long")
        # read_chunk returns b"" for an empty part and at part end alike.
        return bytes(out)
