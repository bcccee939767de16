"""Edge node: runs in each service center, records transactions offline and syncs them."""

from __future__ import annotations

__all__: list[str] = []
