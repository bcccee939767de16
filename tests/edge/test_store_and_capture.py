"""The edge write path on real SQLite files: capture, sealing budgets, change sets."""

from __future__ import annotations

import dataclasses
import itertools
import uuid

import pytest

from edge_node.capture import CaptureContext, record_status_change, record_transaction
from edge_node.catalog import current_catalog
from edge_node.errors import CaptureError, SyncHalted
from edge_node.inbox import apply_change_set, current_cursor
from edge_node.lookup import find_by_national_id, get_transaction
from edge_node.sealer import HALT_KEY, SealerConfig, seal_pending
from edge_node.store import Store
from sync_protocol import (
    CatalogChange,
    CatalogError,
    ChangeSet,
    HlcStamp,
    OpeningKey,
    SigningKey,
    StatusChange,
    new_transaction_status,
    new_uuid7,
    open_batch,
    parse_envelope,
)
from sync_protocol.payload import MAX_RECORDS
from tests.edge.support import NODE, NOW, agency_decision, hub_changes


def _record(store: Store, context: CaptureContext, **overrides: object):  # type: ignore[no-untyped-def]
    fields: dict[str, object] = {
        "service_code": "CIV-BIRTH",
        "national_id": "29001013400011",
        "citizen_name": "أحمد محمد",
        "staff_id": "clerk",
        "now_ms": NOW,
    } | overrides
    return record_transaction(store, context, **fields)  # type: ignore[arg-type]


def _counts(store: Store) -> tuple[int, ...]:
    return tuple(
        store.connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for table in ("events", "outbox", "transactions", "batches")
    )


def test_record_writes_event_outbox_and_projection_together(store, context) -> None:  # type: ignore[no-untyped-def]
    created = _record(store, context)
    assert _counts(store) == (1, 1, 1, 0)
    assert created.fee_piasters == 2500  # the catalog's fee


@pytest.mark.parametrize(
    "overrides",
    [
        {"national_id": "2900101340001"},  # 13 digits
        {"national_id": "29001019900011"},  # no such governorate
        {"citizen_name": ""},
        {"citizen_name": "Ahmed 7"},
        {"service_code": "NOPE"},
        {"fee_piasters": -1},
    ],
)
def test_bad_input_is_refused_and_writes_nothing(store, context, overrides) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CaptureError):
        _record(store, context, **overrides)
    assert _counts(store) == (0, 0, 0, 0)


def test_status_change_needs_a_known_transaction(store, context) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CaptureError, match="no transaction"):
        record_status_change(
            store,
            context,
            transaction_id=uuid.uuid4(),
            status="delivered",
            staff_id="c",
            now_ms=NOW,
        )
    created = _record(store, context)
    record_status_change(
        store,
        context,
        transaction_id=created.transaction_id,
        status="delivered",
        staff_id="c",
        now_ms=NOW + 1,
    )
    status = store.connection.execute("SELECT status FROM transactions").fetchone()[0]
    assert status == "delivered"


def test_sealing_respects_the_record_and_byte_budgets_and_chains(store, context) -> None:  # type: ignore[no-untyped-def]
    hub_opening, node_signing = OpeningKey.generate(), SigningKey.generate()
    for i in range(25):
        _record(store, context, national_id=f"290010134{i:04d}1", now_ms=NOW + i)
    seqs = seal_pending(
        store,
        node_id=NODE,
        signing_key=node_signing,
        hub_key=hub_opening.public,
        pii=context.pii,
        now_ms=NOW + 100,
        config=SealerConfig(max_records=10, max_record_bytes=1_000_000),
    )
    assert seqs == [1, 2, 3]
    more = [_record(store, context, national_id=f"290010134{i:04d}1") for i in range(30, 33)]
    assert seal_pending(
        store,
        node_id=NODE,
        signing_key=node_signing,
        hub_key=hub_opening.public,
        pii=context.pii,
        now_ms=NOW + 200,
        config=SealerConfig(max_records=10, max_record_bytes=1),  # one record per batch
    ) == [4, 5, 6]
    rows = store.connection.execute(
        "SELECT seq, prev_hash, batch_hash, envelope, record_count FROM batches ORDER BY seq"
    ).fetchall()
    assert [row[4] for row in rows] == [10, 10, 5, 1, 1, 1]
    for earlier, later in itertools.pairwise(rows):
        assert later[1] == earlier[2]  # prev_hash links to the previous batch
    opened = open_batch(
        parse_envelope(rows[-1][3]), node_key=node_signing.public, hub_key=hub_opening
    )
    assert [r.transaction_id for r in opened] == [more[-1].transaction_id]
    assert _counts(store)[1] == 0  # the outbox is empty


def test_full_only_sealing_leaves_a_partial_batch_pending(store, context) -> None:  # type: ignore[no-untyped-def]
    keys = {"signing_key": SigningKey.generate(), "hub_key": OpeningKey.generate().public}
    for i in range(25):
        _record(store, context, national_id=f"290010134{i:04d}1", now_ms=NOW + i)

    def seal(config: SealerConfig) -> list[int]:
        return seal_pending(
            store, node_id=NODE, pii=context.pii, now_ms=NOW + 100, config=config,
            full_only=True, **keys,
        )  # fmt: skip

    assert seal(SealerConfig(max_records=10, max_record_bytes=1_000_000)) == [1, 2]
    assert _counts(store)[1] == 5  # five pending: not a full batch
    # A batch that reaches the byte budget is full too: one record each, to the last.
    assert seal(SealerConfig(max_records=10, max_record_bytes=1)) == [3, 4, 5, 6, 7]
    assert _counts(store)[1] == 0


