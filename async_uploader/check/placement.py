"""``check``'s rows of where uploads go: the albums (one, or one per subfolder), their
visibility, their tags (and whether the key may put them), the date window, the health check.
Only says: no album is made, no tag, no ping sent."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from ..config import Config
from .rows import Level, Row

TAGGING = ("tag.create", "tag.asset")


def placement_rows(config: Config) -> list[Row]:
    rows = []
    if config.folder_albums == "off":
        rows.append(Row("albums", Level.OK, f"every file goes to {config.album!r}"))
    else:
        how = "its folder's name" if config.folder_albums == "folder" else "its path"
        rows.append(
            Row(
                "albums",
                Level.OK,
                f"a file in a subfolder goes to the album of {how} (made when missing); "
                f"the top level to {config.album!r}",
            )
        )
    if config.visibility != "timeline":
        rows.append(
            Row(
                "visibility",
                Level.OK,
                f"uploads go to the {config.visibility} (what the server had stays as it is)",
            )
        )
    if config.since is not None or config.until is not None:
        rows.append(Row("date window", Level.OK, _window(config.since, config.until)))
    if config.ping_url:
        host = urlsplit(config.ping_url).hostname or "?"
        rows.append(Row("health check", Level.OK, f"sync and watch ping {host}"))
    return rows


def _window(since: datetime | None, until: datetime | None) -> str:
    ends = []
    if since is not None:
        ends.append(f"from {since:%Y-%m-%d %H:%M}")
    if until is not None:
        ends.append(f"until before {until:%Y-%m-%d %H:%M:%S}")
    return "only files captured " + " ".join(ends) + " (local time)"


def tag_rows(config: Config, perms: list[str] | None) -> list[Row]:
    """Whether the key may tag (``perms``: its permissions, None when unknown)."""
    if not config.tags:
        return []
    tags = list(config.tags)
    if config.session_tag:  # this check's own start means nothing: each run has its own
        tags[-1] = "async-uploader/<each run's start>"
    shown = ", ".join(tags)
    if perms is None:
        return [Row("tags", Level.WARN, f"{shown}; cannot tell whether the key may tag")]
    lacking = [p for p in TAGGING if "all" not in perms and p not in perms]
    if lacking:
        return [
            Row(
                "tags",
                Level.WARN,
                f"{shown}: the key lacks {', '.join(lacking)}, so runs upload untagged (and "
                "keep the tags for later)",
                "give the key tag.create and tag.asset, or unset IMMICH_TAGS and "
                "IMMICH_SESSION_TAG",
            )
        ]
    return [Row("tags", Level.OK, f"{shown}; the key may tag")]
