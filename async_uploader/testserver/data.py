"""Fixed facts of the emulated Immich server: versions, media types, the user, permissions.

Everything here was read off a real Immich 2.7.5 server (shared/immich/golden) or its OpenAPI spec.
This module must not import anything from the rest of ``async_uploader``.
"""

from __future__ import annotations

from typing import Final


def _words(text: str) -> list[str]:
    """A list written as words: it keeps its shape under the formatter (one item a line otherwise)."""
    return text.split()


# GET /api/server/media-types of Immich 2.7.5, in the server's own order (golden 03).
MEDIA_TYPES: Final[dict[str, list[str]]] = {
    "video": _words("""
        .3gp .3gpp .avi .flv .insv .m2t .m2ts .m4v .mkv .mov .mp4 .mpe .mpeg .mpg .mts .mxf
        .ts .vob .webm .wmv
    """),
    "image": _words("""
        .avif .bmp .gif .jpeg .jpg .png .webp .3fr .ari .arw .cap .cin .cr2 .cr3 .crw .dcr
        .dng .erf .fff .iiq .k25 .kdc .mrw .nef .nrw .orf .ori .pef .psd .raf .raw .rw2 .rwl
        .sr2 .srf .srw .x3f .heic .heif .hif .insp .jp2 .jpe .jxl .svg .tif .tiff
    """),
    "sidecar": [".xmp"],
}

# Immich 3 adds .mpo (golden-v3 03), after .jxl in the server's order.
MEDIA_TYPES_V3: Final[dict[str, list[str]]] = {
    **MEDIA_TYPES,
    "image": [
        e for ext in MEDIA_TYPES["image"] for e in ((ext, ".mpo") if ext == ".jxl" else (ext,))
    ],
}

IMAGE_EXTENSIONS: Final = frozenset(MEDIA_TYPES["image"])
VIDEO_EXTENSIONS: Final = frozenset(MEDIA_TYPES["video"])
SIDECAR_EXTENSIONS: Final = frozenset(MEDIA_TYPES["sidecar"])

MIME_TYPES: Final[dict[str, str]] = dict(
    pair.split("=")
    for pair in _words("""
    .png=image/png .jpg=image/jpeg .jpeg=image/jpeg .jpe=image/jpeg .gif=image/gif
    .webp=image/webp .heic=image/heic .heif=image/heif .avif=image/avif .bmp=image/bmp
    .tif=image/tiff .tiff=image/tiff .svg=image/svg+xml .jxl=image/jxl .mp4=video/mp4
    .mov=video/quicktime .mkv=video/x-matroska .webm=video/webm .avi=video/x-msvideo
    """)
)

# What /api/server/version says by default, per API version (golden 02, golden-v3 02: 3.x adds
# "prerelease"); --server-version picks another release within the major.
VERSIONS: Final[dict[int, tuple[int, int, int]]] = {2: (2, 7, 5), 3: (3, 1, 0)}

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

# The user of the 3.1.0 capture (golden-v3 04, 07): a user made by an admin, not the admin.
USER_ID_V3: Final = "b5550096-f271-4f1d-96f5-fe237a6dcfe0"
USER_V3_CREATED: Final = "2026-12-02T07:17:32.457Z"
USER_V3: Final[dict[str, object]] = {
    **USER,
    "id": USER_ID_V3,
    "email": "golden-v3-1796195852@example.com",
    "name": "Golden V3",
    "avatarColor": "red",
    "profileChangedAt": USER_V3_CREATED,
    "storageLabel": None,
    "isAdmin": False,
    "createdAt": USER_V3_CREATED,
    "updatedAt": USER_V3_CREATED,
}
OWNER_V3: Final[dict[str, object]] = {
    **OWNER,
    "id": USER_ID_V3,
    "email": USER_V3["email"],
    "name": USER_V3["name"],
    "avatarColor": "red",
    "profileChangedAt": "2026-12-02T07:17:32.457349+00:00",
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

# The job queues, in each server's order (golden 45, golden-v3 45 and 45f).
QUEUES_V2: Final[tuple[str, ...]] = tuple(
    _words("""
    thumbnailGeneration metadataExtraction videoConversion smartSearch
    storageTemplateMigration migration backgroundTask search duplicateDetection faceDetection
    facialRecognition sidecar library notifications backupDatabase ocr workflow editor
    """)
)
QUEUES_V3: Final[tuple[str, ...]] = tuple(
    _words("""
    thumbnailGeneration metadataExtraction videoConversion faceDetection facialRecognition
    smartSearch duplicateDetection backgroundTask storageTemplateMigration migration search
    sidecar library notifications backupDatabase ocr workflow integrityCheck editor
    """)
)

# GET /api/server/config of 3.1.0 (golden-v3 40b): map style URLs set, and minFaces.
SERVER_CONFIG_V3: Final[dict[str, object]] = {
    **SERVER_CONFIG,
    "mapDarkStyleUrl": "https://tiles.immich.cloud/v1/style/dark.json",
    "mapLightStyleUrl": "https://tiles.immich.cloud/v1/style/light.json",
    "minFaces": 3,
}

# The permissions a key may be made with (POST /api/api-keys): those of the routes emulated
# ("x-immich-permission" in the OpenAPI specs), and the others an uploader's key is often given.
PERMISSION_NAMES: Final = frozenset(
    _words("""
    all apiKey.create apiKey.read asset.read asset.delete asset.statistics asset.upload
    asset.view asset.download album.create album.read album.update albumAsset.create
    albumAsset.delete user.read server.about job.read job.create queue.read queue.update
    """)
)

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
