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
# Every permission a key may be given, in the Permission enum's order (openapi.json of 2.7.5;
# 3.1.0 has the same but asset.replace).
PERMISSION_NAMES: Final[tuple[str, ...]] = tuple(
    _words("""
    all activity.create activity.read activity.update activity.delete activity.statistics
    apiKey.create apiKey.read apiKey.update apiKey.delete asset.read asset.update asset.delete
    asset.statistics asset.share asset.view asset.download asset.upload asset.replace asset.copy
    asset.derive asset.edit.get asset.edit.create asset.edit.delete album.create album.read
    album.update album.delete album.statistics album.share album.download albumAsset.create
    albumAsset.delete albumUser.create albumUser.update albumUser.delete auth.changePassword
    authDevice.delete archive.read backup.list backup.download backup.upload backup.delete
    duplicate.read duplicate.delete face.create face.read face.update face.delete folder.read
    job.create job.read library.create library.read library.update library.delete
    library.statistics timeline.read timeline.download maintenance map.read map.search
    memory.create memory.read memory.update memory.delete memory.statistics memoryAsset.create
    memoryAsset.delete notification.create notification.read notification.update
    notification.delete partner.create partner.read partner.update partner.delete person.create
    person.read person.update person.delete person.statistics person.merge person.reassign
    pinCode.create pinCode.update pinCode.delete plugin.create plugin.read plugin.update
    plugin.delete server.about server.apkLinks server.storage server.statistics
    server.versionCheck serverLicense.read serverLicense.update serverLicense.delete
    session.create session.read session.update session.delete session.lock sharedLink.create
    sharedLink.read sharedLink.update sharedLink.delete stack.create stack.read stack.update
    stack.delete sync.stream syncCheckpoint.read syncCheckpoint.update syncCheckpoint.delete
    systemConfig.read systemConfig.update systemMetadata.read systemMetadata.update tag.create
    tag.read tag.update tag.delete tag.asset user.read user.update userLicense.create
    userLicense.read userLicense.update userLicense.delete userOnboarding.read
    userOnboarding.update userOnboarding.delete userPreference.read userPreference.update
    userProfileImage.create userProfileImage.read userProfileImage.update
    userProfileImage.delete queue.read queue.update queueJob.create queueJob.read
    queueJob.update queueJob.delete workflow.create workflow.read workflow.update
    workflow.delete adminUser.create adminUser.read adminUser.update adminUser.delete
    adminSession.read adminAuth.unlinkAll
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
# GET /api/queues lists them in the QueueName order, which 2.7.5's /api/jobs does not follow
# (golden 51e against 45, 51h); 3.1.0 has one order for both, with integrityCheck (golden-v3 51e).
QUEUE_LIST_V2: Final[tuple[str, ...]] = tuple(q for q in QUEUES_V3 if q != "integrityCheck")
