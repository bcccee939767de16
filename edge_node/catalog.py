"""The service catalog held by this node (hub-authoritative, versioned)."""

from __future__ import annotations

import sqlite3

from sync_protocol import Catalog, decode_json, encode_catalog, parse_catalog

__all__ = ["current_catalog", "install_catalog"]


def current_catalog(connection: sqlite3.Connection) -> Catalog | None:
    row = connection.execute("SELECT body FROM catalog ORDER BY version DESC LIMIT 1").fetchone()
    return parse_catalog(decode_json(row[0].encode("utf-8"))) if row else None


def install_catalog(connection: sqlite3.Connection, catalog: Catalog) -> None:
    """Store ``catalog`` (caller checked it is not older than the one held)."""
    connection.execute(
        "INSERT INTO catalog (version, body) VALUES (?, ?) ON CONFLICT(version) DO NOTHING",
        (catalog.version, encode_catalog(catalog).decode("utf-8")),
    )
