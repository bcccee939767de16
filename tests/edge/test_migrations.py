"""The node file's migrations on real SQLite files: a file of the previous release (its
schema and rows, written here as that release wrote them) opened by today's ``Store``."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlite_utils import Database

from edge_node import store as edge_store
from edge_node.capture import CaptureContext, record_status_change, record_transaction
from edge_node.errors import CaptureError
from edge_node.events import insert_event
from edge_node.lookup import get_transaction
from edge_node.projection import load_summary
from edge_node.store import Store, _connect, migrations
from sync_protocol import (
    Catalog,
    HlcStamp,
    Record,
    TransactionCreated,
    TransactionStatus,
    derive_state,
    encode_catalog,
    new_transaction_created,
    new_transaction_status,
    new_uuid7,
    record_to_dict,
    summarize,
)
from tests.edge.support import HUB_NODE, NODE, NOW, format_1

# The previous release's precedence of statuses (one lane for everything), as it wrote
# status_key into its projection.
_OLD_PRECEDENCE = {
    "created": 0,
    "in_review": 1,
    "approved": 2,
    "rejected": 3,
    "cancelled": 4,
    "delivered": 5,
}


def _old_created(
    service: str, at_ms: int, national_id: str = "29001013400011"
) -> TransactionCreated:
    return new_transaction_created(
        event_id=new_uuid7(at_ms),
        hlc=HlcStamp(at_ms, 0, NODE),
        center_id="arish",
        service_code=service,
        national_id=national_id,
        citizen_name="منى علي",
        fee_piasters=2500,
        staff_id="clerk",
        recorded_at_ms=at_ms,
        required_agencies=None,  # the previous release's form
    )


def _old_status(
    transaction_id: uuid.UUID, status: str, at_ms: int, *, node: uuid.UUID = HUB_NODE
) -> TransactionStatus:
    return new_transaction_status(
        event_id=new_uuid7(at_ms),
        hlc=HlcStamp(at_ms, 0, node),
        center_id="arish",
        transaction_id=transaction_id,
        status=status,
        actor_id="officer-3" if node == HUB_NODE else "clerk",
        note="تمت المراجعة" if status in ("approved", "rejected") else "",
        recorded_at_ms=at_ms,
    )


def _old_key(record: Record) -> str:
    status = record.status if isinstance(record, TransactionStatus) else "created"
    return f"{_OLD_PRECEDENCE[status]}|{record.hlc.encode()}|{record.event_id}"


def _previous_release_file(
    path: Path,
    context: CaptureContext,
    catalog: Catalog,
    stories: list[list[Record]],
    *,
    stop_before: str,
) -> None:
    """A node file migrated up to ``stop_before``, holding ``stories`` (each one
    transaction's events) as the previous release stored them: encrypted events (local
    ones queued in the outbox), its one-lane projection, a format 1 catalog."""
    connection = _connect(path)
    migrations.apply(Database(connection), stop_before=stop_before)
    connection.execute("BEGIN IMMEDIATE")
    connection.execute(
        "INSERT INTO catalog (version, body) VALUES (?, ?)",
        (catalog.version, encode_catalog(catalog).decode()),
    )
    for events in stories:
        for record in events:
            insert_event(
                connection,
                context.pii,
                record,
                record_to_dict(record),
                origin=("local" if record.hlc.node_id == NODE else "hub"),
            )
            if record.hlc.node_id == NODE:
                connection.execute(
                    "INSERT INTO outbox (event_id, enqueued_at_ms) VALUES (?, ?)",
                    (str(record.event_id), NOW),
                )
        winner = max(events, key=_old_key)
        opening = next((r for r in events if isinstance(r, TransactionCreated)), None)
        connection.execute(
            "INSERT INTO transactions (transaction_id, service_code, fee_piasters, "
            "national_id_index, status, status_key, recorded_at_ms, updated_at_ms) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                str(events[0].transaction_id),
                None if opening is None else opening.service_code,
                None if opening is None else opening.fee_piasters,
                None if opening is None else context.pii.blind_index(opening.national_id),
                winner.status if isinstance(winner, TransactionStatus) else "created",
                _old_key(winner),
                None if opening is None else opening.recorded_at_ms,
                NOW,
            ),
        )
    connection.execute("COMMIT")
    connection.close()


def _stories() -> dict[str, list[Record]]:
    """One previous-release transaction per outcome. PAS-NEW's owner is passports,
    CIV-BIRTH's civil-status: they decide these transactions now."""
    waiting = _old_created("PAS-NEW", NOW)
    approved = _old_created("PAS-NEW", NOW + 1)
    rejected = _old_created("CIV-BIRTH", NOW + 2)
    delivered = _old_created("PAS-NEW", NOW + 3)
    cancelled = _old_created("CIV-BIRTH", NOW + 4)
    overruled = _old_created("PAS-NEW", NOW + 5)
    orphan = new_uuid7(NOW - 1_000)  # its opening event never reached this node
    return {
        "waiting": [waiting],
        "approved": [
            approved,
            _old_status(approved.transaction_id, "in_review", NOW + 100),
            _old_status(approved.transaction_id, "approved", NOW + 200),
        ],
        "rejected": [
            rejected,
            _old_status(rejected.transaction_id, "in_review", NOW + 100),
            _old_status(rejected.transaction_id, "rejected", NOW + 200),
        ],
        "delivered": [
            delivered,
            _old_status(delivered.transaction_id, "approved", NOW + 100),
            _old_status(delivered.transaction_id, "delivered", NOW + 300, node=NODE),
        ],
        "cancelled": [
            cancelled,
            _old_status(cancelled.transaction_id, "cancelled", NOW + 50, node=NODE),
        ],
        # A rejection, then a later approval (a concurrent one, lower rank): the rejection
        # stands, and the latest stamp is the approval's, in no key.
        "overruled": [
            overruled,
            _old_status(overruled.transaction_id, "rejected", NOW + 100),
            _old_status(overruled.transaction_id, "approved", NOW + 900),
        ],
        "orphan": [_old_status(orphan, "approved", NOW + 100)],
    }


