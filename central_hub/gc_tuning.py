"""Garbage-collector settings for a serving hub process.

An ingest allocates thousands of container objects that live as long as the request (the
payload's dicts, the records, the rows). With CPython's defaults (a young collection every
700 allocations) they are scanned and promoted again and again, and the full collections
that follow scan every object loaded at start-up too (the app, SQLAlchemy, pydantic).
Freezing the start-up heap and collecting young objects less often took about 15% off the
hub's CPU per 1,000-record batch (docs/performance.md). Reference counting still frees
almost everything at once; cyclic garbage is still collected, just in larger rounds.
"""

from __future__ import annotations

import gc

__all__ = ["tune_for_serving"]

# Young-generation threshold (allocations minus deallocations of tracked objects): a few
# batches' worth. The older generations keep their default ratios.
YOUNG_THRESHOLD = 50_000


def tune_for_serving() -> None:
    """Call once the app is built, before serving the first request."""
    gc.collect()
    gc.freeze()  # start-up objects live for the whole process: never scan them again
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
