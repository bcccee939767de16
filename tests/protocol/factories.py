"""Builders and hypothesis strategies for protocol records, shared by the protocol tests."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid

from hypothesis import strategies as st

from sync_protocol import (
    GOVERNORATES,
    INFORMATION_REASONS,
    REJECTION_REASONS,
    HlcStamp,
    TransactionCreated,
    TransactionDecision,
    TransactionStatus,
    new_transaction_created,
    new_transaction_decision,
    new_transaction_status,
    new_uuid7,
)

T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
TODAY = dt.date(2026, 1, 1)
NODE_A = uuid.UUID("019b76da-a800-7000-8000-00000000000a")
NODE_B = uuid.UUID("019b76da-a800-7000-8000-00000000000b")

_counter = itertools.count(1)


def next_uuid7(at_ms: int = T0_MS) -> uuid.UUID:
    """A fresh UUIDv7, deterministic in the test process (no os.urandom needed)."""
    n = next(_counter)
    return new_uuid7(at_ms, random_bytes=lambda size: n.to_bytes(size, "big"))


def national_id(
    birth: dt.date = dt.date(1990, 1, 1), governorate: str = "34", seq: str = "1234", check="5"
) -> str:
    century = "2" if birth.year < 2000 else "3"
    return f"{century}{birth:%y%m%d}{governorate}{seq}{check}"


def created(
    *,
    name: str = "محمد أحمد علي",
    fee_piasters: int = 2500,
    node: uuid.UUID = NODE_A,
    wall_ms: int = T0_MS,
    counter: int = 0,
    center: str = "arish",
    national: str | None = None,
    service: str = "CIV-BIRTH",
    agencies: tuple[str, ...] | None = (),
) -> TransactionCreated:
    """A ``transaction.created``; ``agencies`` None gives the previous release's form."""
    event_id = next_uuid7(wall_ms)
    return new_transaction_created(
        event_id=event_id,
        hlc=HlcStamp(wall_ms, counter, node),
        center_id=center,
        service_code=service,
        national_id=national or national_id(),
        citizen_name=name,
        fee_piasters=fee_piasters,
        staff_id="s-0042",
        recorded_at_ms=wall_ms,
        required_agencies=agencies,
    )


def decision(
    transaction_id: uuid.UUID,
    agency: str,
    outcome: str,
    *,
    node: uuid.UUID = NODE_B,
    wall_ms: int = T0_MS + 1000,
    counter: int = 0,
    center: str = "arish",
    reason: str | None = None,
    note: str | None = None,
) -> TransactionDecision:
    """A ``transaction.decision``; the reason and note default to what ``outcome`` needs."""
    default_reason = {"rejected": "not_eligible", "info_requested": "missing_document"}
    return new_transaction_decision(
        event_id=next_uuid7(wall_ms),
        hlc=HlcStamp(wall_ms, counter, node),
        center_id=center,
        transaction_id=transaction_id,
        agency_code=agency,
        decision=outcome,
        reason_code=default_reason.get(outcome, "") if reason is None else reason,
        note=("صورة عقد الإيجار" if outcome == "info_requested" else "") if note is None else note,
        actor_id="officer-12" if outcome != "info_provided" else "s-0042",
        recorded_at_ms=wall_ms,
    )


def status(
    transaction_id: uuid.UUID,
    state: str,
    *,
    node: uuid.UUID = NODE_A,
    wall_ms: int = T0_MS + 1000,
    counter: int = 0,
    center: str = "arish",
) -> TransactionStatus:
    return new_transaction_status(
        event_id=next_uuid7(wall_ms),
        hlc=HlcStamp(wall_ms, counter, node),
        center_id=center,
        transaction_id=transaction_id,
        status=state,
        actor_id="agency-passports",
        note="",
        recorded_at_ms=wall_ms,
    )


# --- hypothesis strategies -------------------------------------------------------------

