"""When was a screenshot taken? From its name, else its birth time, else its mtime.

And the XMP sidecar that makes Immich show an EXIF-less screenshot at its local time: without
metadata carrying an offset, Immich shows a PNG at its UTC wall clock (a 12:00 screenshot taken in
UTC+2 appears at 10:00; shared/immich/REAL-SERVER-NOTES.md). Reads the file at most for a few
header bytes, and never writes it.
"""

from __future__ import annotations

import io
import os
import re
import stat
import struct
from datetime import datetime
from typing import BinaryIO

from .files import LocalFile

# (family, pattern). Every pattern captures year, month, day, hour, minute, second; macOS's
# also an optional AM/PM.
_D = r"(?P<y>(?:19|20)\d\d)"
PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    # macOS in any language: "Screenshot 2024-05-01 at 12.00.00", "Screen Shot 2024-05-07 at
    # 9.41.00 PM", "Bildschirmfoto 2024-05-04 um 08.15.00", "スクリーンショット 2024-05-06 11.11.11"
    (
        "macOS",
        re.compile(
            _D
            + r"-(?P<mo>\d\d)-(?P<d>\d\d)\D{1,6}?(?P<h>\d{1,2})[.:](?P<mi>\d\d)[.:](?P<s>\d\d)(?:\s?(?P<ampm>[AaPp][Mm]))?"
        ),
    ),
    # GNOME "Screenshot from 2024-05-03 18-22-04", Flameshot "2024-05-03_18-22-04", MIUI
    # "Screenshot_2024-05-03-18-22-04-123_com.app"
    (
        "GNOME",
        re.compile(_D + r"-(?P<mo>\d\d)-(?P<d>\d\d)[ _-](?P<h>\d\d)-(?P<mi>\d\d)-(?P<s>\d\d)"),
    ),
    # Windows 11 Snipping Tool "Screenshot 2024-05-03 182204"
    (
        "Windows",
        re.compile(_D + r"-(?P<mo>\d\d)-(?P<d>\d\d) (?P<h>\d\d)(?P<mi>\d\d)(?P<s>\d\d)(?!\d)"),
    ),
    # Android "Screenshot_20240502-093012", KDE Spectacle "Screenshot_20240503_182204",
    # ShareX "Screenshot_20240503-182204"
    (
        "Android/KDE",
        re.compile(
            r"(?<!\d)" + _D + r"(?P<mo>\d\d)(?P<d>\d\d)[-_](?P<h>\d\d)(?P<mi>\d\d)(?P<s>\d\d)(?!\d)"
        ),
    ),
    # Steam "20240503182204_1"
    (
        "Steam",
        re.compile(
            r"(?<!\d)"
            + _D
            + r"(?P<mo>\d\d)(?P<d>\d\d)(?P<h>\d\d)(?P<mi>\d\d)(?P<s>\d\d)(?:_\d+)?(?!\d)"
        ),
    ),
]


def time_from_name(name: str) -> datetime | None:
    """The time a screenshot's name carries, in the local zone, or None."""
    for _, pattern in PATTERNS:
        for m in pattern.finditer(name):
            hour = int(m["h"])
            ampm = m.groupdict().get("ampm")
            if ampm:
                if not 1 <= hour <= 12:
                    continue
                hour = hour % 12 + (12 if ampm.lower() == "pm" else 0)
            try:
                naive = datetime(
                    int(m["y"]), int(m["mo"]), int(m["d"]), hour, int(m["mi"]), int(m["s"])
                )
            except ValueError:
                continue  # 2024-13-45: not a date
            return naive.astimezone()  # the local zone, with its offset on that date
    return None


def capture_time(f: LocalFile) -> tuple[datetime, str]:
    """(when, from what): the name's time, else the birth time, else the mtime."""
    named = time_from_name(f.name)
    if named is not None:
        return named, "name"
    if f.birth_ns is not None:
        return f.created, "birth time"
    return f.modified, "mtime"


def find_sidecar(path: str) -> str | None:
    """A user's own sidecar: ``name.xmp`` or ``name.ext.xmp`` (either case); a symlink is
    returned as one (not followed here), for the caller to decide on. Strings, not Paths: this
    runs for every file, and on Python 3.11 each Path made interns its name."""
    folder, name = os.path.split(path)
    dot = name.rfind(".")
    stem = name[:dot] if 0 < dot < len(name) - 1 else name  # as Path.with_suffix takes it off
    for sidecar in (stem + ".xmp", stem + ".XMP", name + ".xmp", name + ".XMP"):
        candidate = os.path.join(folder, sidecar)
        try:
            mode = os.lstat(candidate).st_mode
        except OSError:  # none, or a name too long for the file system (a 255-byte name + .xmp)
            continue
        if stat.S_ISREG(mode) or stat.S_ISLNK(mode):
            return candidate
    return None


_PNG_DATE_KEYS = (b"Creation Time", b"XML:com.adobe.xmp", b"create-date", b"date:create")
_NO_METADATA_TYPES = frozenset({".png", ".webp", ".gif", ".bmp"})


def has_own_date(path: str | os.PathLike[str], data: bytes | None = None) -> bool:
    """Whether the file carries date metadata of its own. Camera formats (JPEG, HEIC, raw, video)
    are taken to; screenshot formats are looked at (PNG and WebP chunks), GIF and BMP have none.
    ``data``: the file's bytes when they are in memory already."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in _NO_METADATA_TYPES:
        return True
    if suffix not in (".png", ".webp"):
        return False
    try:
        with io.BytesIO(data) if data is not None else open(path, "rb") as fh:
            return _png_has_date(fh) if suffix == ".png" else _webp_has_metadata(fh)
    except OSError:
        return True  # unreadable now: the upload will say so; do not add a sidecar


def _png_has_date(f: BinaryIO) -> bool:
    if f.read(8) != b"\x89PNG\r\n\x1a\n":
        return False
    while header := f.read(8):
        if len(header) < 8:
            return False
        length, kind = struct.unpack(">I4s", header)
        if kind == b"eXIf":
            return True
        if kind in (b"tEXt", b"iTXt", b"zTXt"):
            keyword = f.read(min(length, 80)).split(b"\x00", 1)[0]
            if keyword in _PNG_DATE_KEYS:
                return True
            f.seek(length - min(length, 80) + 4, 1)
            continue
        if kind == b"IEND":
            return False
        f.seek(length + 4, 1)  # data and CRC
    return False


def _webp_has_metadata(f: BinaryIO) -> bool:
    head = f.read(12)
    if head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        return False
    while chunk := f.read(8):
        if len(chunk) < 8:
            return False
        kind, length = chunk[:4], struct.unpack("<I", chunk[4:])[0]
        if kind in (b"EXIF", b"XMP "):
            return True
        f.seek(length + (length & 1), 1)
    return False


def make_xmp(when: datetime) -> bytes:
    """An XMP sidecar whose dates carry the local offset, so Immich shows the local time."""
    stamp = when.astimezone().isoformat(timespec="seconds")
    return f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="async-uploader">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:exif="http://ns.adobe.com/exif/1.0/"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/">
   <exif:DateTimeOriginal>{stamp}</exif:DateTimeOriginal>
   <xmp:CreateDate>{stamp}</xmp:CreateDate>
   <photoshop:DateCreated>{stamp}</photoshop:DateCreated>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>
""".encode()
