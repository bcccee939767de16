"""The hub's stored projection (``transactions`` and ``approvals`` rows) equals the
protocol's state function over the same events, whatever batches they came in and in
whatever order, on SQLite and PostgreSQL (storage level, hypothesis)."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from central_hub.storage import schema
from central_hub.storage.rows import opening_rows, projection_rows
from central_hub.storage.store import NodeRow, SqlStore
from sync_protocol import (
    GENESIS_HASH,
    HlcStamp,
    Record,
    derive_state,
    new_transaction_created,
    new_transaction_decision,
    new_transaction_status,
    new_uuid7,
    record_to_dict,
    summarize,
)
from tests.hub.nodes import T0_MS

NODE = uuid.UUID("019b76da-a800-7000-8000-0000000000aa")
HUB = uuid.UUID("019b76da-a800-7000-8000-0000000000ff")
AGENCIES = ("civil-defense", "health", "local-unit")
_ids = itertools.count(1)


def _id(at: int) -> uuid.UUID:
    n = next(_ids)
    return new_uuid7(T0_MS + at, random_bytes=lambda size: n.to_bytes(size, "big"))


def _scenario(draw: st.DrawFn) -> tuple[uuid.UUID, list[Record]]:
    """One transaction needing some agencies, and events any center and hub could make."""
    required = tuple(sorted(draw(st.sets(st.sampled_from(AGENCIES), max_size=3))))
    opening_id = _id(0)
    events: list[Record] = [
        new_transaction_created(
            event_id=opening_id,
            hlc=HlcStamp(T0_MS, 0, NODE),
            center_id="arish",
            service_code="LIC-SHOP",
            national_id="29001013412375",
            citizen_name="محمد علي",
            fee_piasters=2500,
            staff_id="s-1",
            recorded_at_ms=T0_MS,
            required_agencies=required,
        )
    ]
    for _ in range(draw(st.integers(0, 8))):
        at = draw(st.integers(1, 50))
        if draw(st.booleans()):
            outcome = draw(st.sampled_from(["approved", "rejected", "info_requested"]))
            events.append(
                new_transaction_decision(
                    event_id=_id(at),
                    hlc=HlcStamp(T0_MS + at, draw(st.integers(0, 2)), HUB),
                    center_id="arish",
                    transaction_id=opening_id,
                    agency_code=draw(st.sampled_from(AGENCIES)),
                    decision=outcome,
                    reason_code={"rejected": "not_eligible", "info_requested": "other"}.get(
                        outcome, ""
                    ),
                    note="ما ينقص" if outcome == "info_requested" else "",
                    actor_id="officer-1",
                    recorded_at_ms=T0_MS + at,
                )
            )
        elif draw(st.booleans()):
            events.append(
                new_transaction_decision(
                    event_id=_id(at),
                    hlc=HlcStamp(T0_MS + at, 0, NODE),
                    center_id="arish",
                    transaction_id=opening_id,
                    agency_code=draw(st.sampled_from(AGENCIES)),
                    decision="info_provided",
                    actor_id="s-1",
                    recorded_at_ms=T0_MS + at,
                )
            )
        else:
            events.append(
                new_transaction_status(
                    event_id=_id(at),
                    hlc=HlcStamp(T0_MS + at, 0, NODE),
                    center_id="arish",
                    transaction_id=opening_id,
                    status=draw(st.sampled_from(["delivered", "cancelled"])),
                    actor_id="s-1",
                    recorded_at_ms=T0_MS + at,
                )
            )
    return opening_id, events


@st.composite
def arrivals(draw: st.DrawFn) -> tuple[uuid.UUID, list[list[Record]]]:
    """A scenario's events shuffled, some twice, cut into consecutive batches."""
    txn, events = _scenario(draw)
    sent = draw(st.permutations(events))
    sent = sent + draw(st.lists(st.sampled_from(events), max_size=3))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(sent) - 1)), max_size=3)))
    bounds = [0, *cuts, len(sent)]
    batches = [sent[a:b] for a, b in itertools.pairwise(bounds) if sent[a:b]]
    # One event id once per batch (a batch's own rule); a repeat goes to the next batch.
    cleaned: list[list[Record]] = []
    for batch in batches:
        seen: dict[uuid.UUID, Record] = {}
        for record in batch:
            seen.setdefault(record.event_id, record)
        cleaned.append(list(seen.values()))
    return txn, cleaned


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(arrivals())
def test_the_projection_is_the_state_of_the_events_it_holds(
    store: SqlStore, scenario: tuple[uuid.UUID, list[list[Record]]]
) -> None:
    txn, batches = scenario
    node = uuid.uuid4()  # a chain of its own per example: the store outlives examples
    store.create_center("arish", "العريش", T0_MS)
    token = uuid.uuid4().hex + uuid.uuid4().hex
    store.create_enrollment_token("arish", token, T0_MS, T0_MS + 1000)
    row = NodeRow(node, "", b"k" * 32, b"s" * 1216, "active", 0, GENESIS_HASH)
    assert store.redeem_enrollment_token(token, row, "v1", T0_MS).outcome == "redeemed"
    for seq, batch in enumerate(batches, start=1):
        store.commit_batch(
            node_id=node,
            seq=seq,
            batch_hash=seq.to_bytes(32, "big"),
            envelope_bytes=1,
            records=batch,
            now_ms=T0_MS,
            make_receipt=lambda accepted, known: b"",
        )
    expected = derive_state(txn, [record for batch in batches for record in batch])
    with store.engine.connect() as connection:
        status = connection.execute(
            select(schema.transactions.c.status).where(
                schema.transactions.c.transaction_id == str(txn)
            )
        ).scalar_one()
        lanes = {
            row.agency_code: row.state
            for row in connection.execute(
                select(schema.approvals).where(
                    schema.approvals.c.transaction_id == str(txn),
                    schema.approvals.c.required.is_(True),
                )
            )
        }
    assert status == expected.status
    assert lanes == {decision.agency_code: decision.state for decision in expected.decisions}


@given(
    st.tuples(
        st.sets(st.sampled_from(AGENCIES)).map(lambda s: tuple(sorted(s))),
        st.integers(0, 10**6),
        st.integers(0, 10**8),
    )
)
def test_the_rows_of_an_opening_alone_are_those_of_the_general_fold(
    case: tuple[tuple[str, ...], int, int],
) -> None:
    agencies, offset, fee = case
    opening = new_transaction_created(
        event_id=_id(offset),
        hlc=HlcStamp(T0_MS + offset, 0, NODE),
        center_id="arish",
        service_code="LIC-SHOP",
        national_id="29001013412375",
        citizen_name="محمد علي",
        fee_piasters=fee,
        staff_id="s-1",
        recorded_at_ms=T0_MS + offset,
        required_agencies=agencies,
    )
    wire = record_to_dict(opening)
    general = projection_rows(
        str(opening.transaction_id),
        "arish",
        summarize([wire]),
        fee_piasters=fee,
        owner=None,
        now_ms=T0_MS,
    )
    assert opening_rows(wire, T0_MS) == general
    legacy = record_to_dict(replace(opening, required_agencies=None))
    assert opening_rows(legacy, T0_MS) is None  # its owner decides: the general way
