"""Applying the hub's change set: catalog versions, agency decisions and the previous
release's status events made at the hub, and the revocation list, all in one transaction
together with the new cursor (so a crash either applies a page and moves the cursor, or
does neither; re-applying is harmless)."""

from __future__ import annotations

import sqlite3
import uuid

from edge_node.catalog import current_catalog, install_catalog, owner_lookup
from edge_node.events import insert_event
from edge_node.pii import PiiCipher
from edge_node.projection import apply_to_projection
from edge_node.store import Store
from sync_protocol import (
    CatalogChange,
    ChangeSet,
    ClockError,
    DecisionChange,
    HlcStamp,
    HybridClock,
    RevocationChange,
    StatusChange,
    check_upgrade,
    record_to_dict,
)

__all__ = ["CURSOR_KEY", "apply_change_set", "current_cursor"]

CURSOR_KEY = "changes_cursor"


def current_cursor(store: Store) -> int:
    return int(store.get_state(CURSOR_KEY, "0") or 0)


def apply_change_set(
    store: Store,
    pii: PiiCipher,
    changes: ChangeSet,
    *,
    now_ms: int,
    node_id: uuid.UUID | None = None,
) -> int:
    """Apply ``changes`` idempotently; return how many status and decision events were
    new here.

    With ``node_id``, the node's hybrid logical clock observes every new event, so an
    event staff record afterwards is stamped after the decision it follows (capture also
    stamps after the transaction's latest event, for a stamp too far ahead to observe).
    A catalog older than the one held raises ``CatalogError`` and applies nothing."""
    new_events = 0
    owner_of = owner_lookup(store)  # read only for the previous release's transactions
    with store.write() as connection:
        for change in changes.changes:
            if isinstance(change, CatalogChange):
                check_upgrade(current_catalog(connection), change.catalog)
                install_catalog(connection, change.catalog)
            elif isinstance(change, StatusChange | DecisionChange):
                wire = record_to_dict(change.record)
                if insert_event(connection, pii, change.record, wire, origin="hub"):
                    apply_to_projection(
                        connection, pii, change.record, wire, now_ms, owner_of=owner_of
                    )
                    if node_id is not None:
                        _observe(connection, node_id, change.record.hlc, now_ms)
                    new_events += 1
            elif isinstance(change, RevocationChange):
                connection.execute("DELETE FROM revoked_nodes")
                connection.executemany(
                    "INSERT INTO revoked_nodes (node_id) VALUES (?)",
                    [(str(node),) for node in change.revoked_node_ids],
                )
        Store.set_state(connection, CURSOR_KEY, str(changes.cursor))
    return new_events


def _observe(
    connection: sqlite3.Connection, node_id: uuid.UUID, remote: HlcStamp, now_ms: int
) -> None:
    clock = HybridClock(node_id, lambda: now_ms, last=Store.last_stamp(connection))
    try:
        stamp = clock.observe(remote)
    except ClockError:
        # A stamp a day or more ahead of this PC's (hub-corrected) time: apply the event but
        # do not let it drag the local clock forward.
        return
    Store.set_state(connection, "hlc", stamp.encode())
