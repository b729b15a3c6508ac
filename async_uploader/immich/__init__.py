"""Talking to an Immich server. The rest of the package imports from here, never from a module
inside: only ``transport`` knows aiohttp, and only this package reads a status code
(tests/unit/test_architecture.py holds both).

    errors     what a failure means: ``Kind``, and the exceptions that carry it
    models     the values calls take and answer with
    answers    reading each answer's shape
    bodies     multipart bodies, file sources, the stall deadline, the rate cap
    upload     POST /api/assets and what its answer means
    client     every other call, and the one client object
    transport  the aiohttp session, one exchange, the table of aiohttp's errors
"""

from .answers import is_uuid
from .bodies import SMALL_FILE, build_multipart, read_whole
from .client import MAX_JSON_ANSWER, ImmichClient, ping
from .errors import (
    ApiError,
    AuthRejected,
    BadAnswer,
    ImmichError,
    Kind,
    Redirected,
    TransportError,
)
from .models import Album, FileChanged, LinkResult, MediaTypes, UploadAnswer, UploadRequest
from .transport import KEEPALIVE_SECONDS, Session, open_session
from .upload import MAX_ERROR_BODY

__all__ = [
    "KEEPALIVE_SECONDS",
    "MAX_ERROR_BODY",
    "MAX_JSON_ANSWER",
    "SMALL_FILE",
    "Album",
    "ApiError",
    "AuthRejected",
    "BadAnswer",
    "FileChanged",
    "ImmichClient",
    "ImmichError",
    "Kind",
    "LinkResult",
    "MediaTypes",
    "Redirected",
    "Session",
    "TransportError",
    "UploadAnswer",
    "UploadRequest",
    "build_multipart",
    "is_uuid",
    "open_session",
    "ping",
    "read_whole",
]
