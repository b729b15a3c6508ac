"""Talking to an Immich server: ``api`` (what each call means) over ``transport`` (moving bytes).

The rest of the package imports from here, never from ``transport``: only the transport knows
aiohttp (tests/test_architecture.py holds that).
"""

from .api import (
    MAX_ERROR_BODY,
    MAX_JSON_ANSWER,
    SMALL_FILE,
    Album,
    FileChanged,
    ImmichClient,
    LinkResult,
    MediaTypes,
    UploadAnswer,
    UploadRequest,
    build_multipart,
    ping,
    read_whole,
)
from .transport import KEEPALIVE_SECONDS, Session, open_session

__all__ = [
    "KEEPALIVE_SECONDS",
    "MAX_ERROR_BODY",
    "MAX_JSON_ANSWER",
    "SMALL_FILE",
    "Album",
    "FileChanged",
    "ImmichClient",
    "LinkResult",
    "MediaTypes",
    "Session",
    "UploadAnswer",
    "UploadRequest",
    "build_multipart",
    "open_session",
    "ping",
    "read_whole",
]