@pytest.mark.parametrize(
    "bounds", [{"max_records": 0}, {"max_records": MAX_RECORDS + 1}, {"max_record_bytes": 0}]
)
def test_a_batch_budget_no_hub_could_store_is_refused(bounds: dict[str, int]) -> None:
    with pytest.raises(ValueError, match=next(iter(bounds))):
        SealerConfig(**bounds)


def test_sealing_refuses_while_halted_but_recording_goes_on(store, context) -> None:  # type: ignore[no-untyped-def]
    with store.write() as connection:
        Store.set_state(connection, HALT_KEY, "restored from an old backup")
    _record(store, context)
    with pytest.raises(SyncHalted):
        seal_pending(
            store,
            node_id=NODE,
            signing_key=SigningKey.generate(),
            hub_key=OpeningKey.generate().public,
            pii=context.pii,
            now_ms=NOW,
        )
    assert _counts(store) == (1, 1, 1, 0)


def test_an_older_catalog_is_refused_and_the_cursor_stays(store, context, catalog) -> None:  # type: ignore[no-untyped-def]
    newer = dataclasses.replace(catalog, version=catalog.version + 1)
    apply_change_set(
        store,
        context.pii,
        ChangeSet(changes=(CatalogChange(5, newer),), cursor=5, has_more=False),
        now_ms=NOW,
    )
    assert current_catalog(store.connection).version == catalog.version + 1
    assert current_cursor(store) == 5
    with pytest.raises(CatalogError, match="older"):
        apply_change_set(
            store,
            context.pii,
            ChangeSet(changes=(CatalogChange(6, catalog),), cursor=6, has_more=False),
            now_ms=NOW,
        )
    assert current_cursor(store) == 5
    assert current_catalog(store.connection).version == catalog.version + 1


def test_a_delivery_after_a_hub_decision_is_stamped_after_it(store, context) -> None:  # type: ignore[no-untyped-def]
    created = _record(store, context, service_code="HLT-CLINIC")  # health approves it
    ahead = NOW + 3_600_000  # the hub's clock an hour ahead of this PC's
    approval = agency_decision(created.transaction_id, "health", "approved", at_ms=ahead, counter=4)
    assert (
        apply_change_set(store, context.pii, hub_changes(approval), now_ms=NOW, node_id=NODE) == 1
    )
    delivered = record_status_change(
        store,
        context,
        transaction_id=created.transaction_id,
        status="delivered",
        staff_id="c",
        now_ms=NOW + 5,
    )
    assert (delivered.hlc.wall_ms, delivered.hlc.counter) > (ahead, 4)


def test_stamps_keep_increasing_across_captures_without_a_state_write(store, context) -> None:  # type: ignore[no-untyped-def]
    # The wall clock stands still and even steps back: the counter carries the order.
    stamps = [_record(store, context, now_ms=NOW - step).hlc for step in (0, 0, 5, 0)]
    assert stamps == sorted(stamps) and len(set(stamps)) == 4
    assert store.get_state("hlc") is None  # capture wrote no state row
    reopened = Store(store.path)
    try:
        assert Store.last_stamp(reopened.connection) == stamps[-1]
    finally:
        reopened.close()


def test_staff_find_a_citizen_by_national_id_with_name_from_the_opening_event(
    store, context
) -> None:  # type: ignore[no-untyped-def]
    first = _record(store, context, now_ms=NOW)
    second = _record(store, context, now_ms=NOW + 1, service_code="CIV-DEATH")
    _record(store, context, now_ms=NOW + 2, national_id="29001013400038", citizen_name="منى علي")
    found = find_by_national_id(store, context.pii, " 29001013400011 ")
    assert [row["transaction_id"] for row in found] == [
        str(second.transaction_id),
        str(first.transaction_id),
    ]
    assert {(row["national_id"], row["citizen_name"]) for row in found} == {
        ("29001013400011", "أحمد محمد")
    }
    # The projection holds no PII of its own: nothing in it decrypts to the name.
    row = store.connection.execute("SELECT * FROM transactions").fetchone()
    assert not any(isinstance(value, bytes) for value in row)


def test_a_transaction_known_only_by_a_hub_event_shows_no_citizen_and_no_state_yet(
    store, context
) -> None:  # type: ignore[no-untyped-def]
    # The state function: without its opening event a transaction's state is unknown
    # (the hub's decision is kept, and counts once the opening event is here).
    transaction_id = new_uuid7(NOW - 10)
    decision = new_transaction_status(
        event_id=new_uuid7(NOW),
        hlc=HlcStamp(NOW, 0, NODE),
        center_id="arish",
        transaction_id=transaction_id,
        status="approved",
        actor_id="agency",
        recorded_at_ms=NOW,
    )
    changes = ChangeSet(cursor=3, has_more=False, changes=(StatusChange(3, decision),))
    apply_change_set(store, context.pii, changes, now_ms=NOW)
    found = get_transaction(store, context.pii, transaction_id)
    assert found is not None
    assert (found["status"], found["national_id"], found["citizen_name"]) == (
        "unknown",
        None,
        None,
    )
    assert (found["required_agencies"], found["approvals"]) == (None, [])
