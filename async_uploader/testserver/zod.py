"""Immich 3's validation issues (zod, through nestjs-zod), key for key as a 3.1.0 server sends
them (shared/immich/golden-v3, transcripts 13b, 16c, 30-32, 35, 35c, 38d, 44b, 44c).

Immich 2 answered the same mistakes with a list of class-validator sentences; a check of the
emulator names both (``Invalid(v2_messages, v3_issues)``) and the version in use picks one.
"""

from __future__ import annotations

from typing import Any

Path = list[str | int]

UUID_PATTERN = (
    "/^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12})$/"
)
DATETIME_PATTERN = (
    r"/^(?:(?:\d\d[2468][048]|\d\d[13579][26]|\d\d0[48]|[02468][048]00|[13579][26]00)-02-29|"
    r"\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|"
    r"(?:02)-(?:0[1-9]|1\d|2[0-8])))T(?:(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d+)?)?"
    r"(?:Z|([+-](?:[01]\d|2[0-3]):[0-5]\d)))$/"
)


def received(value: Any) -> str:
    """zod's name for what it got instead."""
    if value is None:
        return "undefined"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


def invalid_type(path: Path, expected: str, got: Any, shown: str | None = None) -> dict[str, Any]:
    """A value of the wrong type (or missing: ``got`` None)."""
    return {
        "expected": expected,
        "code": "invalid_type",
        "path": path,
        "message": f"Invalid input: expected {shown or expected}, received {received(got)}",
    }


def missing_datetime(path: Path) -> dict[str, Any]:
    return invalid_type(path, "string", None, "ISO 8601 datetime string")


def bad_datetime(path: Path) -> dict[str, Any]:
    return {
        "origin": "string",
        "code": "invalid_format",
        "format": "datetime",
        "pattern": DATETIME_PATTERN,
        "path": path,
        "message": "Invalid input: expected ISO 8601 datetime string, received string",
    }


def bad_uuid(path: Path) -> dict[str, Any]:
    return {
        "origin": "string",
        "code": "invalid_format",
        "format": "uuid",
        "pattern": UUID_PATTERN,
        "path": path,
        "message": "Invalid UUID",
    }


def not_a_number(path: Path) -> dict[str, Any]:
    return {
        "expected": "number",
        "code": "invalid_type",
        "received": "NaN",
        "path": path,
        "message": "Invalid input: expected number, received NaN",
    }


def not_an_int(path: Path) -> dict[str, Any]:
    return {
        "expected": "int",
        "format": "safeint",
        "code": "invalid_type",
        "path": path,
        "message": "Invalid input: expected int, received number",
    }


def too_small(path: Path, minimum: int) -> dict[str, Any]:
    return {
        "origin": "number",
        "code": "too_small",
        "minimum": minimum,
        "inclusive": True,
        "path": path,
        "message": f"Too small: expected number to be >={minimum}",
    }


def not_a_stringbool(path: Path) -> dict[str, Any]:
    return {
        "code": "invalid_value",
        "expected": "stringbool",
        "values": ["true", "false"],
        "path": path,
        "message": 'Invalid option: expected one of "true"|"false"',
    }


def not_one_of(path: Path, values: list[str]) -> dict[str, Any]:
    shown = "|".join(f'"{v}"' for v in values)
    return {
        "code": "invalid_value",
        "values": values,
        "path": path,
        "message": f"Invalid option: expected one of {shown}",
    }
