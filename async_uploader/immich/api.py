"""The Immich API: every path, status code and field an uploader uses, as typed calls.

It turns answers into plain values (``Album``, ``UploadAnswer``, ``LinkResult``) and error answers
into ``ApiError`` / ``AuthRejected`` / ``Redirected`` / ``BadAnswer``; callers never see a status
code, header or URL path. The bytes move through ``transport`` (the only aiohttp user).
Uploads are multipart bodies we write ourselves, streamed from disk: text fields first (the server's
type check only sees fields that arrived before the file part), the exact local name in a
``filename`` field, a Content-Length, and SHA-1 computed on the way.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import os
import random
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiofiles
import anyio

from ..config import Secret
from ..errors import ApiError, AuthRejected, BadAnswer, Redirected, TransportError
from ..files import opener
from ..outcomes import Outcome
from .transport import Answer, Session, exchange

log = logging.getLogger(__name__)
T = TypeVar("T")

CHUNK = 256 * 1024
_BOUNDARY_BITS = random.Random(os.urandom(32))  # seeded once from the kernel
SMALL_FILE = 1024 * 1024  # read whole in one go: concurrency x this at most in memory
# The largest JSON answer read: an album list of ~16,000 albums. A bigger one is no Immich
# answer we need, and reading it whole could take the machine's memory.
MAX_JSON_ANSWER = 16 * 1024 * 1024
MAX_ERROR_BODY = 64 * 1024  # of an error answer, only the message is wanted
REDIRECTS = frozenset({301, 302, 303, 307, 308})
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@dataclass(frozen=True)
class MediaTypes:
    image: frozenset[str]
    video: frozenset[str]

    def accepts(self, suffix: str) -> bool:
        s = suffix.lower()
        return s in self.image or s in self.video


@dataclass(frozen=True)
class Album:
    id: str
    name: str
    created_at: str
    asset_count: int


@dataclass(frozen=True)
class UploadAnswer:
    status: Outcome  # CREATED, DUPLICATE or REJECTED
    asset_id: str | None
    message: str = ""
    checksum: str | None = None  # hex SHA-1 of the bytes sent, when they were all read
    refused_with: int | None = None  # REJECTED: the HTTP status (413: a proxy's body limit)
    url: str = ""  # the base URL that answered


@dataclass(frozen=True)
class UploadRequest:
    path: str  # the file's full path
    filename: str
    size: int
    device_asset_id: str
    device_id: str
    file_created_at: str
    file_modified_at: str
    checksum: str | None = None  # sent as x-immich-checksum when known
    mtime_ns: int | None = None  # as scanned; a different one after sending means it changed
    sidecar: tuple[str, bytes] | None = None  # (name, XMP bytes) sent as sidecarData
    data: bytes | None = field(default=None, repr=False)  # a small file's bytes, already read
    follow_symlinks: bool = False  # else the file is opened only if it is no symlink


@dataclass(frozen=True)
class LinkResult:
    asset_id: str
    linked: bool  # in the album now (added, or already there)
    error: str | None


class FileChanged(Exception):
    """The file changed while it was being sent (its size, or its mtime once sent)."""

    def __init__(self, path: str, asset_id: str | None = None) -> None:
        super().__init__(path)
        self.asset_id = asset_id  # what the server made of the mixed bytes, if it answered


def _error_message(body: bytes, reason: str) -> str:
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


def _correlation_id(answer: Answer) -> str:
    """The server's id of this request, for a --debug line that a server log can be matched to
    (Immich 3: X-Correlation-ID; 2.x: x-immich-cid)."""
    cid = answer.headers.get("x-correlation-id") or answer.headers.get("x-immich-cid")
    return f" [cid {cid[:32]}]" if cid else ""


def _kind(data: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", type(None): "null"}.get(
        type(data), type(data).__name__
    )


def _retry_after(value: str | None) -> float | None:
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


def _quote_header_value(name: str) -> str:
    # Raw UTF-8 in filename="..." is what the server decodes right (REAL-SERVER-NOTES.md);
    # only the characters that would break the header are escaped, as browsers do.
    return name.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def build_multipart(
    fields: list[tuple[str, str]],
    file_field: str,
    filename: str,
    content_type: str,
    sidecar: tuple[str, bytes] | None = None,
) -> tuple[str, bytes, bytes]:
    """(boundary, everything before the file bytes, everything after them).

    The order is Immich's: the server type-checks each file part against the ``filename`` field if
    that came before it, so the sidecar goes after the other text fields but before ``filename``,
    and the asset last (shared/immich/REAL-SERVER-NOTES.md, "Sidecars and the filename field").
    """
    # 128 random bits from a generator seeded once (uuid4 asks the kernel each time: a system call
    # per upload); a boundary only has to be absent from the parts it separates.
    boundary = f"----async-uploader-{_BOUNDARY_BITS.getrandbits(128):032x}"

    def text(name: str, value: str) -> bytes:
        disposition = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
        return disposition.encode() + value.encode() + b"\r\n"

    def file_header(name: str, fname: str, ctype: str) -> bytes:
        return (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{_quote_header_value(fname)}"\r\nContent-Type: {ctype}\r\n\r\n'
        ).encode()

    head = bytearray()
    for name, value in fields:
        if name != "filename":
            head += text(name, value)
    if sidecar is not None:
        head += file_header("sidecarData", sidecar[0], "application/rdf+xml") + sidecar[1] + b"\r\n"
    for name, value in fields:
        if name == "filename":
            head += text(name, value)
    head += file_header(file_field, filename, content_type)
    tail = f"\r\n--{boundary}--\r\n".encode()
    return boundary, bytes(head), tail


class Progress:
    """Bytes sent so far, and the stall deadline: each byte that moves pushes the cancel scope's
    deadline stall_timeout further on, so an upload that stops moving is cancelled by its own
    scope (no watchdog task per upload)."""

    def __init__(self, scope: anyio.CancelScope, stall_timeout: float) -> None:
        self.scope = scope
        self.stall_timeout = stall_timeout
        self.sent = 0
        self.touch()

    def touch(self, nbytes: int = 0) -> None:
        self.sent += nbytes
        self.scope.deadline = anyio.current_time() + self.stall_timeout


class RateCap:
    """One cap on the upload bytes of every stream together (``--max-rate``). Each piece
    reserves its slot on one timeline and is sent at the end of it, so the bytes sent by any
    moment never exceed rate x time, however many streams share it. Pieces are a twentieth of a
    second of the rate: the streams take turns smoothly, and a wait is short. Waiting is not a
    stall: the upload's stall deadline moves on while it waits."""

    def __init__(self, bytes_per_second: float) -> None:
        self.rate = bytes_per_second
        self.piece = max(4096, min(CHUNK, int(bytes_per_second / 20)))
        self._next_free = 0.0

    async def take(self, nbytes: int, progress: Progress) -> None:
        now = anyio.current_time()
        end = self._next_free = max(self._next_free, now) + nbytes / self.rate
        while (left := end - anyio.current_time()) > 0:
            await anyio.sleep(min(left, 0.25))
            progress.touch()


