"""What ``verify`` found, as a table for people and as JSON, and its exit code."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import EXIT_OK, EXIT_PARTIAL
from ..text import counted, valid_utf8

SHOWN = 20  # files listed per kind of problem in the table (--json lists them all)


@dataclass(frozen=True)
class Finding:
    file: str
    asset_id: str | None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "asset_id": self.asset_id, "detail": self.detail}


@dataclass
class VerifyReport:
    server_url: str = ""
    album: str = ""
    album_id: str | None = None
    checked: int = 0  # records of uploaded files
    ok: int = 0  # on the server, not in the trash, in the album
    lost: list[Finding] = field(default_factory=list)  # the server no longer has the bytes
    trashed: list[Finding] = field(default_factory=list)
    not_in_album: list[Finding] = field(default_factory=list)
    unchecked: list[Finding] = field(default_factory=list)  # nothing to check it by
    changed: int = 0  # changed locally since its upload: the next sync sends it, not ours
    hashed: int = 0  # local files hashed for records without a checksum
    repair: bool = False
    forgotten: int = 0  # repaired: the next sync uploads them again
    linked: int = 0  # repaired: added to the album
    link_failed: int = 0
    duration_s: float = 0.0
    # Each album (the main one by its name) -> how many of its files are "ok", "not_in_album"
    albums: dict[str, dict[str, int]] = field(default_factory=dict)

    def count(self, album: str | None, what: str) -> None:
        counts = self.albums.setdefault(album or self.album, {"ok": 0, "not_in_album": 0})
        counts[what] += 1

    @property
    def problems(self) -> int:
        return len(self.lost) + len(self.trashed) + len(self.not_in_album) + len(self.unchecked)

    @property
    def exit_code(self) -> int:
        """0 when all is well, or (with --repair) all that was wrong is repaired: what the server
        lost waits for the next sync, and the album is whole. 1 otherwise."""
        if not self.repair:
            return EXIT_OK if not self.problems else EXIT_PARTIAL
        left = len(self.trashed) + len(self.unchecked) + self.link_failed
        return EXIT_OK if not left else EXIT_PARTIAL

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "server_url": self.server_url,
            "album": self.album,
            "album_id": self.album_id,
            "checked": self.checked,
            "ok": self.ok,
            "lost": [f.to_json() for f in self.lost],
            "trashed": [f.to_json() for f in self.trashed],
            "not_in_album": [f.to_json() for f in self.not_in_album],
            "unchecked": [f.to_json() for f in self.unchecked],
            "albums": dict(sorted(self.albums.items())),
            "changed_locally": self.changed,
            "hashed": self.hashed,
            "duration_s": round(self.duration_s, 3),
        }
        if self.repair:
            out["repaired"] = {
                "forgotten": self.forgotten,
                "linked": self.linked,
                "link_failed": self.link_failed,
            }
        return out

    def render(self) -> str:
        where = (
            f"{counted(len(self.albums), 'album')}"
            if len(self.albums) > 1
            else f"album {self.album!r}"
        )
        lines = [
            f"Verified {counted(self.checked, 'uploaded file')} against {self.server_url}, "
            f"{where}, in {self.duration_s:.1f} s:"
        ]
        rows = [
            ("ok", self.ok, "on the server, not in the trash, in its album"),
            ("lost", len(self.lost), self._lost_fix()),
            (
                "in the trash",
                len(self.trashed),
                "restore them in Immich (Trash), or empty it "
                "and run verify --repair to send them again",
            ),
            ("not in album", len(self.not_in_album), self._album_fix()),
            (
                "not checked",
                len(self.unchecked),
                "no checksum, no asset id, and no local file to hash",
            ),
        ]
        for name, n, what in rows:
            if n or name == "ok":
                lines.append(f"  {name:<13} {n:>9,}  {what}")
        if len(self.albums) > 1:
            for name, counts in sorted(self.albums.items())[:SHOWN]:
                lacking = counts["not_in_album"]
                lines.append(
                    f"    {name!r}: {counts['ok']:,} ok"
                    + (f", {lacking:,} not in it" if lacking else "")
                )
        if self.changed:
            lines.append(
                f"  {counted(self.changed, 'file')} changed locally since its upload (the next "
                "sync sends the new content; not checked)"
            )
        for name, found in (
            ("Lost", self.lost),
            ("In the trash", self.trashed),
            ("Not in the album", self.not_in_album),
            ("Not checked", self.unchecked),
        ):
            if not found:
                continue
            lines.append(f"{name}:")
            for f in found[:SHOWN]:
                what = f" ({f.detail})" if f.detail else ""
                lines.append(f"  {valid_utf8(f.file)}{what}")
            if len(found) > SHOWN:
                lines.append(f"  ... and {len(found) - SHOWN} more (--json lists all)")
        if not self.problems:
            lines.append("All is well.")
        elif self.repair:
            left = len(self.trashed) + len(self.unchecked) + self.link_failed
            lines.append(
                f"{counted(self.problems, 'problem')} found; "
                + (
                    f"{left} left to you."
                    if left
                    else "all repaired"
                    + ("; the next sync uploads what was lost." if self.forgotten else ".")
                )
            )
        else:
            lines.append(f"{counted(self.problems, 'problem')} found.")
        return "\n".join(lines)

    def _lost_fix(self) -> str:
        if self.repair:
            return f"forgotten: the next sync uploads {counted(self.forgotten, 'file')} again"
        return "no longer on the server (--repair: the next sync uploads them again)"

    def _album_fix(self) -> str:
        if self.repair:
            failed = f", {self.link_failed} failed" if self.link_failed else ""
            return f"linked {self.linked}{failed}"
        return "on the server, missing from the album (--repair links them)"
