"""Reading the golden transcripts of a real Immich 2.7.5 server (tests/data/golden)."""

from __future__ import annotations

import base64
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"
GOLDEN = DATA / "golden"

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
    if ex.form and ex.method == "GET":
        ex.method = "POST"
    response = text.split("## Response", 1)[1].split("\n", 1)[1]
    head, _, body = response.partition("\n\n")
    lines = head.strip().split("\n")
    ex.status = int(lines[0].split()[1])
    for line in lines[1:]:
        k, _, v = line.partition(":")
        ex.response_headers[k.strip().lower()] = v.strip()
    body = body.strip()
    ex.body = json.loads(body) if body else None
    return ex


def exchanges() -> list[Exchange]:
    return [parse(p) for p in sorted(GOLDEN.glob("*.txt"))]
