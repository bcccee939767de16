"""The storage contract, one suite run against every backend (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from central_hub.storage import schema
from central_hub.storage.engine import create_hub_engine
from central_hub.storage.store import ChainMoved, DecisionReplay, NodeRow, SqlStore, TokenRow
from sync_protocol import (
    GENESIS_HASH,
    HlcStamp,
    Record,
    Summary,
    TransactionStatus,
    WorkflowError,
    decode_json,
    encode_json,
    new_transaction_created,
    new_transaction_decision,
    new_transaction_status,
    new_uuid7,
    record_from_dict,
    record_to_dict,
)
from tests.hub.nodes import T0_MS

NODE = uuid.UUID("019b76da-a800-7000-8000-0000000000aa")
HUB = uuid.UUID("019b76da-a800-7000-8000-0000000000ff")
# A catalog of the previous release (format 1): CIV-BIRTH owned by civil-status.
CATALOG_V1 = json.dumps(
    {
        "version": 1,
        "services": [
            {
                "code": "CIV-BIRTH",
                "name_ar": "شهادة ميلاد",
                "name_en": "Birth certificate",
                "category": "civil_status",
                "agency_code": "civil-status",
                "agency_ar": "الأحوال المدنية",
                "agency_en": "Civil Status",
                "fee_piasters": 1000,
                "required_documents": [],
                "active": True,
            }
        ],
    },
    ensure_ascii=False,
)


def _node(node_id: uuid.UUID = NODE) -> NodeRow:
    return NodeRow(node_id, "", b"k" * 32, b"s" * 1216, "active", 0, GENESIS_HASH)


def _enrolled(store: SqlStore) -> None:
    store.create_center("arish", "العريش", T0_MS)
    store.create_enrollment_token("arish", "h" * 64, T0_MS, T0_MS + 1000)
    assert store.redeem_enrollment_token("h" * 64, _node(), "v1", T0_MS).outcome == "redeemed"


def _records(count: int, start: int = 0, agencies=()):  # type: ignore[no-untyped-def]
    return [
        new_transaction_created(
            event_id=new_uuid7(T0_MS + start + i),
            hlc=HlcStamp(T0_MS + start + i, 0, NODE),
            center_id="arish",
            service_code="CIV-BIRTH",
            national_id="29001013412375",
            citizen_name="محمد علي",
            fee_piasters=1000,
            staff_id="s-1",
            recorded_at_ms=T0_MS,
            required_agencies=agencies,
        )
        for i in range(count)
    ]


def _commit(store: SqlStore, seq: int, records, batch_hash: bytes = b"\x01" * 32):  # type: ignore[no-untyped-def]
    return store.commit_batch(
        node_id=NODE,
        seq=seq,
        batch_hash=batch_hash,
        envelope_bytes=100,
        records=records,
        now_ms=T0_MS,
        make_receipt=lambda accepted, known: f"{accepted}/{known}".encode(),
    )


def test_token_redeems_once_then_reports_used(store: SqlStore) -> None:
    _enrolled(store)
    again = store.redeem_enrollment_token("h" * 64, _node(uuid.uuid4()), "v1", T0_MS)
    assert again.outcome == "used"


def test_token_expires(store: SqlStore) -> None:
    store.create_center("arish", "العريش", T0_MS)
    store.create_enrollment_token("arish", "e" * 64, T0_MS, T0_MS + 1000)
    assert store.redeem_enrollment_token("e" * 64, _node(), "v1", T0_MS + 1000).outcome == "expired"


def test_fifty_concurrent_redemptions_of_one_token_have_one_winner(db_url: str) -> None:
    engine = create_hub_engine(db_url, pool_size=25)
    from central_hub.storage import migrate

    migrate.upgrade(engine)
    store = SqlStore(engine)
    store.create_center("arish", "العريش", T0_MS)
    store.create_enrollment_token("arish", "c" * 64, T0_MS, T0_MS + 10_000)
    start = threading.Barrier(50)

    def redeem(_: int) -> str:
        start.wait()
        return store.redeem_enrollment_token("c" * 64, _node(uuid.uuid4()), "v1", T0_MS).outcome

    with ThreadPoolExecutor(max_workers=50) as pool:
        outcomes = sorted(pool.map(redeem, range(50)))
    engine.dispose()
    assert outcomes == ["redeemed"] + ["used"] * 49


def test_commit_batch_advances_the_head_and_stores_the_receipt(store: SqlStore) -> None:
    _enrolled(store)
    outcome = _commit(store, 1, _records(3))
    assert (outcome.records_accepted, outcome.records_known, outcome.receipt) == (3, 0, b"3/0")
    snapshot = store.chain_snapshot(NODE, 1)
    assert (snapshot.head_seq, snapshot.hash_at_seq, snapshot.receipt_at_seq) == (
        1,
        b"\x01" * 32,
        b"3/0",
    )


def test_commit_batch_refuses_when_the_head_moved(store: SqlStore) -> None:
    _enrolled(store)
    _commit(store, 1, _records(1))
    with pytest.raises(ChainMoved):
        _commit(store, 1, _records(1, start=100))
    assert store.chain_snapshot(NODE, 1).receipt_at_seq == b"1/0"


def test_known_events_are_counted_once(store: SqlStore) -> None:
    _enrolled(store)
    records = _records(2)
    _commit(store, 1, records)
    assert _commit(store, 2, records + _records(1, start=50), b"\x02" * 32).receipt == b"1/2"


def test_quarantine_marks_the_node_forked_and_is_idempotent(store: SqlStore) -> None:
    _enrolled(store)
    for _ in range(2):
        store.quarantine_batch(
            node_id=NODE, seq=1, batch_hash=b"\x09" * 32, envelope=b"x", reason="fork", now_ms=T0_MS
        )
    node = store.get_node(NODE)
    assert node is not None and node.status == "forked"


def test_nonces_are_single_use_until_they_expire(store: SqlStore) -> None:
    assert store.remember_nonce(NODE, "a" * 32, T0_MS + 10, T0_MS)
    assert not store.remember_nonce(NODE, "a" * 32, T0_MS + 10, T0_MS)
    assert store.remember_nonce(NODE, "a" * 32, T0_MS + 100, T0_MS + 11)


def test_changes_are_ordered_and_scoped_to_a_center(store: SqlStore) -> None:
    store.create_center("arish", "العريش", T0_MS)
    store.create_center("aswan", "أسوان", T0_MS)
    everyone = store.append_change(None, "revocations", "[]", T0_MS)
    aswan_only = store.append_change("aswan", "status", "{}", T0_MS)
    arish_only = store.append_change("arish", "status", "{}", T0_MS)
    arish = store.changes_after("arish", 0, max_rows=10, max_body_bytes=1000)
    assert ([c.cursor for c in arish.rows], arish.more) == ([everyone, arish_only], False)
    aswan = store.changes_after("aswan", everyone, max_rows=10, max_body_bytes=1000)
    assert ([c.cursor for c in aswan.rows], aswan.more) == ([aswan_only], False)
    assert everyone < aswan_only < arish_only


def test_a_change_page_stops_at_its_row_count_and_says_more_follow(store: SqlStore) -> None:
    cursors = [store.append_change(None, "status", "{}", T0_MS) for _ in range(5)]
    page = store.changes_after("arish", 0, max_rows=2, max_body_bytes=10**6)
    assert ([c.cursor for c in page.rows], page.more) == (cursors[:2], True)
    page = store.changes_after("arish", cursors[2], max_rows=2, max_body_bytes=10**6)
    assert ([c.cursor for c in page.rows], page.more) == (cursors[3:], False)


def test_a_change_page_stops_before_its_byte_budget_but_always_takes_one(
    store: SqlStore,
) -> None:
    big = "x" * 600  # every body counts in UTF-8 bytes: "ع" is two
    first = store.append_change(None, "catalog", "ع" * 300, T0_MS)
    second = store.append_change(None, "catalog", big, T0_MS)
    third = store.append_change(None, "catalog", "{}", T0_MS)
    page = store.changes_after("arish", 0, max_rows=10, max_body_bytes=100)
    assert ([c.cursor for c in page.rows], page.more) == ([first], True)
    page = store.changes_after("arish", 0, max_rows=10, max_body_bytes=1200)
    assert ([c.cursor for c in page.rows], page.more) == ([first, second], True)
    page = store.changes_after("arish", first, max_rows=10, max_body_bytes=602)
    assert ([c.cursor for c in page.rows], page.more) == ([second, third], False)


def test_catalog_versions_publish_once(store: SqlStore) -> None:
    assert store.publish_catalog(1, '{"v":1}', T0_MS)
    assert not store.publish_catalog(1, '{"v":1}', T0_MS)
    assert store.publish_catalog(2, '{"v":2}', T0_MS)
    assert store.latest_catalog() == (2, '{"v":2}')


def test_api_tokens_resolve_to_their_role_and_agency(store: SqlStore) -> None:
    store.create_api_token("t" * 64, "agency", "officer-12", T0_MS, agency_code="health")
    store.create_api_token("o" * 64, "operator", "it-desk", T0_MS)
    assert store.api_token("t" * 64) == TokenRow("agency", "officer-12", "health")
    assert store.api_token("o" * 64) == TokenRow("operator", "it-desk", None)
    assert store.api_token("u" * 64) is None


def _status(transaction_id: uuid.UUID, status: str, at: int) -> TransactionStatus:
    return new_transaction_status(
        event_id=new_uuid7(T0_MS + at),
        hlc=HlcStamp(T0_MS + at, 0, NODE),
        center_id="arish",
        transaction_id=transaction_id,
        status=status,
        actor_id="s-1",
        recorded_at_ms=T0_MS + at,
    )


def _decision(transaction_id: uuid.UUID, agency: str, decision: str, at: int) -> Record:
    return new_transaction_decision(
        event_id=new_uuid7(T0_MS + at),
        hlc=HlcStamp(T0_MS + at, 0, HUB),
        center_id="arish",
        transaction_id=transaction_id,
        agency_code=agency,
        decision=decision,
        reason_code={"rejected": "not_eligible", "info_requested": "missing_document"}.get(
            decision, ""
        ),
        note="صورة العقد" if decision == "info_requested" else "",
        actor_id="officer-12",
        recorded_at_ms=T0_MS + at,
    )


def _projection(store: SqlStore) -> dict[str, tuple[object, ...]]:
    table = schema.transactions
    with store.engine.connect() as connection:
        rows = connection.execute(
            select(
                table.c.transaction_id, table.c.status, table.c.service_code, table.c.fee_piasters
            )
        )
        return {row.transaction_id: tuple(row[1:]) for row in rows}


def _lanes(store: SqlStore, transaction_id: uuid.UUID) -> dict[str, tuple[object, ...]]:
    lanes = schema.approvals.c
    with store.engine.connect() as connection:
        rows = connection.execute(
            select(lanes.agency_code, lanes.state, lanes.queue_since_ms).where(
                lanes.transaction_id == str(transaction_id)
            )
        )
        return {row.agency_code: (row.state, row.queue_since_ms) for row in rows}


def _event_count(store: SqlStore) -> int:
    with store.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(schema.events)).scalar_one())


def test_a_batch_mixing_new_and_known_events_counts_each_and_projects_the_new(
    store: SqlStore,
) -> None:
    _enrolled(store)
    first, second = _records(2, agencies=("health",))
    assert _commit(store, 1, [first, second]).receipt == b"2/0"
    third = _records(1, start=50)[0]
    mixed = [first, _decision(first.transaction_id, "health", "approved", 60), second, third]
    outcome = _commit(store, 2, mixed, b"\x02" * 32)
    assert (outcome.records_accepted, outcome.records_known) == (2, 2)
    assert _event_count(store) == 4
    assert _projection(store) == {
        str(first.transaction_id): ("approved", "CIV-BIRTH", 1000),
        str(second.transaction_id): ("in_review", "CIV-BIRTH", 1000),
        str(third.transaction_id): ("created", "CIV-BIRTH", 1000),
    }
    assert _lanes(store, second.transaction_id) == {"health": ("pending", T0_MS)}
    assert _lanes(store, first.transaction_id) == {"health": ("approved", None)}


def test_a_batch_of_known_events_only_stores_the_batch_and_changes_nothing_else(
    store: SqlStore,
) -> None:
    _enrolled(store)
    records = _records(3)
    _commit(store, 1, records)
    before = _projection(store)
    outcome = _commit(store, 2, records, b"\x02" * 32)
    assert (outcome.records_accepted, outcome.records_known) == (0, 3)
    assert (_projection(store), _event_count(store)) == (before, 3)
    assert store.chain_snapshot(NODE, 2).receipt_at_seq == b"0/3"


def test_the_projection_is_the_state_function_whatever_the_arrival_order(
    store: SqlStore,
) -> None:
    _enrolled(store)
    created = _records(1, agencies=("civil-defense", "health"))[0]
    txn = created.transaction_id
    # The delivery arrives before the transaction it closes, then decisions.
    _commit(store, 1, [_status(txn, "delivered", 30)])
    assert _projection(store) == {str(txn): ("delivered", None, None)}
    _commit(store, 2, [created, _decision(txn, "health", "approved", 20)], b"\x02" * 32)
    assert _projection(store) == {str(txn): ("delivered", "CIV-BIRTH", 1000)}
    # Within one batch as well: the rejection outranks the approval, whatever the order.
    decisions = [_decision(txn, "civil-defense", "rejected", 10)]
    decisions.append(_decision(txn, "civil-defense", "approved", 11))
    _commit(store, 3, decisions, b"\x03" * 32)
    assert _lanes(store, txn)["civil-defense"][0] == "rejected"
    assert _projection(store)[str(txn)][0] == "delivered"


def test_large_batches_merge_the_projection_as_small_ones_do(store: SqlStore) -> None:
    # Enough new transactions in each batch that PostgreSQL COPYs them (and folds the
    # rest): the merge must not depend on which way a row went in.
    _enrolled(store)
    created = _records(1, agencies=("health",))[0]
    txn = created.transaction_id
    filler = iter(_records(200, start=1000, agencies=("health", "local-unit")))

    def padded(*records):  # type: ignore[no-untyped-def]
        return [*records, *(next(filler) for _ in range(40))]

    _commit(store, 1, padded(_decision(txn, "health", "info_requested", 30)))  # row first
    _commit(store, 2, padded(created, _decision(txn, "health", "info_provided", 40)), b"\x02" * 32)
    assert _lanes(store, txn) == {"health": ("pending", T0_MS + 40)}
    _commit(store, 3, padded(_decision(txn, "health", "approved", 51)), b"\x03" * 32)
    projection = _projection(store)
    assert projection[str(txn)] == ("approved", "CIV-BIRTH", 1000)
    assert len(projection) == 1 + 3 * 40
    assert _event_count(store) == 4 + 3 * 40
    assert {state for state, _ in _lanes(store, next(filler).transaction_id).values()} <= {
        "pending"
    }


def test_of_two_equal_decisions_the_later_clock_wins_even_when_it_arrived_first(
    store: SqlStore,
) -> None:
    _enrolled(store)
    created = _records(1, agencies=("health",))[0]
    txn = created.transaction_id
    _commit(store, 1, [created, _decision(txn, "health", "approved", 90)])
    _commit(store, 2, [_decision(txn, "health", "approved", 80)], b"\x02" * 32)
    with store.engine.connect() as connection:
        key = connection.execute(select(schema.approvals.c.lane_key)).scalar_one()
    assert key.startswith(f"2|{HlcStamp(T0_MS + 90, 0, HUB).encode()}|")


def test_the_previous_releases_agency_statuses_decide_for_the_services_owner(
    store: SqlStore,
) -> None:
    _enrolled(store)
    store.publish_catalog(1, CATALOG_V1, T0_MS)
    legacy = _records(1, agencies=None)[0]
    _commit(store, 1, [legacy, _status(legacy.transaction_id, "in_review", 5)])
    assert _lanes(store, legacy.transaction_id) == {
        "": ("pending", None),
        "civil-status": ("pending", T0_MS + 5),
    }
    _commit(store, 2, [_status(legacy.transaction_id, "approved", 9)], b"\x02" * 32)
    assert _projection(store)[str(legacy.transaction_id)][0] == "approved"


def _decide(store: SqlStore, txn: uuid.UUID, decision: str, key: str, at: int):  # type: ignore[no-untyped-def]
    def make(center: str, summary: Summary) -> Record:
        assert center == "arish" and summary.opened
        return _decision(txn, "health", decision, at)

    return store.decide(
        transaction_id=txn,
        agency_code="health",
        idempotency_key=key,
        request={"decision": decision},
        now_ms=T0_MS + at,
        make=make,  # type: ignore[arg-type]
        answer=lambda record, after: {"event_id": str(record.event_id), "lanes": len(after.lanes)},
    )


def test_a_hub_decision_is_projected_queued_for_its_center_and_answered_once(
    store: SqlStore,
) -> None:
    _enrolled(store)
    created = _records(1, agencies=("health",))[0]
    _commit(store, 1, [created])
    answer, replayed = _decide(store, created.transaction_id, "approved", "key-00001", 70)
    assert not replayed and answer["lanes"] == 1
    assert _projection(store)[str(created.transaction_id)][0] == "approved"
    page = store.changes_after("arish", 0, max_rows=10, max_body_bytes=10**6)
    assert [c.kind for c in page.rows] == ["decision"]
    again, replayed = _decide(store, created.transaction_id, "approved", "key-00001", 99)
    assert (again, replayed) == (answer, True)
    assert _event_count(store) == 2
    with pytest.raises(DecisionReplay):
        _decide(store, created.transaction_id, "rejected", "key-00001", 99)


def test_a_refused_decision_writes_nothing(store: SqlStore) -> None:
    _enrolled(store)
    created = _records(1, agencies=("health",))[0]
    _commit(store, 1, [created])

    def refuse(center: str, summary: Summary) -> Record:
        raise WorkflowError("wrong_agency", "not this agency")

    with pytest.raises(WorkflowError):
        store.decide(
            transaction_id=created.transaction_id,
            agency_code="passports",
            idempotency_key="key-00002",
            request={},
            now_ms=T0_MS,
            make=refuse,  # type: ignore[arg-type]
            answer=lambda record, after: {},
        )
    assert _event_count(store) == 1
    assert store.changes_after("arish", 0, max_rows=10, max_body_bytes=10**6).rows == ()


def test_stored_bodies_are_each_records_canonical_json(store: SqlStore) -> None:
    _enrolled(store)
    records = [*_records(2), _status(_records(1)[0].transaction_id, "approved", 9)]
    _commit(store, 1, records)
    with store.engine.connect() as connection:
        rows = connection.execute(select(schema.events.c.event_id, schema.events.c.body))
        stored = {row.event_id: row.body for row in rows}
    assert stored == {
        str(r.event_id): encode_json(record_to_dict(r)).decode("utf-8") for r in records
    }


def test_an_event_the_hub_stored_counts_as_known_in_a_later_batch(store: SqlStore) -> None:
    _enrolled(store)
    created = _records(1, agencies=("health",))[0]
    _commit(store, 1, [created])
    answer, _ = _decide(store, created.transaction_id, "approved", "key-00003", 70)
    with store.engine.connect() as connection:
        body = connection.execute(
            select(schema.events.c.body).where(schema.events.c.event_id == answer["event_id"])
        ).scalar_one()
    approved = record_from_dict(decode_json(body.encode("utf-8")))
    fresh = _records(1, start=80)
    outcome = _commit(store, 2, [approved, *fresh], b"\x02" * 32)
    assert (outcome.records_accepted, outcome.records_known) == (1, 1)
    assert _event_count(store) == 3


def test_concurrent_batches_sharing_events_store_and_count_each_event_once(db_url: str) -> None:
    engine = create_hub_engine(db_url, pool_size=8)
    from central_hub.storage import migrate

    migrate.upgrade(engine)
    store = SqlStore(engine)
    store.create_center("arish", "العريش", T0_MS)
    nodes = [uuid.uuid4() for _ in range(8)]
    for index, node in enumerate(nodes):
        token = f"{index:064d}"
        store.create_enrollment_token("arish", token, T0_MS, T0_MS + 10_000)
        assert store.redeem_enrollment_token(token, _node(node), "v1", T0_MS).outcome == "redeemed"
    shared = _records(200)
    start = threading.Barrier(len(nodes))

    def push(index: int) -> tuple[int, int]:
        own = _records(10, start=1000 + 100 * index)
        start.wait()
        outcome = store.commit_batch(
            node_id=nodes[index],
            seq=1,
            batch_hash=b"\x01" * 32,
            envelope_bytes=100,
            records=[*shared[25 * index :], *own, *shared[: 25 * index]],  # each its own order
            now_ms=T0_MS,
            make_receipt=lambda accepted, known: b"",
        )
        return outcome.records_accepted, outcome.records_known

    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        counts = list(pool.map(push, range(len(nodes))))
    try:
        stored = (_event_count(store), len(_projection(store)))
    finally:
        engine.dispose()
    total = 200 + 10 * len(nodes)
    assert sum(accepted for accepted, _ in counts) == total
    assert sum(known for _, known in counts) == 200 * (len(nodes) - 1)
    assert stored == (total, total)
