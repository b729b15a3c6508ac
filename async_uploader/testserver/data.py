"""Fixed facts of the emulated Immich server: versions, media types, the user, permissions.

Everything here was read off a real Immich 2.7.5 server (shared/immich/golden) or its OpenAPI spec.
This module must not import anything from the rest of ``async_uploader``.
"""

from __future__ import annotations

from typing import Final

# GET /api/server/media-types of Immich 2.7.5, in the server's own order (golden 03).
MEDIA_TYPES: Final[dict[str, list[str]]] = {
    "video": [
        ".3gp", ".3gpp", ".avi", ".flv", ".insv", ".m2t", ".m2ts", ".m4v", ".mkv", ".mov",
        ".mp4", ".mpe", ".mpeg", ".mpg", ".mts", ".mxf", ".ts", ".vob", ".webm", ".wmv",
    ],
    "image": [
        ".avif", ".bmp", ".gif", ".jpeg", ".jpg", ".png", ".webp", ".3fr", ".ari", ".arw",
        ".cap", ".cin", ".cr2", ".cr3", ".crw", ".dcr", ".dng", ".erf", ".fff", ".iiq",
        ".k25", ".kdc", ".mrw", ".nef", ".nrw", ".orf", ".ori", ".pef", ".psd", ".raf",
        ".raw", ".rw2", ".rwl", ".sr2", ".srf", ".srw", ".x3f", ".heic", ".heif", ".hif",
        ".insp", ".jp2", ".jpe", ".jxl", ".svg", ".tif", ".tiff",
    ],
    "sidecar": [".xmp"],
}  # fmt: skip

IMAGE_EXTENSIONS: Final = frozenset(MEDIA_TYPES["image"])
VIDEO_EXTENSIONS: Final = frozenset(MEDIA_TYPES["video"])
SIDECAR_EXTENSIONS: Final = frozenset(MEDIA_TYPES["sidecar"])

MIME_TYPES: Final[dict[str, str]] = {
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".jpe": "image/jpeg",
    ".gif": "image/gif", ".webp": "image/webp", ".heic": "image/heic", ".heif": "image/heif",
    ".avif": "image/avif", ".bmp": "image/bmp", ".tif": "image/tiff", ".tiff": "image/tiff",
    ".svg": "image/svg+xml", ".jxl": "image/jxl", ".mp4": "video/mp4", ".mov": "video/quicktime",
    ".mkv": "video/x-matroska", ".webm": "video/webm", ".avi": "video/x-msvideo",
}  # fmt: skip

VERSIONS: Final[dict[int, dict[str, int]]] = {
    2: {"major": 2, "minor": 7, "patch": 5},
    3: {"major": 3, "minor": 2, "patch": 2},
}

# The one user of the emulated server, exactly as golden 04 shows it (fixed times, stable bodies).
USER_ID: Final = "cfb3061d-277b-4572-9452-9cd46efb63fc"
USER_CREATED: Final = "2026-11-24T23:12:31.772Z"
USER: Final[dict[str, object]] = {
    "id": USER_ID,
    "email": "admin@example.com",
    "name": "Golden Admin",
    "profileImagePath": "",
    "avatarColor": "gray",
    "profileChangedAt": USER_CREATED,
    "storageLabel": "admin",
    "shouldChangePassword": True,
    "isAdmin": True,
    "createdAt": USER_CREATED,
    "deletedAt": None,
    "updatedAt": USER_CREATED,
    "oauthId": "",
    "quotaSizeInBytes": None,
    "quotaUsageInBytes": 0,
    "status": "active",
    "license": None,
}
# The album's "owner" object is a smaller user (golden 07) with a microsecond, +00:00 time.
OWNER: Final[dict[str, object]] = {
    "id": USER_ID,
    "email": "admin@example.com",
    "name": "Golden Admin",
    "profileImagePath": "",
    "avatarColor": "gray",
    "profileChangedAt": "2026-11-24T23:12:31.772421+00:00",
}

SERVER_CONFIG: Final[dict[str, object]] = {
    "loginPageMessage": "",
    "trashDays": 30,
    "userDeleteDelay": 7,
    "oauthButtonText": "Login with OAuth",
    "isInitialized": True,
    "isOnboarded": True,
    "externalDomain": "",
    "publicUsers": True,
    "mapDarkStyleUrl": "",
    "mapLightStyleUrl": "",
    "maintenanceMode": False,
}

# Scopes of the routes we emulate ("x-immich-permission" in openapi.json). None: no auth at all;
# "" : any valid key (permission: false in the server).
PERMISSIONS: Final[tuple[str, ...]] = (
    "all", "asset.read", "asset.delete", "asset.statistics", "asset.upload", "album.create",
    "album.read", "albumAsset.create", "user.read", "server.about",
)  # fmt: skip

STATUS_REASONS: Final[dict[int, str]] = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
