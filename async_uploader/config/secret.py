"""The API key, wrapped so that no repr, log line or traceback can show it, and the scrubbing of
any text that might carry it (a server's echo, a truncated copy)."""

from __future__ import annotations

import re


class Secret:
    """A value that never prints itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def scrub(self, text: str) -> str:
        """``text`` without the key: see ``redact``."""
        return redact(text, [self._value])

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def redact(text: str, secrets: list[str]) -> str:
    """``text`` with every secret, and any run of characters that starts like one (its first 8
    characters, then anything of a key's alphabet: a truncated echo), replaced by ``***``."""
    for secret in secrets:
        if not secret:
            continue
        if secret in text:
            text = text.replace(secret, "***")
        head = secret[:8]
        if head in text:
            text = re.sub(re.escape(head) + r"[A-Za-z0-9_\-+/=.~]*", "***", text)
    return text
