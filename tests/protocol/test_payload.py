"""Strict payload decoding: JSON hygiene, counts and duplicates (sync_protocol.payload)."""

from __future__ import annotations

import pytest

from sync_protocol import (
    LimitExceeded,
    NationalIdError,
    RecordError,
    decode_records,
    encode_json,
    encode_records,
    record_to_dict,
)
from tests.protocol.factories import created


def test_canonical_json_is_sorted_compact_utf8() -> None:
    assert encode_json({"b": 1, "a": "ع"}) == '{"a":"ع","b":1}'.encode()


def test_duplicate_event_ids_in_one_batch_are_rejected() -> None:
    record = created()
    with pytest.raises(RecordError, match="record 1: duplicate event_id"):
        decode_records(encode_records([record, record]), expected_count=2)


def test_count_must_match_the_header() -> None:
    with pytest.raises(RecordError, match="header says 2"):
        decode_records(encode_records([created()]), expected_count=2)


def test_count_above_the_limit_is_refused_before_parsing() -> None:
    with pytest.raises(LimitExceeded):
        decode_records(b"not even json", expected_count=11, max_records=10)


def test_the_failing_record_is_named_and_keeps_its_error_type() -> None:
    good, bad = record_to_dict(created()), record_to_dict(created()) | {"national_id": "1" * 14}
    with pytest.raises(NationalIdError, match="record 1: "):
        decode_records(encode_json([good, bad]), expected_count=2)


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (b'{"records": []}', "must be a JSON array"),
        (b'[{"type": "transaction.created", "type": "x"}]', "duplicate key"),
        (b"[NaN]", "NaN"),
        (b"[" * 100_000 + b"]" * 100_000, "valid UTF-8 JSON"),
        (b"[" + b"9" * 5000 + b"]", "valid UTF-8 JSON"),
        (b"\xff", "valid UTF-8 JSON"),
        (b"[1]", "JSON object"),
    ],
)
def test_hostile_json_is_a_typed_error(payload: bytes, why: str) -> None:
    with pytest.raises(RecordError, match=why):
        decode_records(payload, expected_count=1)
