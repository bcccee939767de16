"""The change feed: what each node should learn from the hub, sealed to that node."""

from __future__ import annotations

import json
import uuid

from central_hub.errors import BadRequest
from central_hub.keystore import HubIdentity
from central_hub.storage.store import ChangeRow, NodeRow, Store
from sync_protocol import (
    SealingKey,
    TransactionStatus,
    decode_json,
    new_transaction_status,
    new_uuid7,
    record_from_dict,
)
from sync_protocol.catalog import parse_catalog
from sync_protocol.changes import (
    CatalogChange,
    Change,
    RevocationChange,
    StatusChange,
    seal_changes,
)
from sync_protocol.hlc import HybridClock

__all__ = ["build_changes", "publish_revocations", "record_agency_decision"]


def _to_change(row: ChangeRow) -> Change:
    data = decode_json(row.body.encode("utf-8"))
    if row.kind == "catalog":
        return CatalogChange(row.cursor, parse_catalog(data))
    if row.kind == "status":
        record = record_from_dict(data)
        assert isinstance(record, TransactionStatus)
        return StatusChange(row.cursor, record)
    assert isinstance(data, list)
    return RevocationChange(row.cursor, tuple(uuid.UUID(str(n)) for n in data))


def build_changes(
    store: Store, identity: HubIdentity, node: NodeRow, *, after: int, now_ms: int, page_size: int
) -> bytes:
    """The sealed change set after cursor ``after`` for ``node``."""
    if after < 0:
        raise BadRequest("invalid_cursor", "after must be a non-negative integer")
    rows = store.changes_after(node.center_id, after, page_size)
    changes = [_to_change(row) for row in rows]
    return seal_changes(
        changes,
        after=after,
        cursor=rows[-1].cursor if rows else after,
        has_more=len(rows) == page_size,
        node_id=node.node_id,
        created_at_ms=now_ms,
        hub_key=identity.signing_key,
        node_key=SealingKey(node.sealing_key),
    )


def publish_revocations(store: Store, now_ms: int) -> int:
    """Announce the full revocation list to every center."""
    return store.append_change(None, "revocations", json.dumps(store.revoked_node_ids()), now_ms)


def record_agency_decision(
    store: Store,
    clock: HybridClock,
    *,
    transaction_id: uuid.UUID,
    center_id: str,
    status: str,
    actor_id: str,
    note: str,
    now_ms: int,
) -> TransactionStatus:
    """Append a status event made at the hub; it flows to the originating center."""
    record = new_transaction_status(
        event_id=new_uuid7(now_ms),
        hlc=clock.tick(),
        center_id=center_id,
        transaction_id=transaction_id,
        status=status,
        actor_id=actor_id,
        note=note,
        recorded_at_ms=now_ms,
    )
    store.record_hub_event(record, now_ms)
    return record
