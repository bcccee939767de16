"""Payload codec: a list of records <-> canonical UTF-8 JSON bytes (before compression).

Canonical means one encoding per list: keys sorted, no whitespace, UTF-8 (not ``\\u``
escapes). Decoding is strict: duplicate keys, NaN/Infinity, floats where integers belong,
too many records or duplicate event ids are all rejected with a typed error.

A canonical payload (what every sender produces) is also decoded on a fast path that
hands back each record's own canonical JSON, so a receiver can store it without
re-encoding; anything else takes the strict general decoder, with the same outcome.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Iterable
from typing import Any, Final

import orjson

from sync_protocol.errors import LimitExceeded, RecordError, ValidationError
from sync_protocol.records import Record
from sync_protocol.wire import record_from_dict, record_to_dict, wire_record_ok

__all__ = [
    "MAX_RECORDS",
    "decode_json",
    "decode_records",
    "decode_records_with_bodies",
    "decode_wire_with_bodies",
    "encode_json",
    "encode_record_json",
    "encode_records",
]

MAX_RECORDS: Final = 10_000

# ``json.dumps`` with these arguments builds this encoder on every call.
_CANONICAL: Final = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
)


def encode_json(value: object) -> bytes:
    """The canonical JSON bytes of ``value``."""
    return _CANONICAL.encode(value).encode("utf-8")


def encode_record_json(wire: dict[str, object]) -> bytes:
    """``encode_json(wire)`` for the wire form of a record (``record_to_dict``), in native
    code: for the text and integers a record holds, orjson's output is the canonical
    encoding byte for byte (``tests/protocol/test_fast_paths.py`` checks it on random
    records), at a fraction of the cost on capture's path."""
    return orjson.dumps(wire, option=orjson.OPT_SORT_KEYS)


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
    return _decode(data, expected_count, max_records, with_bodies=False)[0]


def decode_records_with_bodies(
    data: bytes, *, expected_count: int, max_records: int = MAX_RECORDS
) -> tuple[list[Record], list[str]]:
    """As :func:`decode_records`, plus each record's canonical JSON text: the bytes
    ``encode_json(record_to_dict(record))`` would give, decoded. For a canonical payload
    they are its own spans, not re-encoded."""
    records, bodies = _decode(data, expected_count, max_records, with_bodies=True)
    if bodies is None:  # a non-canonical payload (valid, but no sender of ours makes it)
        bodies = [encode_json(record_to_dict(record)).decode("utf-8") for record in records]
    return records, bodies


def decode_wire_with_bodies(
    data: bytes, *, expected_count: int, max_records: int = MAX_RECORDS
) -> tuple[list[dict[str, Any]], list[str]]:
    """As :func:`decode_records_with_bodies`, but each record in its wire form (the dict
    ``record_to_dict`` gives for it) instead of a :class:`Record`: validated the same
    way, the same errors, for a receiver that stores the wire form and needs no objects
    (building them is most of the cost of a record that passes the fast checks)."""
    items, bodies = _items(data, expected_count, max_records, split=True)
    if bodies is None:  # valid perhaps, but no sender of ours makes it
        wire = [record_to_dict(record) for record in _records(items)]
        return wire, [encode_json(item).decode("utf-8") for item in wire]
    checked: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        if wire_record_ok(item):
            checked.append(item)  # type: ignore[arg-type]  # a dict: wire_record_ok checked
            continue
        as_wire = record_to_dict(_decode_one(index, item))  # the plain path decides
        checked.append(as_wire)
        bodies[index] = encode_json(as_wire).decode("utf-8")
    # Canonical texts: equal exactly when the UUIDs are.
    _require_unique([item["event_id"] for item in checked], lambda i: checked[i]["event_id"])
    return checked, bodies


def _decode(
    data: bytes, expected_count: int, max_records: int, *, with_bodies: bool
) -> tuple[list[Record], list[str] | None]:
    # Splitting costs more than the strict decoder (it re-encodes the array to check it),
    # so only when the caller wants the bodies, and then it spares re-encoding each record.
    items, bodies = _items(data, expected_count, max_records, split=with_bodies)
    return _records(items), bodies


def _items(
    data: bytes, expected_count: int, max_records: int, *, split: bool
) -> tuple[list[object], list[str] | None]:
    """The payload's elements, ``expected_count`` of them, with each one's text if
    ``split`` and the payload is canonical."""
    if expected_count > max_records:
        raise LimitExceeded(f"a batch may hold at most {max_records} records")
    canonical = _split_canonical(data) if split else None
    if canonical is None:
        items, bodies = decode_json(data), None
    else:
        items, bodies = canonical
    if not isinstance(items, list):
        raise RecordError("payload must be a JSON array of records")
    if len(items) != expected_count:
        raise RecordError(
            f"payload holds {len(items)} records but the header says {expected_count}"
        )
    return items, bodies


def _records(items: list[object]) -> list[Record]:
    records = [_decode_one(index, item) for index, item in enumerate(items)]
    # The ids' integers: equal exactly when the UUIDs are, hashed in C.
    _require_unique([record.event_id.int for record in records], lambda i: records[i].event_id)
    return records


def _split_canonical(data: bytes) -> tuple[list[object], list[str]] | None:
    """The elements of ``data`` and the text of each, if ``data`` is a canonical JSON
    array; otherwise None, and the caller decodes it with :func:`decode_json`.

    The array, re-encoded element by element, must be exactly its own bytes. That also
    rules out what the strict decoder rejects (a duplicate key would be lost by the
    re-encoding; NaN, Infinity and invalid UTF-8 do not parse), so the elements are the
    ones :func:`decode_json` would return, and each element's encoding is its span.

    orjson parses and encodes in native code, four times faster here than the standard
    library; for every value a record can hold its output is byte for byte the canonical
    encoding (``encode_json``), which ``tests/protocol/test_fast_paths.py`` checks on
    random values. Where the two could differ (floats), it only ever gives up.
    """
    try:
        items = orjson.loads(data)
        if type(items) is not list:
            return None
        encoded = [orjson.dumps(item, option=orjson.OPT_SORT_KEYS) for item in items]
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):
        return None
    if b"[" + b",".join(encoded) + b"]" != data:
        return None
    return items, [body.decode("utf-8") for body in encoded]


def _decode_one(index: int, item: object) -> Record:
    try:
        return record_from_dict(item)
    except ValidationError as error:  # keep the subclass: its code says what was wrong
        raise type(error)(f"record {index}: {error}", field=error.field) from None


def _require_unique(keys: list[Hashable], shown: Callable[[int], object]) -> None:
    """Each event id once: ``keys`` compare as the ids do; ``shown(i)`` names record i's."""
    seen: set[Hashable] = set()
    for index, key in enumerate(keys):
        if key in seen:
            raise RecordError(f"record {index}: duplicate event_id {shown(index)}")
        seen.add(key)
