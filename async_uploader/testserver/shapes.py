"""How the emulated server says things, as each version does: its error bodies (2.x's
{message, error, statusCode, correlationId}, 3.x's {message} and zod's issues), its JSON, its
correlation ids, and what Node's JSON.parse says of a broken body. Imports nothing of the
emulator: the routes, the core and the hostile middleware all use it."""

from __future__ import annotations

import json
import re
import secrets
import string
from typing import Any

from aiohttp import web

from .data import STATUS_REASONS

MAX_JSON_BYTES = 10 * 1024 * 1024  # the server's body-parser limit
UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
CID_KEY = web.RequestKey("cid", str) if hasattr(web, "RequestKey") else "cid"


class ApiError(Exception):
    """An error answered in the server's shape: v2 {message, error, statusCode, correlationId},
    v3 {message}; a validation error carries its v3 zod ``issues`` beside its v2 sentences."""

    def __init__(
        self,
        status: int,
        message: str | list[str],
        headers: dict[str, str] | None = None,
        issues: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.issues = issues


def invalid(v2: list[str], v3: list[dict[str, Any]]) -> ApiError:
    """A 400 for a request that fails validation, in each version's words."""
    return ApiError(400, v2, issues=v3)


class ConnectionDropped(Exception):
    """The emulator cut the connection on purpose (reset fault)."""


def json_response(data: Any, status: int = 200) -> web.Response:
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    # A lone surrogate (a client's "\udcff") is written as that escape, as Node's well-formed
    # JSON.stringify does: inside a JSON string, backslashreplace produces exactly it.
    return web.Response(
        body=body.encode("utf-8", "backslashreplace"),
        status=status,
        content_type="application/json",
        charset="utf-8",
    )


def error_body(
    status: int,
    message: str | list[str],
    cid: str,
    v3: bool = False,
    issues: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    if v3:  # global-exception.filter.ts of 3.x: only the message (and zod's issues)
        if issues is not None:
            return {"message": "Validation failed", "errors": issues}
        return {"message": message}
    reason = STATUS_REASONS.get(status, "Error")
    return {"message": message, "error": reason, "statusCode": status, "correlationId": cid}


def new_cid() -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(8))


def v8_json_error(exc: json.JSONDecodeError) -> str:
    """What Node 24's JSON.parse says of the same mistake (golden-v3 35b)."""
    where = f"in JSON at position {exc.pos} (line {exc.lineno} column {exc.colno})"
    if exc.msg.startswith("Expecting property name"):
        return f"Expected property name or '}}' {where}"
    if exc.msg == "Expecting ',' delimiter":
        return f"Expected ',' or '}}' after property value {where}"
    if exc.msg == "Expecting ':' delimiter":
        return f"Expected ':' after property name {where}"
    if exc.pos >= len(exc.doc):
        return "Unexpected end of JSON input"
    snippet = exc.doc[max(0, exc.pos - 10) : exc.pos + 10]
    return f"Unexpected token '{exc.doc[exc.pos]}', \"{snippet}\" is not valid JSON"
