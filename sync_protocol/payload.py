"""Payload codec: a list of records <-> canonical UTF-8 JSON bytes (before compression).

Canonical means one encoding per list: keys sorted, no whitespace, UTF-8 (not ``\\u``
escapes). Decoding is strict: duplicate keys, NaN/Infinity, floats where integers belong,
too many records or duplicate event ids are all rejected with a typed error.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, Final

from sync_protocol.errors import LimitExceeded, RecordError, ValidationError
from sync_protocol.records import Record, record_from_dict, record_to_dict

__all__ = ["MAX_RECORDS", "decode_json", "decode_records", "encode_json", "encode_records"]

MAX_RECORDS: Final = 10_000


def encode_json(value: object) -> bytes:
    """The canonical JSON bytes of ``value``."""
    return json.dumps(
        value, ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
    ).encode("utf-8")


def _reject_constant(name: str) -> Any:
    raise RecordError(f"JSON constant {name} is not allowed")


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise RecordError("JSON object has a duplicate key")
    return obj


def decode_json(data: bytes) -> object:
    """Parse strict JSON from UTF-8 bytes; any malformation is a :class:`RecordError`."""
    try:
        text = data.decode("utf-8")
        return json.loads(text, object_pairs_hook=_unique_object, parse_constant=_reject_constant)
    except RecordError:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise RecordError("payload is not valid UTF-8 JSON") from None


def encode_records(records: Iterable[Record]) -> bytes:
    return encode_json([record_to_dict(record) for record in records])


def decode_records(
    data: bytes, *, expected_count: int, max_records: int = MAX_RECORDS
) -> list[Record]:
    """Decode and validate a payload of exactly ``expected_count`` records."""
    if expected_count > max_records:
        raise LimitExceeded(f"a batch may hold at most {max_records} records")
    items = decode_json(data)
    if not isinstance(items, list):
        raise RecordError("payload must be a JSON array of records")
    if len(items) != expected_count:
        raise RecordError(
            f"payload holds {len(items)} records but the header says {expected_count}"
        )
    records = [_decode_one(index, item) for index, item in enumerate(items)]
    _require_unique_event_ids(records)
    return records


def _decode_one(index: int, item: object) -> Record:
    try:
        return record_from_dict(item)
    except ValidationError as error:  # keep the subclass: its code says what was wrong
        raise type(error)(f"record {index}: {error}", field=error.field) from None


def _require_unique_event_ids(records: Sequence[Record]) -> None:
    seen = set()
    for index, record in enumerate(records):
        if record.event_id in seen:
            raise RecordError(f"record {index}: duplicate event_id {record.event_id}")
        seen.add(record.event_id)
