"""The Immich API: every path, status code and field an uploader uses, as typed calls.

Answers become plain values (``models``, read by ``answers``); error answers become ``ApiError``
and its kin, each with its kind (``errors``); callers never see a status code, header or URL
path. The bytes move through ``transport`` (the only aiohttp user); an upload's body and
meaning are ``upload``'s.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import anyio

from ..config import Secret
from . import answers
from .answers import Wrong
from .bodies import RateCap
from .errors import ApiError, AuthRejected, BadAnswer, Kind, Redirected, TransportError
from .models import Album, LinkResult, MediaTypes, UploadAnswer, UploadRequest
from .transport import Answer, Session, exchange
from .upload import MAX_ERROR_BODY
from .upload import upload as send_upload

log = logging.getLogger(__name__)
T = TypeVar("T")

# The largest JSON answer read: an album list of ~16,000 albums. A bigger one is no Immich
# answer we need, and reading it whole could take the machine's memory.
MAX_JSON_ANSWER = 16 * 1024 * 1024


def _correlation_id(answer: Answer) -> str:
    """The server's id of this request, for a --debug line that a server log can be matched to
    (Immich 3: X-Correlation-ID; 2.x: x-immich-cid)."""
    cid = answer.headers.get("x-correlation-id") or answer.headers.get("x-immich-cid")
    return f" [cid {cid[:32]}]" if cid else ""


async def ping(session: Session, base_url: str) -> None:
    """GET /api/server/ping; raises TransportError, Redirected, ApiError or BadAnswer. No key
    is sent."""
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
    status = answer.status
    if status != 200:
        if status in (301, 302, 303, 307, 308):
            raise Redirected(base_url, status, answer.headers.get("location", ""))
        raise ApiError("GET", endpoint, status, f"HTTP {status}")
    if not answers.is_pong(answer.body):
        raise BadAnswer("GET", endpoint, "answer is not Immich's pong")


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
        admin_key: Secret | None = None,
    ) -> None:
        self.session = session
        # An admin's key for the job queues alone (IMMICH_ADMIN_API_KEY); None: the API key.
        self._admin_key = admin_key
        self.cap = RateCap(max_rate) if max_rate > 0 else None  # shared by every upload
        self.base_url = base_url
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

    def headers(
        self, extra: dict[str, str] | None = None, key: Secret | None = None
    ) -> dict[str, str]:
        headers = {"x-api-key": (key or self._api_key).reveal(), "Accept": "application/json"}
        if extra:
            headers.update(extra)
        return headers

    def scrub(self, text: str) -> str:
        """``text`` without either key, whatever a server echoed."""
        text = self._api_key.scrub(text)
        return self._admin_key.scrub(text) if self._admin_key is not None else text

    @property
    def queues_with_admin_key(self) -> bool:
        return self._admin_key is not None

    def error(
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
        message = self.scrub(answers.error_message(body, reason))
        if status == 401:
            raise AuthRejected(f"API key rejected by {self.base_url}: {message}")
        return ApiError(method, endpoint, status, message, answers.retry_after(retry_after))

    async def _json(
        self, method: str, endpoint: str, payload: Any = None, key: Secret | None = None
    ) -> Any:
        """The JSON answer to ``/api`` + ``endpoint``; errors name that whole path."""
        endpoint = "/api" + endpoint
        log.debug("%s %s", method, endpoint)
        try:
            with anyio.fail_after(self.request_timeout):
                body = await self._exchange(method, endpoint, payload, key)
        except TimeoutError:
            why = f"no complete answer in {self.request_timeout:g} s (IMMICH_REQUEST_TIMEOUT)"
            raise TransportError(method, endpoint, why, Kind.TIMEOUT) from None
        if not body:
            return None
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError):
            text = self.scrub(answers.error_message(body, ""))[:80]
            raise BadAnswer(method, endpoint, f"the answer is not JSON: {text!r}") from None

    async def _exchange(
        self, method: str, endpoint: str, payload: Any, key: Secret | None = None
    ) -> bytes:
        answer = await exchange(
            self.session,
            method,
            self.base_url + endpoint,
            endpoint,
            headers=self.headers(key=key),
            json=payload,
            cap=MAX_JSON_ANSWER,
            error_cap=MAX_ERROR_BODY,
        )
        cid = _correlation_id(answer)
        if answer.status >= 300:
            log.debug("%s %s -> %s%s", method, endpoint, answer.status, cid)
            if answer.status in (301, 302, 303, 307, 308):
                location = self.scrub(answer.headers.get("location", ""))
                raise Redirected(self.base_url, answer.status, location)
            raise self.error(
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
        return answer.body

    async def _call(
        self,
        method: str,
        endpoint: str,
        read: Callable[[Any], T],
        payload: Any = None,
        key: Secret | None = None,
    ) -> T:
        """``read`` (a reader of ``answers``) of the JSON answer; a shape it does not accept is
        one BadAnswer naming the endpoint."""
        data = await self._json(method, endpoint, payload, key)
        try:
            return read(data)
        except Wrong as exc:  # it may quote the answer, and the answer may quote the key
            raise BadAnswer(method, "/api" + endpoint, self.scrub(str(exc))) from None

    # -- identity and capabilities ---------------------------------------------------------------
    async def check_key(self) -> dict[str, Any]:
        """GET /users/me; a 401 (or a 403: the key may not even read its own user) is
        AuthRejected."""
        try:
            return await self._call("GET", "/users/me", lambda d: answers.obj(d, "the user"))
        except ApiError as exc:
            if exc.kind is Kind.FORBIDDEN:
                raise AuthRejected(f"API key rejected by {self.base_url}: {exc.message}") from exc
            raise

    async def key_permissions(self, admin: bool = False) -> list[str]:
        """GET /api-keys/me (Immich 1.139+): the scopes of the key in use (``admin``: of the
        admin key, for the queues)."""
        key = self._admin_key if admin else None
        return await self._call("GET", "/api-keys/me", answers.permissions, key=key)

    async def maintenance_mode(self) -> bool:
        data = await self._json("GET", "/server/config")
        return bool(data.get("maintenanceMode")) if isinstance(data, dict) else False

    async def version(self) -> tuple[int, int, int]:
        """GET /server/version; remembered, for what uploads send."""
        version = await self._call("GET", "/server/version", answers.version)
        self.major = version[0]
        return version

    async def media_types(self) -> MediaTypes:
        return await self._call("GET", "/server/media-types", answers.media_types)

    # -- albums --------------------------------------------------------------------------------
    async def list_albums(self) -> list[Album]:
        return await self._call("GET", "/albums", answers.albums)

    async def create_album(self, name: str) -> Album:
        return await self._call("POST", "/albums", answers.album, {"albumName": name})

    async def add_to_album(self, album_id: str, asset_ids: list[str]) -> list[LinkResult]:
        """PUT /albums/{id}/assets; a result for each id the server answered about (an id it
        did not mention is simply not linked)."""
        asked = set(asset_ids)
        return await self._call(
            "PUT",
            f"/albums/{album_id}/assets",
            lambda d: answers.link_results(d, asked),
            {"ids": asset_ids},
        )

    async def album_page(
        self, album_id: str, page: int, size: int = 1000, visibility: str | None = None
    ) -> tuple[list[str], int | None]:
        """One page of the album's assets, the trashed ones too (POST /search/metadata, as
        golden 46c): their ids, and the next page's number (None after the last). Without a
        ``visibility`` 3.x lists all but locked ones, 2.x only the timeline's (golden 49g):
        ``visibilities`` says which to list one by one."""
        payload: dict[str, Any] = {
            "albumIds": [album_id],
            "page": page,
            "size": size,
            "withDeleted": True,
        }
        if visibility is not None:
            payload["visibility"] = visibility
        return await self._call("POST", "/search/metadata", answers.album_page, payload)

    def visibilities(self) -> list[str | None]:
        """The listings that together show every asset an API key can see: 3.x's default
        (timeline, archive and hidden), or 2.x's three one by one (V3-DIFFERENCES 25)."""
        if self.major is not None and self.major >= 3:
            return [None]
        return ["timeline", "archive", "hidden"]

    # -- tags ----------------------------------------------------------------------------------
    async def upsert_tags(self, values: list[str]) -> dict[str, str]:
        """PUT /tags: each tag made (with its parents) or found; value -> id (golden 47, 47b).
        Needs the tag.create permission (403 without, golden 47m)."""
        read = functools.partial(answers.tag_ids, asked=values)
        return await self._call("PUT", "/tags", read, {"tags": values})

    async def tag_assets(self, tag_ids: list[str], asset_ids: list[str]) -> int:
        """PUT /tags/assets: every tag on every asset; how many pairs are new. Ids the key may
        not use are passed over silently (golden 47g, 47i); needs tag.asset (golden 47n)."""
        payload = {"tagIds": tag_ids, "assetIds": asset_ids}
        return await self._call("PUT", "/tags/assets", answers.tag_count, payload)

    async def asset_trashed(self, asset_id: str) -> bool | None:
        """GET /assets/{id}: whether the asset is in the trash; None when the server has no
        such asset (it answers 400 "Not found or no asset.read access", golden 46f)."""
        if not answers.is_uuid(asset_id):  # an asset id of ours that is not one: not there
            log.debug("asset id %r is not a UUID", asset_id[:40])
            return None
        try:
            return await self._call("GET", f"/assets/{asset_id}", answers.trashed)
        except ApiError as exc:
            if exc.kind in (Kind.REJECTED, Kind.NOT_FOUND):
                return None
            raise

    # -- the server's job queues (an admin's key) ----------------------------------------------
    async def queue_states(self) -> dict[str, bool]:
        """Every job queue of the server: name -> paused. GET /queues in 3.x, GET /jobs in 2.x
        (golden-v3 45, golden 45); 403 for a key that is not an admin's."""
        key = self._admin_key
        if self.major is not None and self.major >= 3:
            return await self._call("GET", "/queues", answers.queues_v3, key=key)
        return await self._call("GET", "/jobs", answers.queues_v2, key=key)

    async def pause_queue(self, name: str, paused: bool) -> bool:
        """Pause (or resume) one queue; whether the server says it is paused now. 3.x: PUT
        /queues/{name} {isPaused}; 2.x: PUT /jobs/{name} {command: pause|resume, force}."""
        if not answers.QUEUE_NAME.fullmatch(name):
            raise ValueError(f"not a queue name: {name[:40]!r}")
        key = self._admin_key
        if self.major is not None and self.major >= 3:
            payload: dict[str, Any] = {"isPaused": paused}
            read = answers.queue_paused_v3
            return await self._call("PUT", f"/queues/{name}", read, payload, key)
        payload = {"command": "pause" if paused else "resume", "force": False}
        return await self._call("PUT", f"/jobs/{name}", answers.queue_paused_v2, payload, key)

    # -- duplicates ---------------------------------------------------------------------------
    async def bulk_check(self, items: list[tuple[str, str]]) -> dict[str, tuple[str, bool]]:
        """POST /assets/bulk-upload-check for (id, sha1) pairs; returns, for each id the server
        already has, (its asset id, whether that asset is in the trash)."""
        asked = {i for i, _ in items}
        payload = {"assets": [{"id": i, "checksum": c} for i, c in items]}
        return await self._call(
            "POST", "/assets/bulk-upload-check", lambda d: answers.known(d, asked), payload
        )

    # -- upload --------------------------------------------------------------------------------
    async def upload(
        self, req: UploadRequest, on_bytes: Callable[[int], None] | None = None
    ) -> UploadAnswer:
        """POST /assets, streamed from disk (``upload``)."""
        return await send_upload(self, req, on_bytes)
