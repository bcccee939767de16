"""One-stop approvals at the edge, on real SQLite files: what capture records and refuses,
how agencies' decisions from the hub fold into the projection (equal to the protocol's
state function in any order of arrival), and what staff read back."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_node.capture import (
    CaptureContext,
    record_info_provided,
    record_status_change,
    record_transaction,
    store_local_event,
)
from edge_node.catalog import install_catalog
from edge_node.errors import CaptureError
from edge_node.inbox import apply_change_set
from edge_node.lookup import get_transaction, open_information_requests
from edge_node.pii import PiiCipher, generate_data_key
from edge_node.projection import load_summary
from edge_node.store import Store
from sync_protocol import (
    Catalog,
    HlcStamp,
    Record,
    TransactionCreated,
    TransactionDecision,
    TransactionStatus,
    derive_state,
    new_transaction_created,
    new_transaction_decision,
    new_transaction_status,
    new_uuid7,
    record_to_dict,
    summarize,
)
from tests.edge.support import (
    NODE,
    NOW,
    agency_decision,
    format_1,
    hub_changes,
    shipped_catalog,
    table_counts,
)

SHOP = ("civil-defense", "health", "local-unit")  # LIC-SHOP needs these three approvals


def _record(
    store: Store, context: CaptureContext, service: str = "LIC-SHOP", **overrides: object
) -> TransactionCreated:
    fields: dict[str, object] = {
        "service_code": service,
        "national_id": "29001013400011",
        "citizen_name": "أحمد محمد",
        "staff_id": "clerk",
        "now_ms": NOW,
    } | overrides
    return record_transaction(store, context, **fields)  # type: ignore[arg-type]


def _deliver(
    store: Store, context: CaptureContext, txn: uuid.UUID, at_ms: int = NOW + 10
) -> TransactionStatus:
    return record_status_change(
        store, context, transaction_id=txn, status="delivered", staff_id="clerk", now_ms=at_ms
    )


def _decide(store: Store, context: CaptureContext, *decisions: TransactionDecision) -> int:
    return apply_change_set(store, context.pii, hub_changes(*decisions), now_ms=NOW, node_id=NODE)


def _status(store: Store, txn: uuid.UUID) -> str:
    return store.connection.execute(
        "SELECT status FROM transactions WHERE transaction_id = ?", (str(txn),)
    ).fetchone()[0]


# --- capture ------------------------------------------------------------------------------


def test_capture_records_the_catalog_s_required_agencies(store, context) -> None:  # type: ignore[no-untyped-def]
    shop = _record(store, context)
    birth = _record(store, context, "CIV-BIRTH", now_ms=NOW + 1)
    assert (shop.required_agencies, birth.required_agencies) == (SHOP, ())
    rows = dict(
        (r[0], r[1:])
        for r in store.connection.execute(
            "SELECT transaction_id, status, required_agencies, latest_hlc FROM transactions"
        )
    )
    assert rows[str(shop.transaction_id)] == ("in_review", ",".join(SHOP), None)
    assert rows[str(birth.transaction_id)] == ("created", "", None)  # ready to deliver


def test_a_format_1_catalog_requires_no_approval(tmp_path: Path, context: CaptureContext) -> None:
    store = Store(tmp_path / "edge.db")
    try:
        with store.write() as connection:
            install_catalog(connection, format_1(shipped_catalog()))
        created = _record(store, context)
        assert created.required_agencies == ()
        assert _status(store, created.transaction_id) == "created"
    finally:
        store.close()


def test_delivering_before_approval_is_refused_and_writes_nothing(store, context) -> None:  # type: ignore[no-untyped-def]
    created = _record(store, context)
    _decide(
        store, context, agency_decision(created.transaction_id, "health", "approved", at_ms=NOW + 1)
    )
    before = table_counts(store)
    with pytest.raises(CaptureError, match="civil-defense, local-unit") as refused:
        _deliver(store, context, created.transaction_id)
    assert refused.value.code == "not_approved"
    assert table_counts(store) == before
    assert _status(store, created.transaction_id) == "in_review"


def test_delivery_once_every_agency_approved(store, context) -> None:  # type: ignore[no-untyped-def]
    created = _record(store, context)
    txn = created.transaction_id
    _decide(
        store,
        context,
        *(agency_decision(txn, a, "approved", at_ms=NOW + i) for i, a in enumerate(SHOP)),
    )
    assert _status(store, txn) == "approved"
    _deliver(store, context, txn)
    assert _status(store, txn) == "delivered"
    with pytest.raises(CaptureError) as refused:
        record_status_change(
            store, context, transaction_id=txn, status="cancelled", staff_id="c", now_ms=NOW + 20
        )
    assert refused.value.code == "transaction_closed"


def test_a_service_without_approvals_is_delivered_at_once(store, context) -> None:  # type: ignore[no-untyped-def]
    created = _record(store, context, "CIV-BIRTH")
    _deliver(store, context, created.transaction_id)
    assert _status(store, created.transaction_id) == "delivered"


@pytest.mark.parametrize("status", ["approved", "rejected", "in_review", "created"])
def test_a_center_records_only_delivered_or_cancelled(store, context, status: str) -> None:  # type: ignore[no-untyped-def]
    created = _record(store, context)
    before = table_counts(store)
    with pytest.raises(CaptureError) as refused:
        record_status_change(
            store,
            context,
            transaction_id=created.transaction_id,
            status=status,
            staff_id="c",
            now_ms=NOW + 1,
        )
    assert refused.value.code == "decision_not_allowed"
    assert table_counts(store) == before


def test_a_rejected_transaction_can_be_cancelled_but_not_delivered(store, context) -> None:  # type: ignore[no-untyped-def]
    txn = _record(store, context).transaction_id
    _decide(store, context, agency_decision(txn, "health", "rejected", at_ms=NOW + 1))
    assert _status(store, txn) == "rejected"
    with pytest.raises(CaptureError) as refused:
        _deliver(store, context, txn)
    assert refused.value.code == "not_approved"
    record_status_change(
        store, context, transaction_id=txn, status="cancelled", staff_id="c", now_ms=NOW + 2
    )
    assert _status(store, txn) == "cancelled"


def _answer(
    store: Store,
    context: CaptureContext,
    txn: uuid.UUID,
    agency: str = "health",
    at_ms: int = NOW + 50,
) -> TransactionDecision:
    return record_info_provided(
        store,
        context,
        transaction_id=txn,
        agency_code=agency,
        note="صورة العقد مرفقة",
        staff_id="clerk",
        now_ms=at_ms,
    )


def test_information_is_provided_only_to_an_open_request(store, context) -> None:  # type: ignore[no-untyped-def]
    txn = _record(store, context).transaction_id
    before = table_counts(store)
    with pytest.raises(CaptureError) as nobody_asked:
        _answer(store, context, txn)
    assert nobody_asked.value.code == "no_information_requested"
    with pytest.raises(CaptureError) as stranger:
        _answer(store, context, txn, agency="passports")
    assert stranger.value.code == "wrong_agency"
    assert table_counts(store) == before

    _decide(store, context, agency_decision(txn, "health", "info_requested", at_ms=NOW + 5))
    answer = _answer(store, context, txn)
    assert (answer.decision, answer.agency_code, answer.actor_id) == (
        "info_provided",
        "health",
        "clerk",
    )
    health = next(
        a
        for a in get_transaction(store, context.pii, txn)["approvals"]
        if a["agency_code"] == "health"
    )  # type: ignore[index]
    assert (health["state"], health["outcome"]) == ("pending", "info_provided")  # review reopened
    with pytest.raises(CaptureError) as twice:
        _answer(store, context, txn, at_ms=NOW + 60)
    assert twice.value.code == "no_information_requested"
    queued = store.connection.execute("SELECT count(*) FROM outbox").fetchone()[0]
    assert queued == 2  # the transaction and the answer, to be sealed for the hub


def test_an_answer_needs_a_note(store, context) -> None:  # type: ignore[no-untyped-def]
    txn = _record(store, context).transaction_id
    _decide(store, context, agency_decision(txn, "health", "info_requested", at_ms=NOW + 5))
    with pytest.raises(CaptureError, match="what was provided"):
        record_info_provided(
            store,
            context,
            transaction_id=txn,
            agency_code="health",
            note="  ",
            staff_id="c",
            now_ms=NOW + 6,
        )


@pytest.mark.parametrize("ahead_ms", [3_600_000, 3 * 86_400_000])  # an hour; beyond observing
def test_an_answer_is_stamped_after_the_request_even_with_this_pc_s_clock_behind(
    store,
    context,
    ahead_ms: int,  # type: ignore[no-untyped-def]
) -> None:
    txn = _record(store, context).transaction_id
    request = agency_decision(txn, "health", "info_requested", at_ms=NOW + ahead_ms, counter=7)
    _decide(store, context, request)
    answer = _answer(store, context, txn, at_ms=NOW + 10)  # this PC's clock: far behind
    assert answer.hlc > request.hlc
    assert answer.recorded_at_ms == NOW + 10  # the time staff answered, as this PC knows it
    later = _record(store, context, "CIV-BIRTH", now_ms=NOW + 20)
    assert later.hlc > answer.hlc  # the node's clock never goes back


# --- the projection equals the state function -------------------------------------------

HUB = uuid.UUID("01900000-0000-7000-8000-0000000000ee")
OTHER_HUB = uuid.UUID("01900000-0000-7000-8000-0000000000ef")
CATALOG = shipped_catalog()


def _created(service: str, required: tuple[str, ...] | None) -> TransactionCreated:
    return new_transaction_created(
        event_id=new_uuid7(NOW),
        hlc=HlcStamp(NOW, 0, NODE),
        center_id="arish",
        service_code=service,
        national_id="29001013400011",
        citizen_name="أحمد محمد",
        fee_piasters=2500,
        staff_id="clerk",
        recorded_at_ms=NOW,
        required_agencies=required,
    )


def _event(
    txn: uuid.UUID,
    at: int,
    *,
    decision: str | None = None,
    agency: str = "",
    status: str | None = None,
    node: uuid.UUID = HUB,
) -> Record:
    at_ms = NOW + at
    if status is not None:
        return new_transaction_status(
            event_id=new_uuid7(at_ms), hlc=HlcStamp(at_ms, 0, node), center_id="arish",
            transaction_id=txn, status=status, actor_id="someone", recorded_at_ms=at_ms,
        )  # fmt: skip
    assert decision is not None
    return new_transaction_decision(
        event_id=new_uuid7(at_ms), hlc=HlcStamp(at_ms, 0, node), center_id="arish",
        transaction_id=txn, agency_code=agency, decision=decision,
        reason_code={"rejected": "not_eligible", "info_requested": "other"}.get(decision, ""),
        note="ما المطلوب" if decision == "info_requested" else "", actor_id="someone",
        recorded_at_ms=at_ms,
    )  # fmt: skip


def _one_stop_story() -> tuple[list[Record], str | None]:
    opened = _created("LIC-SHOP", SHOP)
    txn = opened.transaction_id
    return [
        opened,
        _event(txn, 10, decision="info_requested", agency="health"),
        _event(txn, 20, decision="info_provided", agency="health", node=NODE),
        _event(txn, 30, decision="approved", agency="health"),
        _event(txn, 15, decision="approved", agency="civil-defense"),
        _event(txn, 40, decision="approved", agency="local-unit"),
        _event(txn, 40, decision="info_requested", agency="local-unit", node=OTHER_HUB),
        _event(txn, 45, decision="rejected", agency="local-unit", node=OTHER_HUB),
        _event(txn, 12, decision="approved", agency="passports"),  # not needed: not counted
        _event(txn, 50, status="cancelled", node=NODE),
        _event(txn, 60, status="delivered", node=NODE),
    ], None


def _previous_release_story() -> tuple[list[Record], str | None]:
    opened = _created("PAS-NEW", None)  # decided by its owner, passports
    txn = opened.transaction_id
    return [
        opened,
        _event(txn, 5, status="in_review"),
        _event(txn, 10, decision="info_requested", agency="passports"),
        _event(txn, 20, status="approved"),
        _event(txn, 25, decision="info_provided", agency="passports", node=NODE),
        _event(txn, 30, status="rejected", node=OTHER_HUB),
        _event(txn, 35, decision="approved", agency="national-security"),  # not its owner
        _event(txn, 70, status="delivered", node=NODE),
    ], "passports"


STORIES = {"one_stop": _one_stop_story(), "previous_release": _previous_release_story()}


def _is_local(record: Record) -> bool:
    return record.hlc.node_id == NODE


def _apply(store: Store, pii: PiiCipher, record: Record, seen: set[uuid.UUID], cursor: int) -> None:
    """As the record reaches a node: made here (the capture path's rows), or from the hub
    (a change set; a local event the hub sends back arrives that way too)."""
    if _is_local(record) and record.event_id not in seen:
        with store.write() as connection:
            store_local_event(connection, pii, record, NOW)
    elif not isinstance(record, TransactionCreated):  # the feed carries no opening events
        apply_change_set(store, pii, hub_changes(record, cursor=cursor), now_ms=NOW)
    seen.add(record.event_id)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    story=st.sampled_from(sorted(STORIES)),
    picks=st.lists(st.integers(min_value=0, max_value=20), min_size=1, max_size=16),
)
def test_the_projection_equals_the_state_function_in_any_order(
    story: str, picks: list[int]
) -> None:
    events, owner = STORIES[story]
    arrivals = [events[pick % len(events)] for pick in picks]  # any order, repeats included
    pii = PiiCipher(generate_data_key())
    with tempfile.TemporaryDirectory() as work:
        store = Store(Path(work) / "edge.db")
        try:
            with store.write() as connection:
                install_catalog(connection, CATALOG)
            seen: set[uuid.UUID] = set()
            for cursor, record in enumerate(arrivals, start=1):
                _apply(store, pii, record, seen, cursor)
            arrived = [r for r in events if r.event_id in seen]
            _assert_projection_is_the_state(store, pii, arrived, owner)
        finally:
            store.close()


def _assert_projection_is_the_state(
    store: Store, pii: PiiCipher, events: list[Record], owner: str | None
) -> None:
    txn = events[0].transaction_id
    state = derive_state(txn, events, legacy_agency=owner)
    reference = summarize(record_to_dict(r) for r in events)
    held = load_summary(store.connection, str(txn))
    assert held is not None
    assert (held.lanes, held.center_key, held.latest_hlc, held.required, held.opened) == (
        reference.lanes,
        reference.center_key,
        reference.latest_hlc,
        reference.required,
        reference.opened,
    )
    shown = get_transaction(store, pii, txn)
    assert shown is not None
    assert shown["status"] == state.status
    assert [(a["agency_code"], a["state"], a["event_id"]) for a in shown["approvals"]] == [
        (d.agency_code, d.state, None if d.event is None else str(d.event.event_id))
        for d in state.decisions
    ]


def test_every_story_in_full_gives_the_expected_status(store, context) -> None:  # type: ignore[no-untyped-def]
    for story, expected in (("one_stop", "delivered"), ("previous_release", "delivered")):
        events, owner = STORIES[story]
        seen: set[uuid.UUID] = set()
        for cursor, record in enumerate(reversed(events), start=1):
            _apply(store, context.pii, record, seen, cursor)
        assert derive_state(events[0].transaction_id, events, owner).status == expected
        _assert_projection_is_the_state(store, context.pii, events, owner)


# --- what staff read ----------------------------------------------------------------------


def test_show_names_each_agency_and_its_deciding_event(store, context, catalog: Catalog) -> None:  # type: ignore[no-untyped-def]
    txn = _record(store, context).transaction_id
    _decide(
        store,
        context,
        agency_decision(
            txn,
            "civil-defense",
            "rejected",
            at_ms=NOW + 7,
            actor="inspector-2",
            note="مخرج الطوارئ مغلق",
        ),
        agency_decision(txn, "health", "approved", at_ms=NOW + 5),
    )
    shown = get_transaction(store, context.pii, txn)
    assert shown is not None
    assert (shown["status"], shown["required_agencies"]) == ("rejected", list(SHOP))
    civil, health, local = shown["approvals"]
    assert civil == {
        "agency_code": "civil-defense",
        "name_ar": catalog.agency("civil-defense").name_ar,
        "name_en": catalog.agency("civil-defense").name_en,
        "state": "rejected",
        "outcome": "rejected",
        "at_ms": NOW + 7,
        "reason_code": "inspection_failed",
        "note": "مخرج الطوارئ مغلق",
        "actor_id": "inspector-2",
        "event_id": civil["event_id"],
    }
    assert (health["state"], health["actor_id"]) == ("approved", "officer-7")
    assert (local["state"], local["at_ms"], local["event_id"]) == ("pending", None, None)


def test_open_information_requests_oldest_first_and_only_while_open(store, context) -> None:  # type: ignore[no-untyped-def]
    first = _record(store, context).transaction_id
    second = _record(store, context, now_ms=NOW + 1).transaction_id
    answered = _record(store, context, now_ms=NOW + 2).transaction_id
    closed = _record(store, context, now_ms=NOW + 3).transaction_id
    _decide(
        store,
        context,
        agency_decision(
            second, "local-unit", "info_requested", at_ms=NOW + 30, note="رسم كروكي للمحل"
        ),
        agency_decision(first, "health", "info_requested", at_ms=NOW + 20),
        agency_decision(
            first,
            "civil-defense",
            "info_requested",
            at_ms=NOW + 40,
            reason="inspection_appointment",
            note="موعد المعاينة",
        ),
        agency_decision(answered, "health", "info_requested", at_ms=NOW + 10),
        agency_decision(closed, "health", "info_requested", at_ms=NOW + 5),
        agency_decision(closed, "local-unit", "rejected", at_ms=NOW + 6),
    )
    _answer(store, context, answered)
    found = open_information_requests(store, context.pii)
    assert [(r["transaction_id"], r["agency_code"], r["requested_at_ms"]) for r in found] == [
        (str(first), "health", NOW + 20),
        (str(second), "local-unit", NOW + 30),
        (str(first), "civil-defense", NOW + 40),
    ]
    assert (found[2]["reason_code"], found[2]["note"], found[2]["service_code"]) == (
        "inspection_appointment",
        "موعد المعاينة",
        "LIC-SHOP",
    )
    assert found[2]["name_en"] == "General Directorate of Civil Protection"
    assert [
        r["transaction_id"] for r in open_information_requests(store, context.pii, limit=1)
    ] == [str(first)]
    counted = open_information_requests(store, None, limit=None)
    assert len(counted) == 3 and counted[0]["note"] is None  # nothing decrypted to count


def test_the_latest_stamp_is_kept_when_no_lane_holds_it(store, context) -> None:  # type: ignore[no-untyped-def]
    txn = _record(store, context).transaction_id
    rejection = agency_decision(txn, "health", "rejected", at_ms=NOW + 10)
    late_approval = agency_decision(txn, "health", "approved", at_ms=NOW + 99)  # outranked
    # Not observed by the node's clock (as a stamp too far ahead would not be): capture
    # stamps after the transaction's latest event all the same.
    apply_change_set(store, context.pii, hub_changes(rejection, late_approval), now_ms=NOW)
    latest = store.connection.execute(
        "SELECT latest_hlc FROM transactions WHERE transaction_id = ?", (str(txn),)
    ).fetchone()[0]
    assert latest == late_approval.hlc.encode()
    cancelled = record_status_change(
        store, context, transaction_id=txn, status="cancelled", staff_id="c", now_ms=NOW + 20
    )
    assert cancelled.hlc > late_approval.hlc


def test_no_citizen_data_or_note_reaches_the_file_in_clear(store, context) -> None:  # type: ignore[no-untyped-def]
    people = [("29001013400011", "فاطمة عبد الرحمن"), ("29001013400038", "يوسف إبراهيم")]
    made = [
        _record(store, context, national_id=nid, citizen_name=name, now_ms=NOW + i)
        for i, (nid, name) in enumerate(people)
    ]
    notes = ("عقد إيجار باسم فاطمة عبد الرحمن", "صورة بطاقة يوسف إبراهيم مرفقة")
    txn = made[0].transaction_id
    _decide(
        store,
        context,
        agency_decision(txn, "health", "info_requested", at_ms=NOW + 5, note=notes[0]),
    )
    record_info_provided(
        store,
        context,
        transaction_id=txn,
        agency_code="health",
        note=notes[1],
        staff_id="c",
        now_ms=NOW + 6,
    )
    db = store.path
    wal = db.with_name(db.name + "-wal")
    blob = db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    for secret in [nid for nid, _ in people] + [name for _, name in people] + list(notes):
        assert secret.encode("utf-8") not in blob
    assert open_information_requests(store, context.pii) == []  # answered
    assert get_transaction(store, context.pii, txn)["citizen_name"] == people[0][1]  # type: ignore[index]
