"""Helpers for tests of the in-process hub app (Starlette's TestClient)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from central_hub.enrollment import provision_center
from central_hub.storage.store import SqlStore
from tests.hub.nodes import T0_MS

__all__ = ["hub_store", "provision_token"]


def hub_store(client: TestClient) -> SqlStore:
    """The store of the app ``client`` drives."""
    return client.app.state.store  # type: ignore[attr-defined,no-any-return]


def provision_token(
    client: TestClient, center: str = "arish", name: str = "مركز خدمات مصر بالعريش"
) -> str:
    """A fresh enrollment token for ``center`` (created if new), valid 72 hours."""
    return provision_center(hub_store(client), center, name, now_ms=T0_MS, ttl_hours=72).token
