"""An Immich-compatible test server with link shaping and fault injection.

It imports nothing from the rest of ``async_uploader``: the same misreading of the API must not be
able to hide on both sides (tests/test_testserver.py enforces it).
"""

from .app import Emulator
from .hostile import HOSTILE_ROUTES, HostileRule
from .server import ServerOptions, ServerThread, TestServer
from .shaping import FAULT_ROUTES, Shaping
from .state import ServerState

__all__ = [
    "FAULT_ROUTES",
    "HOSTILE_ROUTES",
    "Emulator",
    "HostileRule",
    "ServerOptions",
    "ServerState",
    "ServerThread",
    "Shaping",
    "TestServer",
]