async def ping(session: Session, base_url: str) -> None:
    """GET /api/server/ping; raises TransportError, Redirected or ApiError. No key is sent."""
    endpoint = "/api/server/ping"
    answer = await exchange(
        session,
        "GET",
        base_url + endpoint,
        endpoint,
        cap=MAX_ERROR_BODY,
        error_cap=MAX_ERROR_BODY,
        ok=frozenset({200}),
    )
    if answer.status in REDIRECTS:
        raise Redirected(base_url, answer.status, answer.headers.get("location", ""))
    if answer.status != 200:
        raise ApiError("GET", endpoint, answer.status, f"HTTP {answer.status}")
    try:
        data = json.loads(answer.body)
        ok = isinstance(data, dict) and data.get("res") == "pong"
    except ValueError:
        ok = False
    if not ok:
        raise ApiError("GET", endpoint, 200, "answer is not Immich's pong")


def read_whole(path: str, size: int, follow_symlinks: bool = False) -> bytes:
    """The file's bytes (for a small file), in one worker-thread call; FileChanged if its size is
    no longer the one scanned."""
    with open(path, "rb", opener=opener(follow_symlinks)) as fh:
        data = fh.read(size + 1)
    if len(data) != size:
        raise FileChanged(str(path))
    return data


class _InMemory:
    """A small file's bytes, read whole: chunks come from memory, no thread per chunk."""

    def __init__(self, path: str, data: bytes) -> None:
        self.path, self.view, self.pos = path, memoryview(data), 0

    async def read(self, n: int) -> bytes | memoryview:
        chunk = self.view[self.pos : self.pos + n]
        self.pos += len(chunk)
        return chunk

    def stat(self) -> os.stat_result:
        return os.stat(self.path)  # after sending: a changed size or mtime means it was rewritten


