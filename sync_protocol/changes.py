"""The change feed (hub -> node): catalog versions, agency decisions made at the hub, the
previous release's hub status events, and the revocation list, sealed in a CHANGES
envelope to one node.

Payload (canonical JSON)::

    {"cursor": N, "has_more": bool, "changes": [
        {"cursor": n, "kind": "catalog", "catalog": {...}},
        {"cursor": n, "kind": "decision", "record": {...transaction.decision...}},
        {"cursor": n, "kind": "status", "record": {...transaction.status...}},
        {"cursor": n, "kind": "revocations", "revoked_node_ids": ["<uuid>", ...]}]}

Feed format 2 adds ``decision`` changes and format 2 catalogs; a node says it reads them
by asking with ``feed=2`` (:data:`FEED_VERSION`). A change of a kind this release does not
know is :class:`UpgradeRequired`, never skipped.

The envelope's ``seq`` is the request's ``after`` cursor plus one, so a node can tell a
response to its own request from a replayed older one; ``prev_hash`` is all zeros.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, TypeAlias

from sync_protocol.catalog import Catalog, catalog_to_dict, parse_catalog
from sync_protocol.envelope import (
    DEFAULT_LIMITS,
    GENESIS_HASH,
    VERSION,
    EnvelopeKind,
    Limits,
    SealedEnvelope,
    open_envelope,
    seal_envelope,
)
from sync_protocol.errors import EnvelopeError, InvalidSeal, RecordError, UpgradeRequired
from sync_protocol.ids import parse_uuid
from sync_protocol.keys import OpeningKey, SealingKey, SigningKey, VerifyKey
from sync_protocol.payload import decode_json, encode_json
from sync_protocol.records import TransactionDecision, TransactionStatus
from sync_protocol.text import _is_slug
from sync_protocol.wire import record_from_dict, record_to_dict

__all__ = [
    "FEED_VERSION",
    "FEED_VERSIONS",
    "CatalogChange",
    "Change",
    "ChangeSet",
    "DecisionChange",
    "RevocationChange",
    "StatusChange",
    "change_to_dict",
    "open_changes",
    "seal_changes",
]

MAX_REVOKED: Final = 100_000
FEED_VERSION: Final = 2  # the feed format this release reads (decisions, catalogs format 2)
FEED_VERSIONS: Final = (1, 2)


@dataclass(frozen=True, slots=True)
class CatalogChange:
    cursor: int
    catalog: Catalog


@dataclass(frozen=True, slots=True)
class StatusChange:
    cursor: int
    record: TransactionStatus


@dataclass(frozen=True, slots=True)
class DecisionChange:
    cursor: int
    record: TransactionDecision


@dataclass(frozen=True, slots=True)
class RevocationChange:
    cursor: int
    revoked_node_ids: tuple[uuid.UUID, ...]


Change: TypeAlias = CatalogChange | DecisionChange | StatusChange | RevocationChange


@dataclass(frozen=True, slots=True)
class ChangeSet:
    cursor: int
    has_more: bool
    changes: tuple[Change, ...]


def change_to_dict(change: Change) -> dict[str, object]:
    if isinstance(change, CatalogChange):
        return {
            "cursor": change.cursor,
            "kind": "catalog",
            "catalog": catalog_to_dict(change.catalog),
        }
    if isinstance(change, DecisionChange):
        return {
            "cursor": change.cursor,
            "kind": "decision",
            "record": record_to_dict(change.record),
        }
    if isinstance(change, StatusChange):
        return {"cursor": change.cursor, "kind": "status", "record": record_to_dict(change.record)}
    return {
        "cursor": change.cursor,
        "kind": "revocations",
        "revoked_node_ids": [str(n) for n in change.revoked_node_ids],
    }


def _cursor(value: object) -> int:
    if type(value) is not int or value < 0:
        raise RecordError("cursor must be a non-negative integer", field="cursor")
    return value


def _change_from_dict(data: object) -> Change:
    if not isinstance(data, dict):
        raise RecordError("a change must be a JSON object")
    kind = data.get("kind")
    if kind == "catalog" and set(data) == {"cursor", "kind", "catalog"}:
        return CatalogChange(_cursor(data["cursor"]), parse_catalog(data["catalog"]))
    if kind == "decision" and set(data) == {"cursor", "kind", "record"}:
        record = record_from_dict(data["record"])
        if not isinstance(record, TransactionDecision):
            raise RecordError("a decision change must carry a transaction.decision record")
        return DecisionChange(_cursor(data["cursor"]), record)
    if kind == "status" and set(data) == {"cursor", "kind", "record"}:
        record = record_from_dict(data["record"])
        if not isinstance(record, TransactionStatus):
            raise RecordError("a status change must carry a transaction.status record")
        return StatusChange(_cursor(data["cursor"]), record)
    if kind == "revocations" and set(data) == {"cursor", "kind", "revoked_node_ids"}:
        ids = data["revoked_node_ids"]
        if not isinstance(ids, list) or len(ids) > MAX_REVOKED:
            raise RecordError("revoked_node_ids must be a list of node ids")
        return RevocationChange(
            _cursor(data["cursor"]),
            tuple(parse_uuid(n, field="revoked_node_ids", version=None) for n in ids),
        )
    if isinstance(kind, str) and kind not in _KINDS and _is_slug(kind):
        raise UpgradeRequired(f"change kind {kind} is newer than this software: upgrade it")
    raise RecordError("change must be a catalog, decision, status or revocations object")


_KINDS: Final = frozenset({"catalog", "decision", "status", "revocations"})


def seal_changes(
    changes: Sequence[Change],
    *,
    after: int,
    cursor: int,
    has_more: bool,
    node_id: uuid.UUID,
    created_at_ms: int,
    hub_key: SigningKey,
    node_key: SealingKey,
    limits: Limits = DEFAULT_LIMITS,
    version: int = VERSION,
) -> bytes:
    """Seal the changes after cursor ``after`` for ``node_id`` as envelope ``version``."""
    payload = encode_json(
        {"cursor": cursor, "has_more": has_more, "changes": [change_to_dict(c) for c in changes]}
    )
    return seal_envelope(
        kind=EnvelopeKind.CHANGES,
        node_id=node_id,
        seq=after + 1,
        prev_hash=GENESIS_HASH,
        record_count=len(changes),
        created_at_ms=created_at_ms,
        payload=payload,
        signing_key=hub_key,
        recipient=node_key,
        limits=limits,
        version=version,
    )


def open_changes(
    envelope: SealedEnvelope,
    *,
    after: int,
    node_id: uuid.UUID,
    hub_key: VerifyKey,
    node_key: OpeningKey,
    limits: Limits = DEFAULT_LIMITS,
) -> ChangeSet:
    """Verify and open a change set that answers this node's request for ``after``."""
    header = envelope.header
    if header.kind is not EnvelopeKind.CHANGES:
        raise EnvelopeError("envelope is not a change set")
    if header.node_id != node_id or header.seq != after + 1:
        raise InvalidSeal
    data = decode_json(open_envelope(envelope, sender=hub_key, recipient=node_key, limits=limits))
    if not isinstance(data, dict) or set(data) != {"cursor", "has_more", "changes"}:
        raise RecordError("change set must have cursor, has_more and changes")
    items, has_more = data["changes"], data["has_more"]
    if not isinstance(items, list) or len(items) != header.record_count:
        raise RecordError("change count differs from the envelope header")
    if not isinstance(has_more, bool):
        raise RecordError("has_more must be a boolean")
    changes = tuple(_change_from_dict(item) for item in items)
    cursor = _cursor(data["cursor"])
    cursors = [after, *(c.cursor for c in changes)]
    if cursors != sorted(set(cursors)) or cursor < cursors[-1]:
        raise RecordError("change cursors must increase past the requested cursor")
    return ChangeSet(cursor=cursor, has_more=has_more, changes=changes)
