"""async-uploader: sync a folder of screenshots to an Immich server, concurrently and safely.

The flow of a run (``run.sync``), one module per step:

    config -> local (history + scan) -> phases.connect (health race, key, types, album)
           -> phases.upload (pre-check, bounded uploads) -> phases.album (link) -> save -> cli

``immich`` is the server's API over its transport (the only aiohttp import); ``files`` and
``history`` know nothing of the server; ``testserver`` imports nothing from the rest of the
package (tests/test_architecture.py and tests/test_testserver.py hold these).
"""

__version__ = "0.1.0"