class _Streamed:
    """A larger file, read chunk by chunk from the open handle."""

    def __init__(self, fh: Any) -> None:
        self.fh = fh

    async def read(self, n: int) -> bytes:
        return await self.fh.read(n)  # type: ignore[no-any-return]

    def stat(self) -> os.stat_result:
        return os.fstat(self.fh.fileno())


class _Wrong(Exception):
    """What is wrong with an answer's shape; ``ImmichClient._call`` names the endpoint."""


def _obj(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _Wrong(f"expected {what} as an object, got {_kind(data)}")
    return data


def _list(data: Any, what: str) -> list[Any]:
    if not isinstance(data, list):
        raise _Wrong(f"expected a list of {what}, got {_kind(data)}")
    return data


def _uuid(value: Any, what: str) -> str:
    """An id of the server's: it goes into later requests (an album's into URL paths)."""
    if not isinstance(value, str) or not _UUID.match(value):
        raise _Wrong(f"{what} {value!r} is not a UUID")
    return value


def _album(a: Any) -> Album:
    a = _obj(a, "an album")
    if not isinstance(a.get("albumName"), str):
        raise _Wrong("an album without a name")
    count = a.get("assetCount", 0)
    created = a.get("createdAt", "")
    return Album(
        _uuid(a.get("id"), "album id"),
        a["albumName"],
        created if isinstance(created, str) else "",
        count if isinstance(count, int) else 0,
    )


def _version(data: Any) -> tuple[int, int, int]:
    v = _obj(data, "a version")
    try:
        return int(v["major"]), int(v["minor"]), int(v["patch"])
    except (KeyError, TypeError, ValueError):
        raise _Wrong("no major, minor and patch numbers") from None


def _media_types(data: Any) -> MediaTypes:
    data = _obj(data, "the media types")
    kinds = {}
    for kind in ("image", "video"):
        value = data.get(kind, [])
        if not isinstance(value, list) or not all(isinstance(e, str) for e in value):
            raise _Wrong(f"{kind} is not a list of extensions")
        kinds[kind] = frozenset(e.lower() for e in value)
    if not kinds["image"] and not kinds["video"]:
        raise _Wrong("the server names no image or video types")
    return MediaTypes(kinds["image"], kinds["video"])


def _permissions(data: Any) -> list[str]:
    perms = _obj(data, "the key").get("permissions", [])
    return [str(p) for p in _list(perms, "permissions")]


def _link_results(data: Any, asked: set[str]) -> list[LinkResult]:
    results = []
    for item in _list(data, "results"):
        if not isinstance(item, dict) or item.get("id") not in asked:
            raise _Wrong("a result is not about an asset we sent")
        error = item.get("error")
        linked = item.get("success") is True or error == "duplicate"
        results.append(LinkResult(item["id"], linked, None if linked else str(error)))
    return results


def _known(data: Any, asked: set[str]) -> dict[str, tuple[str, bool]]:
    known: dict[str, tuple[str, bool]] = {}
    for result in _list(_obj(data, "the results").get("results"), "results"):
        if not isinstance(result, dict) or result.get("id") not in asked:
            raise _Wrong("a result is not about a file we asked about")
        if result.get("action") == "reject" and result.get("assetId") is not None:
            asset_id = _uuid(result["assetId"], "asset id")
            known[result["id"]] = (asset_id, result.get("isTrashed") is True)
    return known


def _album_page(data: Any) -> tuple[list[str], int | None]:
    assets = _obj(_obj(data, "the search results").get("assets"), "the assets found")
    ids = [
        _uuid(_obj(item, "an asset").get("id"), "asset id")
        for item in _list(assets.get("items"), "assets")
    ]
    following = assets.get("nextPage")
    if following is None:
        return ids, None
    if isinstance(following, str) and following.isdigit() and len(following) < 10:
        return ids, int(following)
    raise _Wrong(f"a next page {str(following)[:40]!r} that is not a page number")


def _queues_v3(data: Any) -> dict[str, bool]:
    """GET /queues (golden-v3 45): [{name, isPaused, statistics}, ...]."""
    out = {}
    for q in _list(data, "queues"):
        q = _obj(q, "a queue")
        if isinstance(q.get("name"), str):
            out[q["name"]] = q.get("isPaused") is True
    return out


def _queues_v2(data: Any) -> dict[str, bool]:
    """GET /jobs (golden 45): {name: {queueStatus: {isPaused, isActive}, jobCounts}}."""
    return {
        name: _obj(_obj(v, "a job queue").get("queueStatus"), "a queue status").get("isPaused")
        is True
        for name, v in _obj(data, "the job queues").items()
    }


def _queue_paused_v3(data: Any) -> bool:
    return _obj(data, "a queue").get("isPaused") is True


def _queue_paused_v2(data: Any) -> bool:
    status = _obj(_obj(data, "a job queue").get("queueStatus"), "a queue status")
    return status.get("isPaused") is True


_QUEUE_NAME = re.compile(r"[A-Za-z]{1,40}")


def _trashed(data: Any) -> bool:
    return _obj(data, "an asset").get("isTrashed") is True


class ImmichClient:
    """The calls an uploader makes, against one server."""

    def __init__(
        self,
        session: Session,
        base_url: str,
        api_key: Secret,
        stall_timeout: float = 60.0,
        request_timeout: float = 30.0,
        max_rate: float = 0.0,
    ) -> None:
        self.session = session
        self.cap = RateCap(max_rate) if max_rate > 0 else None  # shared by every upload
        self.base_url = base_url
        self._api = base_url + "/api"
        self._api_key = api_key
        self.stall_timeout = stall_timeout
        # The server's major version, once known (``version``): Immich 3 defines no
        # deviceAssetId/deviceId, so none are sent to it (3.1 drops unknown fields today, but
        # nothing promises a later 3.x will).
        self.major: int | None = None
        # A JSON call's whole exchange, first byte to last: a server that drips its answer a
        # byte at a time keeps a socket-read timeout happy forever, never this.
        self.request_timeout = request_timeout

    def switch(self, base_url: str) -> None:
        """Talk to the same server at another of its configured URLs from now on."""
        self.base_url = base_url
        self._api = base_url + "/api"

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"x-api-key": self._api_key.reveal(), "Accept": "application/json"}
        if extra:
            headers.update(extra)
        return headers

    def _api_error(
        self,
        method: str,
        endpoint: str,
        status: int,
        body: bytes,
        reason: str,
        retry_after: str | None = None,
    ) -> ApiError:
        """An error answer as our exception: a 401 is the key refused (said once, here), and no
        server's message reaches a log or a file with the key in it, whatever it echoed."""
        message = self._api_key.scrub(_error_message(body, reason))
        if status == 401:
            raise AuthRejected(f"API key rejected by {self.base_url}: {message}")
        return ApiError(method, endpoint, status, message, _retry_after(retry_after))

    async def _json(self, method: str, endpoint: str, payload: Any = None) -> Any:
        """The JSON answer to ``/api`` + ``endpoint``; errors name that whole path."""
        endpoint = "/api" + endpoint
        log.debug("%s %s", method, endpoint)
        try:
            with anyio.fail_after(self.request_timeout):
                _status, body = await self._exchange(method, endpoint, payload)
        except TimeoutError:
            why = f"no complete answer in {self.request_timeout:g} s (IMMICH_REQUEST_TIMEOUT)"
            raise TransportError(method, endpoint, why, server_gone=True) from None
        if not body:
            return None
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError):
            text = self._api_key.scrub(_error_message(body, ""))[:80]
            raise BadAnswer(method, endpoint, f"the answer is not JSON: {text!r}") from None

    async def _exchange(self, method: str, endpoint: str, payload: Any) -> tuple[int, bytes]:
        answer = await exchange(
            self.session,
            method,
            self.base_url + endpoint,
            endpoint,
            headers=self._headers(),
            json=payload,
            cap=MAX_JSON_ANSWER,
            error_cap=MAX_ERROR_BODY,
        )
        cid = _correlation_id(answer)
        if answer.status in REDIRECTS:
            location = self._api_key.scrub(answer.headers.get("location", ""))
            raise Redirected(self.base_url, answer.status, location)
        if answer.status >= 300:
            log.debug("%s %s -> %s%s", method, endpoint, answer.status, cid)
            raise self._api_error(
                method,
                endpoint,
                answer.status,
                answer.body,
                answer.reason,
                answer.headers.get("retry-after"),
            )
        log.debug(
            "%s %s -> %s (%d bytes)%s", method, endpoint, answer.status, len(answer.body), cid
        )
        return answer.status, answer.body

    async def _call(
        self, method: str, endpoint: str, read: Callable[[Any], T], payload: Any = None
    ) -> T:
        """``read`` (a parser of this module) of the JSON answer; a shape it does not accept is
        one BadAnswer naming the endpoint."""
        data = await self._json(method, endpoint, payload)
        try:
            return read(data)
        except _Wrong as exc:  # it may quote the answer, and the answer may quote the key
            raise BadAnswer(method, "/api" + endpoint, self._api_key.scrub(str(exc))) from None

    # -- identity and capabilities ---------------------------------------------------------------
    async def check_key(self) -> dict[str, Any]:
        """GET /users/me; a 401 (or a 403: the key may not even read its own user) is
        AuthRejected."""
        try:
            return await self._call("GET", "/users/me", lambda d: _obj(d, "the user"))
        except ApiError as exc:
            if exc.status == 403:
                raise AuthRejected(f"API key rejected by {self.base_url}: {exc.message}") from exc
            raise

    async def key_permissions(self) -> list[str]:
        """GET /api-keys/me (Immich 1.139+): the scopes of the key in use."""
        return await self._call("GET", "/api-keys/me", _permissions)

    async def maintenance_mode(self) -> bool:
        data = await self._json("GET", "/server/config")
        return bool(data.get("maintenanceMode")) if isinstance(data, dict) else False

    async def version(self) -> tuple[int, int, int]:
        """GET /server/version; remembered, for what uploads send."""
        version = await self._call("GET", "/server/version", _version)
        self.major = version[0]
        return version

    async def media_types(self) -> MediaTypes:
        return await self._call("GET", "/server/media-types", _media_types)

    # -- albums --------------------------------------------------------------------------------
    async def list_albums(self) -> list[Album]:
        return await self._call("GET", "/albums", lambda d: [_album(a) for a in _list(d, "albums")])

    async def create_album(self, name: str) -> Album:
        return await self._call("POST", "/albums", _album, {"albumName": name})

    async def add_to_album(self, album_id: str, asset_ids: list[str]) -> list[LinkResult]:
        """PUT /albums/{id}/assets; a result for each id the server answered about (an id it
        did not mention is simply not linked)."""
        asked = set(asset_ids)
        return await self._call(
            "PUT",
            f"/albums/{album_id}/assets",
            lambda d: _link_results(d, asked),
            {"ids": asset_ids},
        )

    async def album_page(
        self, album_id: str, page: int, size: int = 1000
    ) -> tuple[list[str], int | None]:
        """One page of the album's assets, the trashed ones too (POST /search/metadata, as
        golden 46c): their ids, and the next page's number (None after the last)."""
        payload = {"albumIds": [album_id], "page": page, "size": size, "withDeleted": True}
        return await self._call("POST", "/search/metadata", _album_page, payload)

    async def asset_trashed(self, asset_id: str) -> bool | None:
        """GET /assets/{id}: whether the asset is in the trash; None when the server has no
        such asset (it answers 400 "Not found or no asset.read access", golden 46f)."""
        try:
            return await self._call("GET", f"/assets/{_uuid(asset_id, 'asset id')}", _trashed)
        except ApiError as exc:
            if exc.status in (400, 404):
                return None
            raise
        except _Wrong as exc:  # an asset id of ours that is not one: not on the server
            log.debug("asset id %s: %s", asset_id[:40], exc)
            return None

    # -- the server's job queues (an admin's key) ----------------------------------------------
    async def queue_states(self) -> dict[str, bool]:
        """Every job queue of the server: name -> paused. GET /queues in 3.x, GET /jobs in 2.x
        (golden-v3 45, golden 45); 403 for a key that is not an admin's."""
        if self.major is not None and self.major >= 3:
            return await self._call("GET", "/queues", _queues_v3)
        return await self._call("GET", "/jobs", _queues_v2)

    async def pause_queue(self, name: str, paused: bool) -> bool:
        """Pause (or resume) one queue; whether the server says it is paused now. 3.x: PUT
        /queues/{name} {isPaused}; 2.x: PUT /jobs/{name} {command: pause|resume, force}."""
        if not _QUEUE_NAME.fullmatch(name):
            raise ValueError(f"not a queue name: {name[:40]!r}")
        if self.major is not None and self.major >= 3:
            payload: dict[str, Any] = {"isPaused": paused}
            return await self._call("PUT", f"/queues/{name}", _queue_paused_v3, payload)
        payload = {"command": "pause" if paused else "resume", "force": False}
        return await self._call("PUT", f"/jobs/{name}", _queue_paused_v2, payload)

    # -- duplicates ---------------------------------------------------------------------------
    async def bulk_check(self, items: list[tuple[str, str]]) -> dict[str, tuple[str, bool]]:
        """POST /assets/bulk-upload-check for (id, sha1) pairs; returns, for each id the server
        already has, (its asset id, whether that asset is in the trash)."""
        asked = {i for i, _ in items}
        payload = {"assets": [{"id": i, "checksum": c} for i, c in items]}
        return await self._call(
            "POST", "/assets/bulk-upload-check", lambda d: _known(d, asked), payload
        )

    # -- upload --------------------------------------------------------------------------------
    async def upload(
        self, req: UploadRequest, on_bytes: Callable[[int], None] | None = None
    ) -> UploadAnswer:
        """POST /assets, streamed from disk.

        Raises TransportError / ApiError (5xx, 408, 429) for retryable failures, FileChanged when
        the file's size moved under us, OSError when it cannot be opened; any other 4xx answer is a
        REJECTED outcome carrying the server's message.
        """
        fields = [
            ("fileCreatedAt", req.file_created_at),
            ("fileModifiedAt", req.file_modified_at),
            ("filename", req.filename),
        ]
        if self.major is None or self.major < 3:  # required by 2.x, unknown to 3.x
            fields[:0] = [("deviceAssetId", req.device_asset_id), ("deviceId", req.device_id)]
        boundary, head, tail = build_multipart(
            fields, "assetData", req.filename, "application/octet-stream", req.sidecar
        )
        headers = self._headers(
            {
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Content-Length": str(len(head) + req.size + len(tail)),
            }
        )
        if req.checksum:
            headers["x-immich-checksum"] = req.checksum
        # Opened before the request: a missing or unreadable file is an OSError here, not an
        # error buried in the connection. Every attempt re-opens the file from the start. A small
        # file (most screenshots) is read whole in one worker-thread call; a larger one is
        # streamed in chunks, never held in memory.
        if req.data is not None or req.size <= SMALL_FILE:
            data = req.data
            if data is None:
                data = await anyio.to_thread.run_sync(
                    read_whole, req.path, req.size, req.follow_symlinks
                )
            return await self._send_upload(
                req, _InMemory(req.path, data), head, tail, headers, on_bytes
            )
        fh = await aiofiles.open(req.path, "rb", opener=opener(req.follow_symlinks))
        try:
            if os.fstat(fh.fileno()).st_size != req.size:
                raise FileChanged(str(req.path))
            return await self._send_upload(req, _Streamed(fh), head, tail, headers, on_bytes)
        finally:
            with anyio.CancelScope(shield=True):
                await fh.close()

    async def _send_upload(
        self,
        req: UploadRequest,
        source: _InMemory | _Streamed,
        head: bytes,
        tail: bytes,
        headers: dict[str, str],
        on_bytes: Callable[[int], None] | None,
    ) -> UploadAnswer:
        endpoint = "/api/assets"
        base = self.base_url  # where this attempt goes, whatever a failover does meanwhile
        sha1 = hashlib.sha1()
        scope = anyio.CancelScope()
        progress = Progress(scope, self.stall_timeout)
        changed: list[str] = []

        hashing = req.checksum is None  # else the pre-check hashed these very bytes already

        cap = self.cap
        step = cap.piece if cap is not None else CHUNK

        async def body() -> AsyncIterator[bytes | memoryview]:
            if isinstance(source, _InMemory):
                # From memory in CHUNK pieces, the multipart head glued to the first and the tail
                # to the last: a file under CHUNK is one write (one send on the socket, not
                # three), which on a LAN is worth a sixth of the run.
                view = source.view
                if hashing:
                    sha1.update(view)
                starts = range(0, req.size, step) if req.size else range(1)
                for start in starts:
                    piece = view[start : start + step]
                    first, last = start == 0, start + step >= req.size
                    out = b"".join((head if first else b"", piece, tail if last else b""))
                    if cap is not None:
                        await cap.take(len(out), progress)
                    progress.touch(len(piece))
                    if on_bytes:
                        on_bytes(len(piece))
                    yield out
                progress.touch()
                return
            if cap is not None:
                await cap.take(len(head), progress)
            yield head
            sent = 0
            while chunk := await source.read(step):
                sent += len(chunk)
                if sent > req.size:
                    changed.append("grew")
                    raise FileChanged(str(req.path))
                if hashing:
                    sha1.update(chunk)
                if cap is not None:
                    await cap.take(len(chunk), progress)
                progress.touch(len(chunk))
                if on_bytes:
                    on_bytes(len(chunk))
                yield chunk
            if sent != req.size:
                changed.append("shrank")
                raise FileChanged(str(req.path))
            if cap is not None:
                await cap.take(len(tail), progress)
            yield tail
            progress.touch()

        log.debug("POST %s %s (%s bytes)", endpoint, req.filename, headers["Content-Length"])
        answer: Answer | None = None
        failure: list[Exception] = []
        # aiohttp's sock_read only starts once the body is sent: the scope's moving deadline
        # (see Progress) aborts an upload that moves no byte for stall_timeout, body or answer.
        with scope:
            try:
                answer = await exchange(
                    self.session,
                    "POST",
                    base + endpoint,
                    endpoint,
                    headers=headers,
                    data=body(),
                    cap=MAX_ERROR_BODY,
                    error_cap=MAX_ERROR_BODY,
                    ok=frozenset({200, 201}),
                )
            except Exception as error:  # raised below, once we know whether the file changed
                failure.append(error)
        stalled = scope.cancelled_caught
        if changed:
            raise FileChanged(str(req.path))
        if failure:
            raise failure[0]
        if stalled or answer is None:
            reason = f"no progress for {self.stall_timeout:g} s"
            raise TransportError("POST", endpoint, reason, server_gone=True)
        status, raw = answer.status, answer.body
        log.debug("POST %s %s -> %s", endpoint, req.filename, status)
        digest = (
            (sha1.hexdigest() if hashing else req.checksum) if progress.sent == req.size else None
        )
        if status in REDIRECTS:
            location = answer.headers.get("location", "")
            raise Redirected(self.base_url, status, self._api_key.scrub(location))
        if status in (200, 201):
            try:
                data = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                data = None
            asset_id = data.get("id") if isinstance(data, dict) else None
            kind = data.get("status") if isinstance(data, dict) else None
            if not isinstance(asset_id, str) or not _UUID.match(asset_id):
                raise BadAnswer("POST", endpoint, f"HTTP {status} without an asset id")
            if kind not in ("created", "duplicate", None):
                what = self._api_key.scrub(f"unknown upload status {kind!r}"[:120])
                raise BadAnswer("POST", endpoint, what)
            dup = kind == "duplicate" or status == 200
            outcome = Outcome.DUPLICATE if dup else Outcome.CREATED
            after = source.stat()
            if after.st_size != req.size or (req.mtime_ns and after.st_mtime_ns != req.mtime_ns):
                # Rewritten in place while we read it: what the server got may mix old and new.
                raise FileChanged(str(req.path), asset_id)
            return UploadAnswer(outcome, asset_id, checksum=digest, url=base)
        refusal = self._api_error(
            "POST", endpoint, status, raw, answer.reason, answer.headers.get("retry-after")
        )
        if status >= 500 or status in (408, 429) or status < 400:
            # Retried (5xx, 408, 429), or a status no Immich server answers an upload with: the
            # file failed this run and is not recorded.
            raise refusal
        return UploadAnswer(
            Outcome.REJECTED,
            None,
            f"HTTP {status}: {refusal.message}",
            digest,
            refused_with=status,
            url=base,
        )
