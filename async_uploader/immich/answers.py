"""Reading the server's answers: each JSON shape an uploader gets, checked and turned into plain
values, and an error answer's message. A shape no Immich server sends is ``Wrong`` (the client
names the endpoint); nothing the server sent goes into a later request unchecked (an id must be
a UUID, a page a number, a queue's name a word).
"""

from __future__ import annotations

import email.utils
import json
import re
from datetime import UTC, datetime
from typing import Any

from .models import Album, LinkResult, MediaTypes

# \Z, not $: "$" also matches before a final newline, and an id with one is no id.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
QUEUE_NAME = re.compile(r"[A-Za-z]{1,40}")
# An album's asset count past this is no count (verify sizes its listing by it).
MOST_ASSETS = 2**31


class Wrong(Exception):
    """What is wrong with an answer's shape; the client names the endpoint."""


def is_uuid(value: object) -> bool:
    return isinstance(value, str) and _UUID.fullmatch(value) is not None


def kind_name(data: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", type(None): "null"}.get(
        type(data), type(data).__name__
    )


def obj(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise Wrong(f"expected {what} as an object, got {kind_name(data)}")
    return data


def listed(data: Any, what: str) -> list[Any]:
    if not isinstance(data, list):
        raise Wrong(f"expected a list of {what}, got {kind_name(data)}")
    return data


def uuid(value: Any, what: str) -> str:
    """An id of the server's: it goes into later requests (an album's into URL paths)."""
    if not is_uuid(value):
        raise Wrong(f"{what} {value!r} is not a UUID")
    return str(value)


def album(a: Any) -> Album:
    a = obj(a, "an album")
    if not isinstance(a.get("albumName"), str):
        raise Wrong("an album without a name")
    count = a.get("assetCount", 0)
    created = a.get("createdAt", "")
    return Album(
        uuid(a.get("id"), "album id"),
        a["albumName"],
        created if isinstance(created, str) else "",
        count if type(count) is int and 0 <= count < MOST_ASSETS else 0,
    )


def albums(data: Any) -> list[Album]:
    return [album(a) for a in listed(data, "albums")]


def version(data: Any) -> tuple[int, int, int]:
    v = obj(data, "a version")
    try:
        return int(v["major"]), int(v["minor"]), int(v["patch"])
    except (KeyError, TypeError, ValueError):
        raise Wrong("no major, minor and patch numbers") from None


def media_types(data: Any) -> MediaTypes:
    data = obj(data, "the media types")
    kinds = {}
    for kind in ("image", "video"):
        value = data.get(kind, [])
        if not isinstance(value, list) or not all(isinstance(e, str) for e in value):
            raise Wrong(f"{kind} is not a list of extensions")
        kinds[kind] = frozenset(e.lower() for e in value)
    if not kinds["image"] and not kinds["video"]:
        raise Wrong("the server names no image or video types")
    return MediaTypes(kinds["image"], kinds["video"])


def permissions(data: Any) -> list[str]:
    perms = obj(data, "the key").get("permissions", [])
    return [str(p) for p in listed(perms, "permissions")]


def link_results(data: Any, asked: set[str]) -> list[LinkResult]:
    results = []
    for item in listed(data, "results"):
        if not isinstance(item, dict) or item.get("id") not in asked:
            raise Wrong("a result is not about an asset we sent")
        error = item.get("error")
        linked = item.get("success") is True or error == "duplicate"
        results.append(LinkResult(item["id"], linked, None if linked else str(error)))
    return results


def known(data: Any, asked: set[str]) -> dict[str, tuple[str, bool]]:
    """The bulk upload check: for each id asked about whose bytes the server has, (its asset
    id, whether that asset is in the trash)."""
    found: dict[str, tuple[str, bool]] = {}
    for result in listed(obj(data, "the results").get("results"), "results"):
        if not isinstance(result, dict) or result.get("id") not in asked:
            raise Wrong("a result is not about a file we asked about")
        if result.get("action") == "reject" and result.get("assetId") is not None:
            asset_id = uuid(result["assetId"], "asset id")
            found[result["id"]] = (asset_id, result.get("isTrashed") is True)
    return found


def album_page(data: Any) -> tuple[list[str], int | None]:
    assets = obj(obj(data, "the search results").get("assets"), "the assets found")
    ids = [
        uuid(obj(item, "an asset").get("id"), "asset id")
        for item in listed(assets.get("items"), "assets")
    ]
    following = assets.get("nextPage")
    if following is None:
        return ids, None
    if isinstance(following, str) and following.isdigit() and len(following) < 10:
        return ids, int(following)
    raise Wrong(f"a next page {str(following)[:40]!r} that is not a page number")


def tag_ids(data: Any, asked: list[str]) -> dict[str, str]:
    """PUT /tags (golden 47): the named tags, each {id, value, ...}; value -> id of those asked
    for (an answer naming a tag nobody asked for is left out)."""
    wanted = set(asked)
    out = {}
    for tag in listed(data, "tags"):
        tag = obj(tag, "a tag")
        value = tag.get("value")
        if isinstance(value, str) and value in wanted:
            out[value] = uuid(tag.get("id"), "tag id")
    return out


def tag_count(data: Any) -> int:
    """PUT /tags/assets (golden 47e): {"count": the pairs made now}."""
    count = obj(data, "the tagging's answer").get("count")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise Wrong(f"a count {str(count)[:40]!r} that is not a number of pairs")
    return count


def queues_v3(data: Any) -> dict[str, bool]:
    """GET /queues (golden-v3 45): [{name, isPaused, statistics}, ...]."""
    out = {}
    for q in listed(data, "queues"):
        q = obj(q, "a queue")
        if isinstance(q.get("name"), str):
            out[q["name"]] = q.get("isPaused") is True
    return out


def queues_v2(data: Any) -> dict[str, bool]:
    """GET /jobs (golden 45): {name: {queueStatus: {isPaused, isActive}, jobCounts}}."""
    return {
        name: obj(obj(v, "a job queue").get("queueStatus"), "a queue status").get("isPaused")
        is True
        for name, v in obj(data, "the job queues").items()
    }


def queue_paused_v3(data: Any) -> bool:
    return obj(data, "a queue").get("isPaused") is True


def queue_paused_v2(data: Any) -> bool:
    status = obj(obj(data, "a job queue").get("queueStatus"), "a queue status")
    return status.get("isPaused") is True


def trashed(data: Any) -> bool:
    return obj(data, "an asset").get("isTrashed") is True


def is_pong(body: bytes) -> bool:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and data.get("res") == "pong"


def upload_answer(raw: bytes) -> tuple[str | None, object]:
    """POST /assets' answer: (its asset id if that is a UUID, its status field)."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict):
        return None, None
    asset_id = data.get("id")
    return (asset_id if is_uuid(asset_id) else None), data.get("status")


# -- error answers ---------------------------------------------------------------------------
def error_message(body: bytes, reason: str) -> str:
    """The server's own message: a string or list in JSON; a proxy's HTML page reduced to text."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        text = re.sub(r"<[^>]+>", " ", body.decode("utf-8", "replace"))
        text = " ".join(text.split())[:200]
        return text or reason
    if isinstance(data, dict):
        message = data.get("message")
        issues = _issues(data.get("errors"))
        if issues:  # Immich 3 (zod): {"message": "Validation failed", "errors": [...]}
            return issues
        if isinstance(message, list):  # Immich 2 (class-validator): a list of sentences
            return "; ".join(str(m) for m in message)
        if message:
            return str(message)
    return reason


def _issues(errors: Any) -> str:
    """Immich 3's validation issues as one readable reason: "fileCreatedAt: Invalid input:
    expected ISO 8601 datetime string, received string; duration: ...", not a JSON dump."""
    if not isinstance(errors, list):
        return ""
    parts = []
    for issue in errors[:10]:
        if not isinstance(issue, dict):
            continue
        path = issue.get("path")
        where = ".".join(str(p) for p in path) if isinstance(path, list) else ""
        text = str(issue.get("message") or issue.get("code") or "invalid")
        parts.append(f"{where}: {text}" if where else text)
    return "; ".join(parts)[:500]


def retry_after(value: str | None) -> float | None:
    """Retry-After in seconds, or as an HTTP date (RFC 9110 allows both)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
