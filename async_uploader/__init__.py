"""async-uploader: sync a folder of screenshots to an Immich server, concurrently and safely.

The flow of a run, one module per step:

    config -> connect (health race) -> files (scan) + history (skip, record, atomic save)
           -> immich (the HTTP client) -> pipeline (phases, limiter, retries) -> report -> cli

Only ``immich`` (and ``connect``, through it) imports aiohttp; ``files`` and ``history`` know nothing
of the server; ``testserver`` imports nothing from the rest of the package.
"""

__version__ = "0.1.0"
