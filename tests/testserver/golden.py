"""Reading the golden transcripts of real Immich servers: 2.7.5 (tests/testserver/data/golden) and 3.1.0
(tests/testserver/data/golden-v3)."""

from __future__ import annotations

import base64
import functools
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"
GOLDEN = DATA / "golden"
GOLDEN_V3 = DATA / "golden-v3"

# The test files of the golden run (shared/immich/golden/README.md).
FILES = {
    "screen1.png": base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAIAAACQkWg2AAAAFklEQVR4nGM4ISdHEmIY1TCqYfhqAADkYgQQ60fIxgAAAABJRU5ErkJggg=="
    ),
    "screen2.png": base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAIAAACQkWg2AAAAFklEQVR4nGOQOyFHEmIY1TCqYfhqAAA6YgQQA+qbMgAAAABJRU5ErkJggg=="
    ),
    "notes.txt": b"hello, not an image\n",
}


@dataclass
class Exchange:
    name: str
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    json_body: str | None = None
    form: list[tuple[str, str]] = field(default_factory=list)  # value "@file;type=..." for files
    status: int = 0
    response_headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    binary: bool = False  # the answer was not JSON (a thumbnail)


def parse(path: Path) -> Exchange:
    text = path.read_text(encoding="utf-8")
    command = text.split("## Command\n", 1)[1].split("\n", 1)[0]
    argv = shlex.split(command)
    assert argv[0] == "curl"
    ex = Exchange(name=path.stem, method="GET", path="")
    i = 1
    while i < len(argv):
        a = argv[i]
        if a == "-X":
            ex.method = argv[i + 1]
            i += 2
        elif a == "-H":
            k, _, v = argv[i + 1].partition(":")
            ex.headers[k.strip()] = v.strip()
            i += 2
        elif a == "-d":
            ex.json_body = argv[i + 1]
            i += 2
        elif a == "-F":
            k, _, v = argv[i + 1].partition("=")
            ex.form.append((k, v))
            i += 2
        elif a.startswith("http"):
            ex.path = re.sub(r"^https?://[^/]+", "", a)
            i += 1
        else:
            i += 1
    if (ex.form or ex.json_body is not None) and ex.method == "GET":
        ex.method = "POST"  # as curl does with -F or -d
    response = text.split("## Response", 1)[1].split("\n", 1)[1]
    response = response.split("\n## ", 1)[0]  # later sections: curl timings, a binary body
    while response.startswith("HTTP/1.1 100"):  # an interim 100 Continue before the answer
        response = response.split("\n\n", 1)[1]
    head, _, body = response.partition("\n\n")
    lines = head.strip().split("\n")
    ex.status = int(lines[0].split()[1])
    for line in lines[1:]:
        k, _, v = line.partition(":")
        ex.response_headers[k.strip().lower()] = v.strip()
    body = body.strip()
    if "## Body" in text:  # a binary body, described, not shown
        ex.binary = True
        body = ""
    ex.body = json.loads(body) if body else None
    return ex


# Cases captured on 2026-12-06 as a user of their own, on both servers (golden/README.md,
# "Captured 2026-12-06"): tags, visibility, albums by asset, queues. Replayed apart
# (test_golden_users.py), each on a fresh server, as they were captured.
USER_CASES = ("47", "48", "49", "50", "51")


def exchanges(folder: Path = GOLDEN, user_cases: bool = False) -> list[Exchange]:
    """In the order they were captured: by name, each ``-with-device-fields`` twin right after
    the case it repeats (golden-v3/README.md); the cases of ``USER_CASES``, or all the others."""

    def order(p: Path) -> tuple[str, int]:
        twin = p.stem.endswith("-with-device-fields")
        return (p.stem.removesuffix("-with-device-fields"), twin)

    return [
        parse(p)
        for p in sorted(folder.glob("*.txt"), key=order)
        if p.name != "test-files.txt" and p.name.startswith(USER_CASES) == user_cases
    ]


def v3_big_checksums() -> dict[str, str]:
    """big.png's SHA-1 in the capture (hex and base64) -> our stand-in's, for the replay to
    translate in requests and back in answers."""
    import hashlib

    text = (GOLDEN_V3 / "test-files.txt").read_text().split("\n## big.png", 1)[1]
    real_hex = text.split("SHA-1 hex:", 1)[1].split()[0]
    real_b64 = text.split("SHA-1 base64:", 1)[1].split()[0]
    digest = hashlib.sha1(v3_files()["big.png"]).digest()
    return {real_hex: digest.hex(), real_b64: base64.b64encode(digest).decode()}


@functools.cache
def v3_files() -> dict[str, bytes]:
    """The files of the 3.1.0 capture, rebuilt from golden-v3/test-files.txt; big.png (50 MiB of
    random bytes, not kept there) is stood in for by as many seeded random bytes."""
    import random

    text = (GOLDEN_V3 / "test-files.txt").read_text()
    files = {}
    for section in text.split("\n## ")[1:]:
        name, _, rest = section.partition("\n")
        for line in rest.splitlines():
            if line.startswith("bytes (base64):"):
                files[name.strip()] = base64.b64decode(line.split(":", 1)[1].strip())
    files.setdefault("notes.txt", b"hello, not an image\n")
    files.setdefault("empty.png", b"")
    files["big.png"] = random.Random(50).randbytes(52_428_800)
    return files