birth_dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=TODAY)
governorate_codes = st.sampled_from(sorted(GOVERNORATES))
valid_national_ids = st.builds(
    national_id,
    birth=birth_dates,
    governorate=governorate_codes,
    seq=st.from_regex(r"[0-9]{4}", fullmatch=True),
    check=st.from_regex(r"[0-9]", fullmatch=True),
)

_arabic_letters = st.sampled_from(list("ابتثجحخدذرزسشصضطظعغفقكلمنهوي"))
arabic_words = st.text(_arabic_letters, min_size=2, max_size=10)
arabic_names = st.lists(arabic_words, min_size=2, max_size=4).map(" ".join)
uuid7s = st.builds(
    lambda ms, rand: new_uuid7(ms, random_bytes=lambda size: rand.to_bytes(size, "big")),
    st.integers(T0_MS - 10**10, T0_MS + 10**10),
    st.integers(0, 2**80 - 1),
)
nodes = st.sampled_from([NODE_A, NODE_B])
hlc_stamps = st.builds(HlcStamp, st.integers(T0_MS, T0_MS + 10**6), st.integers(0, 50), nodes)


AGENCY_CODES = ("civil-defense", "health", "local-unit", "passports")
agency_lists = st.one_of(
    st.none(), st.lists(st.sampled_from(AGENCY_CODES), unique=True, max_size=3).map(sorted)
).map(lambda codes: None if codes is None else tuple(codes))


@st.composite
def created_records(draw: st.DrawFn) -> TransactionCreated:
    """Either form: with ``required_agencies`` (this release) or without (the previous)."""
    event_id = draw(uuid7s)
    return TransactionCreated(
        event_id=event_id,
        hlc=draw(hlc_stamps),
        center_id=draw(st.sampled_from(["arish", "sharm-el-sheikh", "aswan"])),
        transaction_id=event_id,
        service_code=draw(st.sampled_from(["CIV-BIRTH", "PAS-RENEW", "SOC-TAKAFUL"])),
        national_id=draw(valid_national_ids),
        citizen_name=draw(arabic_names),
        fee_piasters=draw(st.integers(0, 100_000_000)),
        staff_id=draw(st.from_regex(r"s-[0-9]{1,6}", fullmatch=True)),
        recorded_at_ms=T0_MS,
        required_agencies=draw(agency_lists),
    )


@st.composite
def status_records(
    draw: st.DrawFn, transaction_ids: st.SearchStrategy[uuid.UUID] = uuid7s
) -> TransactionStatus:
    return TransactionStatus(
        event_id=draw(uuid7s),
        hlc=draw(hlc_stamps),
        center_id="arish",
        transaction_id=draw(transaction_ids),
        status=draw(
            st.sampled_from(["in_review", "approved", "rejected", "delivered", "cancelled"])
        ),
        actor_id=draw(st.sampled_from(["s-0042", "agency-passports"])),
        note=draw(st.one_of(st.just(""), arabic_names)),
        recorded_at_ms=draw(st.integers(0, T0_MS * 2)),
    )


@st.composite
def decision_records(
    draw: st.DrawFn, transaction_ids: st.SearchStrategy[uuid.UUID] = uuid7s
) -> TransactionDecision:
    outcome = draw(st.sampled_from(["approved", "rejected", "info_requested", "info_provided"]))
    reasons = {"rejected": REJECTION_REASONS, "info_requested": INFORMATION_REASONS}
    return TransactionDecision(
        event_id=draw(uuid7s),
        hlc=draw(hlc_stamps),
        center_id="arish",
        transaction_id=draw(transaction_ids),
        agency_code=draw(st.sampled_from(AGENCY_CODES)),
        decision=outcome,  # type: ignore[arg-type]
        reason_code=draw(st.sampled_from(reasons[outcome])) if outcome in reasons else "",
        note=draw(arabic_names if outcome == "info_requested" else st.just("")),
        actor_id=draw(st.sampled_from(["s-0042", "officer-12"])),
        recorded_at_ms=draw(st.integers(0, T0_MS * 2)),
    )


records = st.one_of(created_records(), status_records(), decision_records())
