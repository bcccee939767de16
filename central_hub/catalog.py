"""Publishing service catalogs: the shipped default and operator imports."""

from __future__ import annotations

from importlib import resources
from typing import Final

from central_hub.storage.store import Store
from sync_protocol import CatalogError, check_upgrade, decode_json, encode_catalog, parse_catalog

__all__ = ["MAX_CATALOG_BYTES", "ensure_catalog", "publish_catalog", "shipped_catalog"]

# A catalog travels in a CHANGES envelope beside other changes; keep it well below the
# envelope bound (the shipped one is ~50 KB).
MAX_CATALOG_BYTES: Final = 4 * 1024 * 1024


def shipped_catalog() -> bytes:
    """The catalog that ships with the hub (``central_hub/data/catalog.json``)."""
    return resources.files("central_hub").joinpath("data/catalog.json").read_bytes()


def publish_catalog(store: Store, raw: bytes, now_ms: int) -> int:
    """Validate and publish ``raw`` as the next catalog version; return the version.

    Refuses (CatalogError) anything not strictly newer than the current version, except
    re-publishing the identical current catalog, which is a no-op.
    """
    if len(raw) > MAX_CATALOG_BYTES:
        raise CatalogError(f"catalog file exceeds {MAX_CATALOG_BYTES} bytes")
    catalog = parse_catalog(decode_json(raw))
    encoded = encode_catalog(catalog)
    if len(encoded) > MAX_CATALOG_BYTES:
        raise CatalogError(f"encoded catalog exceeds {MAX_CATALOG_BYTES} bytes")
    latest = store.latest_catalog()
    current = parse_catalog(decode_json(latest[1].encode("utf-8"))) if latest else None
    check_upgrade(current, catalog)
    store.publish_catalog(catalog.version, encoded.decode("utf-8"), now_ms)
    return catalog.version


def ensure_catalog(store: Store, now_ms: int) -> int:
    """Publish the shipped catalog if the hub has none yet; return the current version."""
    latest = store.latest_catalog()
    if latest is not None:
        return latest[0]
    return publish_catalog(store, shipped_catalog(), now_ms)
