"""The service catalog held by this node (hub-authoritative, versioned)."""

from __future__ import annotations

import sqlite3

from edge_node.projection import OwnerOf
from edge_node.store import Store
from sync_protocol import Catalog, decode_json, encode_catalog, parse_catalog

__all__ = [
    "catalog_of_version",
    "current_catalog",
    "install_catalog",
    "newest_catalog",
    "owner_lookup",
]


def current_catalog(connection: sqlite3.Connection) -> Catalog | None:
    row = connection.execute("SELECT body FROM catalog ORDER BY version DESC LIMIT 1").fetchone()
    return parse_catalog(decode_json(row[0].encode("utf-8"))) if row else None


def install_catalog(connection: sqlite3.Connection, catalog: Catalog) -> None:
    """Store ``catalog`` (caller checked it is not older than the one held)."""
    connection.execute(
        "INSERT INTO catalog (version, body) VALUES (?, ?) ON CONFLICT(version) DO NOTHING",
        (catalog.version, encode_catalog(catalog).decode("utf-8")),
    )


def catalog_of_version(store: Store, version: int | None) -> Catalog | None:
    """The held catalog of ``version`` (None: none held), parsed once per version:
    parsing and validating it costs ~12 ms, many times a durable write, and a stored
    version's body never changes (``install_catalog`` never overwrites)."""
    if version is None:
        return None
    cached = store.parsed_catalog
    if cached is None or cached[0] != version:
        (body,) = store.connection.execute(
            "SELECT body FROM catalog WHERE version = ?", (version,)
        ).fetchone()
        cached = store.parsed_catalog = (version, parse_catalog(decode_json(body.encode())))
    return cached[1]


def newest_catalog(store: Store) -> Catalog | None:
    """The newest held catalog, parsed once per version (see :func:`catalog_of_version`)."""
    (version,) = store.connection.execute("SELECT max(version) FROM catalog").fetchone()
    return catalog_of_version(store, version)


def owner_lookup(store: Store, version: int | None = None) -> OwnerOf:
    """``owner_of`` of catalog ``version`` (None: the newest at the time of each call, as
    a change set may install a newer one part-way). A service's owner never changes
    between versions (``check_upgrade``), so any version that knows the service gives
    the same answer."""

    def owner_of(service_code: str) -> str | None:
        catalog = newest_catalog(store) if version is None else catalog_of_version(store, version)
        return None if catalog is None else catalog.owner_of(service_code)

    return owner_of