OWNERS = {"PAS-NEW": "passports", "CIV-BIRTH": "civil-status"}


def test_the_previous_release_s_rows_are_recomputed_and_decided_by_the_service_owner(
    tmp_path: Path, catalog: Catalog, context: CaptureContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(edge_store, "_CHUNK", 2)  # several pages of transactions
    stories = _stories()
    path = tmp_path / "old.db"
    _previous_release_file(
        path,
        context,
        format_1(catalog),
        list(stories.values()),
        stop_before="m004_one_stop_approvals",
    )
    store = Store(path)
    try:
        connection = store.connection
        expected_status = {
            "waiting": "in_review",  # was "created": its service's owner has yet to decide
            "approved": "approved",
            "rejected": "rejected",
            "delivered": "delivered",
            "cancelled": "cancelled",
            "overruled": "rejected",
            "orphan": "unknown",
        }
        for name, events in stories.items():
            txn = events[0].transaction_id
            opening = events[0] if isinstance(events[0], TransactionCreated) else None
            owner = None if opening is None else OWNERS[opening.service_code]
            state = derive_state(txn, events, legacy_agency=owner)
            status, required, latest = connection.execute(
                "SELECT status, required_agencies, latest_hlc FROM transactions "
                "WHERE transaction_id = ?",
                (str(txn),),
            ).fetchone()
            assert (name, status) == (name, expected_status[name]) == (name, state.status)
            assert required is None  # the previous release's form
            reference = summarize(record_to_dict(r) for r in events)
            held = load_summary(connection, str(txn))
            assert held is not None
            assert (held.lanes, held.center_key, held.latest_hlc) == (
                reference.lanes,
                reference.center_key,
                reference.latest_hlc,
            )
            if name == "overruled":
                assert latest == events[-1].hlc.encode()  # kept: later than every key
            elif name == "approved":
                assert latest is None  # the approval's stamp, in its lane key
        # The old agency statuses sit in the legacy lane ('') and read as the owner's.
        lanes = dict(
            connection.execute(
                "SELECT transaction_id, agency_code || ':' || outcome FROM approvals"
            ).fetchall()
        )
        assert lanes[str(stories["approved"][0].transaction_id)] == ":approved"
        shown = get_transaction(store, context.pii, stories["approved"][0].transaction_id)
        assert shown is not None
        assert [
            (a["agency_code"], a["state"], a["actor_id"], a["note"]) for a in shown["approvals"]
        ] == [("passports", "approved", "officer-3", "تمت المراجعة")]
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

        # Today's workflow holds for them: deliver the approved one, not the waiting one.
        record_status_change(
            store,
            context,
            transaction_id=stories["approved"][0].transaction_id,
            status="delivered",
            staff_id="clerk",
            now_ms=NOW + 1_000,
        )
        with pytest.raises(CaptureError) as refused:
            record_status_change(
                store,
                context,
                transaction_id=stories["waiting"][0].transaction_id,
                status="delivered",
                staff_id="clerk",
                now_ms=NOW + 1_000,
            )
        assert refused.value.code == "not_approved"
    finally:
        store.close()


def test_every_row_survives_the_migrations_from_the_first_schema(
    tmp_path: Path, catalog: Catalog, context: CaptureContext
) -> None:
    stories = _stories()
    path = tmp_path / "first.db"
    _previous_release_file(
        path,
        context,
        format_1(catalog),
        list(stories.values()),
        stop_before="m002_fewer_pages_per_capture",
    )
    with _connect(path) as old:
        before = {
            table: sorted(old.execute(f"SELECT {columns} FROM {table}").fetchall())
            for table, columns in {
                "events": "*",
                "outbox": "*",
                "transactions": "transaction_id, service_code, fee_piasters, national_id_index, "
                "recorded_at_ms, updated_at_ms",
            }.items()
        }
    store = Store(path)
    try:
        connection = store.connection
        after = {
            table: sorted(connection.execute(f"SELECT {columns} FROM {table}").fetchall())
            for table, columns in {
                "events": "*",
                "outbox": "*",
                "transactions": "transaction_id, service_code, fee_piasters, national_id_index, "
                "recorded_at_ms, updated_at_ms",
            }.items()
        }
        assert after == before
        columns = {row[1] for row in connection.execute("PRAGMA table_info(transactions)")}
        assert not columns & {"national_id_ct", "citizen_name_ct"}
        schema = dict(connection.execute("SELECT name, sql FROM sqlite_master"))
        assert "AUTOINCREMENT" not in schema["outbox"]
        assert "WITHOUT ROWID" in schema["transactions"]
        assert "WHERE batch_seq IS NOT NULL" in schema["events_batch"]
        assert "sqlite_autoindex_outbox_1" not in schema
        # The node's last local event, as it wrote them (in stamp order in real life).
        newest = [r.hlc for events in stories.values() for r in events if r.hlc.node_id == NODE][-1]
        later = record_transaction(
            store,
            context,
            service_code="CIV-BIRTH",
            national_id="29001013400038",
            citizen_name="منى علي",
            staff_id="clerk",
            now_ms=NOW,
        )
        assert later.hlc > newest  # the clock resumes past the old events
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        store.close()


def test_a_fresh_file_has_the_approvals_schema(tmp_path: Path) -> None:
    store = Store(tmp_path / "fresh.db")
    try:
        connection = store.connection
        columns = {row[1] for row in connection.execute("PRAGMA table_info(transactions)")}
        assert {"required_agencies", "latest_hlc", "status_key"} <= columns
        schema = dict(connection.execute("SELECT name, sql FROM sqlite_master"))
        assert "WITHOUT ROWID" in schema["approvals"]
        assert "WHERE outcome = 'info_requested'" in schema["approvals_open_requests"]
        plan = " ".join(
            str(row[-1])
            for row in connection.execute(
                "EXPLAIN QUERY PLAN SELECT transaction_id, agency_code FROM approvals "
                "WHERE outcome = 'info_requested' ORDER BY at_ms"
            )
        )
        assert "approvals_open_requests" in plan
        assert [m.name for m in migrations.applied(Database(connection))][-1] == (
            "m004_one_stop_approvals"
        )
    finally:
        store.close()
