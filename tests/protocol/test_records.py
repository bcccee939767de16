"""Unit tests of record construction, validation and wire form (sync_protocol.records)."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync_protocol import (
    NationalIdError,
    Record,
    RecordError,
    TextError,
    ValidationError,
    record_from_dict,
    record_to_dict,
)
from tests.protocol.factories import T0_MS, created, national_id, records, status


def test_created_round_trips_through_its_wire_form() -> None:
    record = created()
    assert record_from_dict(record_to_dict(record)) == record


def test_status_round_trips_through_its_wire_form() -> None:
    record = status(created().transaction_id, "approved")
    assert record_from_dict(record_to_dict(record)) == record


@given(records)
def test_every_generated_record_round_trips(record: Record) -> None:
    assert record_from_dict(record_to_dict(record)) == record


def test_builder_normalises_staff_input() -> None:
    record = created(name="  " + unicodedata.normalize("NFD", "Zoë أحمد") + " ")
    assert record.citizen_name == "Zoë أحمد"


def test_transaction_id_of_a_created_record_is_its_event_id() -> None:
    record = created()
    assert record.transaction_id == record.event_id
    with pytest.raises(RecordError, match="must equal its event_id"):
        dataclasses.replace(record, transaction_id=status(record.event_id, "approved").event_id)


def test_wire_text_that_is_not_canonical_is_rejected_not_repaired() -> None:
    wire = record_to_dict(created()) | {"citizen_name": " محمد علي"}
    with pytest.raises(RecordError, match="canonical"):
        record_from_dict(wire)


@pytest.mark.parametrize("fee", [-1, 100_000_001, 25.0, "2500", True])
def test_fee_must_be_integer_piasters_in_range(fee: object) -> None:
    wire = record_to_dict(created()) | {"fee_piasters": fee}
    with pytest.raises(RecordError, match="fee_piasters"):
        record_from_dict(wire)


def test_name_with_a_bidi_override_is_rejected() -> None:
    with pytest.raises(TextError, match="U\\+202E"):
        created(name="محمد\u202eعلي")


def test_name_with_digits_is_rejected() -> None:
    with pytest.raises(TextError, match="digits"):
        created(name="محمد 2")


def test_national_id_born_after_the_record_is_rejected() -> None:
    with pytest.raises(NationalIdError, match="future"):
        created(national=national_id(birth=dt.date(2026, 1, 3)))


def test_unknown_keys_are_rejected() -> None:
    wire = record_to_dict(created()) | {"extra": 1}
    with pytest.raises(RecordError, match="unknown keys \\['extra'\\]"):
        record_from_dict(wire)


def test_missing_keys_are_rejected() -> None:
    wire = record_to_dict(created())
    del wire["staff_id"]
    with pytest.raises(RecordError, match="missing keys \\['staff_id'\\]"):
        record_from_dict(wire)


def test_unknown_type_is_rejected() -> None:
    with pytest.raises(RecordError, match="record type"):
        record_from_dict({"type": "transaction.deleted"})


def test_status_must_be_a_known_state() -> None:
    wire = record_to_dict(status(created().transaction_id, "approved")) | {"status": "created"}
    with pytest.raises(RecordError, match="status must be one of"):
        record_from_dict(wire)


def test_event_id_must_be_a_uuid7() -> None:
    wire = record_to_dict(created()) | {"event_id": "6ba7b810-9dad-11d1-80b4-00c04fd430c8"}
    with pytest.raises(RecordError, match="UUIDv7"):
        record_from_dict(wire)


def test_service_code_format_is_enforced() -> None:
    wire = record_to_dict(created()) | {"service_code": "civ birth"}
    with pytest.raises(RecordError, match="service_code"):
        record_from_dict(wire)


def test_recorded_at_must_be_integer_milliseconds() -> None:
    wire = record_to_dict(created()) | {"recorded_at_ms": float(T0_MS)}
    with pytest.raises(RecordError, match="recorded_at_ms"):
        record_from_dict(wire)


@given(st.integers(min_value=-(2**63), max_value=2**63))
def test_any_recorded_at_gives_a_record_or_a_typed_error(recorded_at_ms: int) -> None:
    wire = record_to_dict(created()) | {"recorded_at_ms": recorded_at_ms}
    with contextlib.suppress(ValidationError):
        record_from_dict(wire)
