"""Central hub: enrolls center nodes, ingests their sealed batches, serves the change feed."""

from __future__ import annotations

__all__: list[str] = []
