"""Builders shared by the edge tests: catalogs, agencies' decisions as the hub sends them,
row counts."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from edge_node.store import Store
from sync_protocol import (
    Catalog,
    ChangeSet,
    DecisionChange,
    HlcStamp,
    Record,
    StatusChange,
    TransactionDecision,
    TransactionStatus,
    catalog_to_dict,
    new_transaction_decision,
    new_uuid7,
    parse_catalog,
)

ROOT = Path(__file__).resolve().parents[2]
NOW = 1_790_000_000_000
NODE = uuid.UUID("01900000-0000-7000-8000-000000000001")
HUB_NODE = uuid.UUID("01900000-0000-7000-8000-0000000000ff")


def shipped_catalog() -> Catalog:
    """The hub's shipped catalog (format 2: agencies and approvals)."""
    raw = json.loads((ROOT / "central_hub/data/catalog.json").read_text(encoding="utf-8"))
    return parse_catalog(raw)


def format_1(catalog: Catalog) -> Catalog:
    """``catalog`` as the previous release's format: no agencies, no approvals."""
    raw = catalog_to_dict(catalog)
    del raw["agencies"]
    for service in raw["services"]:  # type: ignore[attr-defined]
        del service["approvals"]
    return parse_catalog(raw)


def agency_decision(
    transaction_id: uuid.UUID,
    agency: str,
    decision: str,
    *,
    at_ms: int,
    counter: int = 0,
    node: uuid.UUID = HUB_NODE,
    reason: str | None = None,
    note: str | None = None,
    actor: str = "officer-7",
) -> TransactionDecision:
    """A decision as an agency makes it at the hub, stamped by the hub's clock."""
    reasons = {"rejected": "inspection_failed", "info_requested": "missing_document"}
    return new_transaction_decision(
        event_id=new_uuid7(at_ms),
        hlc=HlcStamp(at_ms, counter, node),
        center_id="arish",
        transaction_id=transaction_id,
        agency_code=agency,
        decision=decision,
        reason_code=reasons.get(decision, "") if reason is None else reason,
        note=("صورة عقد الإيجار" if decision == "info_requested" else "") if note is None else note,
        actor_id=actor,
        recorded_at_ms=at_ms,
    )


def hub_changes(*records: Record, cursor: int = 1) -> ChangeSet:
    """A change set carrying ``records`` (decisions, or statuses made at the hub)."""
    changes: list[DecisionChange | StatusChange] = []
    for offset, record in enumerate(records):
        if isinstance(record, TransactionDecision):
            changes.append(DecisionChange(cursor + offset, record))
        else:
            assert isinstance(record, TransactionStatus)
            changes.append(StatusChange(cursor + offset, record))
    return ChangeSet(cursor=cursor + len(records), has_more=False, changes=tuple(changes))


def table_counts(store: Store) -> tuple[int, ...]:
    """Rows in events, outbox, transactions and approvals."""
    return tuple(
        store.connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for table in ("events", "outbox", "transactions", "approvals")
    )
