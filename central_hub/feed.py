"""The change feed: what each node should learn from the hub, sealed to that node, one
page at a time, each page bounded by count and by bytes."""

from __future__ import annotations

import json
import uuid
from typing import Final

from central_hub.errors import BadRequest, UpgradeRequired
from central_hub.keystore import HubIdentity
from central_hub.storage.store import ChangeRow, NodeRow, Store
from sync_protocol import (
    SealingKey,
    TransactionDecision,
    TransactionStatus,
    decode_json,
    encode_json,
    record_from_dict,
)
from sync_protocol.catalog import parse_catalog
from sync_protocol.changes import (
    CatalogChange,
    Change,
    DecisionChange,
    RevocationChange,
    StatusChange,
    change_to_dict,
    seal_changes,
)
from sync_protocol.compression import compressed_bound
from sync_protocol.envelope import DEFAULT_LIMITS, Limits

__all__ = [
    "UNASKED_FEED",
    "UNASKED_VERSION",
    "build_changes",
    "max_page_payload_bytes",
    "publish_revocations",
]

# The envelope version of the feed for a node that does not ask for one: a node from
# before version 2 opens only version 1.
UNASKED_VERSION: Final = 1
# The feed format for a node that does not ask for one: the previous release reads no
# decision changes and no catalog of format 2.
UNASKED_FEED: Final = 1
# A CHANGES envelope is its payload compressed plus this much: header, ciphertext length
# and signature (178), HPKE encapsulation (1120) and AES-GCM tag (16).
_ENVELOPE_OVERHEAD_BYTES: Final = 178 + 1120 + 16
# The payload around the changes: {"changes":[...],"cursor":N,"has_more":false}.
_WRAPPER_BYTES: Final = len(encode_json({"changes": [], "cursor": 2**64, "has_more": False}))


def max_page_payload_bytes(limits: Limits = DEFAULT_LIMITS) -> int:
    """The largest change-set payload that always seals within ``limits``, even when its
    compression (either version's) cannot shrink it."""
    room = limits.max_envelope_bytes - _ENVELOPE_OVERHEAD_BYTES
    payload = min(limits.max_payload_bytes, room - room // 256 - 64)
    assert compressed_bound(payload) <= room
    return payload


def _to_change(row: ChangeRow) -> Change:
    data = decode_json(row.body.encode("utf-8"))
    if row.kind == "catalog":
        return CatalogChange(row.cursor, parse_catalog(data))
    if row.kind == "decision":
        decision = record_from_dict(data)
        assert isinstance(decision, TransactionDecision)
        return DecisionChange(row.cursor, decision)
    if row.kind == "status":
        record = record_from_dict(data)
        assert isinstance(record, TransactionStatus)
        return StatusChange(row.cursor, record)
    assert isinstance(data, list)
    return RevocationChange(row.cursor, tuple(uuid.UUID(str(n)) for n in data))


def _readable_by(change: Change, feed: int) -> bool:
    """Whether a node reading feed format ``feed`` can open ``change``."""
    if feed >= 2:
        return True
    if isinstance(change, DecisionChange):
        return False
    return not (isinstance(change, CatalogChange) and change.catalog.format > 1)


def build_changes(
    store: Store,
    identity: HubIdentity,
    node: NodeRow,
    *,
    after: int,
    now_ms: int,
    page_size: int,
    page_bytes: int,
    limits: Limits = DEFAULT_LIMITS,
    version: int = UNASKED_VERSION,
    feed: int = UNASKED_FEED,
) -> bytes:
    """The sealed change set after cursor ``after`` for ``node``: at most ``page_size``
    changes and, past the first, at most ``page_bytes`` of payload, never more than fits
    an envelope within ``limits`` (what the node opens with). ``has_more`` is set exactly
    when changes remain after the page. Sealed as envelope ``version``.

    A node that reads feed format 1 (the previous release) gets the changes it can open
    and the page ends before the first one it cannot; if that is the very next change it
    gets ``426 upgrade_required`` instead, so that it never skips one."""
    if after < 0:
        raise BadRequest("invalid_cursor", "after must be a non-negative integer")
    budget = min(page_bytes, max_page_payload_bytes(limits)) - _WRAPPER_BYTES
    page = store.changes_after(
        node.center_id, after, max_rows=min(page_size, limits.max_records), max_body_bytes=budget
    )
    # The store's cut counts stored bodies; the exact size is the encoded change with its
    # cursor and kind (and a comma), so the cut is made again here on exact figures.
    changes: list[Change] = []
    size = 0
    unreadable = False
    for row in page.rows:
        change = _to_change(row)
        if not _readable_by(change, feed):
            unreadable = True
            break
        change_bytes = len(encode_json(change_to_dict(change))) + 1
        if changes and size + change_bytes > budget:
            break
        changes.append(change)
        size += change_bytes
    if unreadable and not changes:
        raise UpgradeRequired(
            "upgrade_required",
            "the next change is one this node's software cannot read (an agency decision "
            "or a catalog with approvals)",
            hint="upgrade the edge-node software on this center's PC; its records are safe "
            "and keep reaching the hub meanwhile",
        )
    return seal_changes(
        changes,
        after=after,
        cursor=changes[-1].cursor if changes else after,
        has_more=page.more or len(changes) < len(page.rows),
        node_id=node.node_id,
        created_at_ms=now_ms,
        hub_key=identity.signing_key,
        node_key=SealingKey(node.sealing_key),
        limits=limits,
        version=version,
    )


def publish_revocations(store: Store, now_ms: int) -> int:
    """Announce the full revocation list to every center."""
    return store.append_change(None, "revocations", json.dumps(store.revoked_node_ids()), now_ms)
