"""Fast paths of record validation agree with the plain checks they shortcut (unit level:
sync_protocol.text, ids, hlc, national_id, records, payload).

Each reference below is the straightforward check as it stood before the fast path was
added; the property is that both give the same value or the same error (type, message,
field) on any input, including non-NFC, non-ASCII and hostile text, whatever the caches
have already seen.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import pickle
import re
import unicodedata
import uuid
from collections.abc import Callable, Mapping
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync_protocol import (
    HlcStamp,
    Record,
    RecordError,
    TextError,
    TransactionCreated,
    TransactionDecision,
    TransactionStatus,
    UpgradeRequired,
    ValidationError,
    clean_text,
    decode_json,
    decode_records,
    decode_records_with_bodies,
    decode_wire_with_bodies,
    encode_json,
    encode_record_json,
    encode_records,
    new_uuid7,
    parse_national_id,
    parse_uuid,
    record_from_dict,
    record_to_dict,
    wire_record_ok,
)
from sync_protocol.ids import _uuid_from_canonical
from sync_protocol.national_id import _date_key, _passes, check_national_id
from sync_protocol.payload import _split_canonical
from sync_protocol.text import _REJECTED_CATEGORIES, _SLUG, _is_canonical, _is_slug, require_slug
from tests.protocol.factories import (
    T0_MS,
    created,
    created_records,
    decision,
    decision_records,
    national_id,
    next_uuid7,
    records,
    status,
    status_records,
    valid_national_ids,
)


def _outcome(check: Callable[[], object]) -> object:
    try:
        return ("ok", check())
    except ValidationError as error:
        return (type(error), str(error), error.field)


# --- references ------------------------------------------------------------------------


def _reference_clean_text(
    value: object, *, field: str, max_chars: int, allow_empty: bool, allow_digits: bool
) -> str:
    if not isinstance(value, str):
        raise TextError(f"{field} must be text", field=field)
    if len(value) > max_chars * 4:
        raise TextError(f"{field} is longer than {max_chars} characters", field=field)
    text = unicodedata.normalize("NFC", value).strip(" ")
    if not text and not allow_empty:
        raise TextError(f"{field} must not be empty", field=field)
    if len(text) > max_chars:
        raise TextError(f"{field} is longer than {max_chars} characters", field=field)
    for position, char in enumerate(text):
        category = unicodedata.category(char)
        if category in _REJECTED_CATEGORIES:
            raise TextError(
                f"{field} contains an invisible or control character "
                f"U+{ord(char):04X} at position {position}",
                field=field,
            )
        if category == "Zs" and char != " ":
            raise TextError(
                f"{field} contains a non-standard space U+{ord(char):04X} at position "
                f"{position}; use a plain space",
                field=field,
            )
        if not allow_digits and category == "Nd":
            raise TextError(f"{field} must not contain digits", field=field)
    if "  " in text:
        raise TextError(f"{field} contains repeated spaces", field=field)
    return text


def _reference_parse_uuid(value: object, *, field: str) -> uuid.UUID:
    if not isinstance(value, str) or len(value) != 36:
        raise RecordError(f"{field} must be a canonical UUID string", field=field)
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        raise RecordError(f"{field} must be a canonical UUID string", field=field) from None
    if str(parsed) != value:
        raise RecordError(f"{field} must be a canonical lowercase UUID string", field=field)
    if parsed.version != 7 or parsed.variant != uuid.RFC_4122:
        raise RecordError(f"{field} must be a UUIDv7", field=field)
    return parsed


def _reference_hlc_decode(text: object) -> HlcStamp:
    field = "hlc"
    if not isinstance(text, str) or len(text) != 61:
        raise RecordError(f"{field} is not an HLC stamp", field=field)
    wall, counter, node = text[:18], text[19:24], text[25:]
    if text[18] != "-" or text[24] != "-":
        raise RecordError(f"{field} is not an HLC stamp", field=field)
    if not (wall.isascii() and wall.isdigit() and counter.isascii() and counter.isdigit()):
        raise RecordError(f"{field} is not an HLC stamp", field=field)
    try:
        node_id = uuid.UUID(node)
    except ValueError:
        raise RecordError(f"{field} has a malformed node id", field=field) from None
    if str(node_id) != node:
        raise RecordError(f"{field} has a non-canonical node id", field=field)
    return HlcStamp(int(wall), int(counter), node_id)


def _reference_slug(value: object) -> str:
    if not isinstance(value, str) or _SLUG.fullmatch(value) is None:
        raise TextError(
            "f must be 1-64 lowercase ASCII letters, digits or '-' "
            "(not starting or ending with '-')",
            field="f",
        )
    return value


_CREATED_KEYS = {f.name for f in dataclasses.fields(TransactionCreated)} | {"type"}
_CREATED_KEYS_V1 = _CREATED_KEYS - {"required_agencies"}
_STATUS_KEYS = {f.name for f in dataclasses.fields(TransactionStatus)} | {"type"}
_DECISION_KEYS = {f.name for f in dataclasses.fields(TransactionDecision)} | {"type"}
_FORMS = {
    "transaction.created": (_CREATED_KEYS, _CREATED_KEYS_V1),
    "transaction.status": (_STATUS_KEYS,),
    "transaction.decision": (_DECISION_KEYS,),
}


def _reference_record_from_dict(data: object) -> Record:
    """``record_from_dict`` as it stood before its fast path: the constructors (with their
    ``__post_init__`` checks) on the plain id and stamp parsers above."""
    if not isinstance(data, Mapping):
        raise RecordError("a record must be a JSON object")
    kind = data.get("type")
    forms = _FORMS.get(kind if isinstance(kind, str) else "")
    if forms is None:
        if isinstance(kind, str) and re.fullmatch(r"transaction\.[a-z_]{1,40}", kind):
            raise UpgradeRequired(
                f"record type {kind} is newer than this software: upgrade it", field="type"
            )
        raise RecordError(
            "record type must be one of transaction.created, transaction.status, "
            "transaction.decision"
        )
    keys = set(data.keys())
    if keys not in forms:
        expected = forms[0]
        missing, extra = sorted(expected - keys), sorted(str(k) for k in keys - expected)
        raise RecordError(f"{kind} record: missing keys {missing}, unknown keys {extra}")
    event_id = _reference_parse_uuid(data["event_id"], field="event_id")
    transaction_id = _reference_parse_uuid(data["transaction_id"], field="transaction_id")
    if transaction_id == event_id:
        transaction_id = event_id
    hlc = _reference_hlc_decode(data["hlc"])
    common = {"event_id": event_id, "hlc": hlc, "transaction_id": transaction_id}
    fields = {k: v for k, v in data.items() if k not in common and k != "type"}
    if kind == "transaction.created":
        if "required_agencies" in fields:  # a JSON array is the tuple the record holds
            value = fields["required_agencies"]
            fields["required_agencies"] = tuple(value) if type(value) is list else value
            if value is None:  # not the previous form (no key): refused as a bad value
                fields["required_agencies"] = "null"
        return TransactionCreated(**common, **fields)
    if kind == "transaction.decision":
        return TransactionDecision(**common, **fields)
    return TransactionStatus(**common, **fields)


def _record_outcome(check: Callable[[], Record]) -> object:
    """The outcome of a parse, with every field's type and value, UUIDs' ``is_safe``, the
    record's repr, hash and pickle: a fast-built record must be indistinguishable."""
    try:
        record = check()
    except ValidationError as error:
        return (type(error), error.code, str(error), error.field)
    values = [(type(value), value) for value in dataclasses.astuple(record)]
    ids = [(u.int, u.is_safe) for u in (record.event_id, record.transaction_id)]
    stamp = (record.hlc.node_id.int, record.hlc.node_id.is_safe, hash(record.hlc))
    return ("ok", type(record), values, ids, stamp, repr(record), hash(record), record)


# --- strategies --------------------------------------------------------------------------

# Letters with and without combining marks (so NFC changes them), Arabic with harakat and
# Arabic-Indic digits, spaces of every kind, controls, bidi marks, unassigned code points.
_interesting = st.sampled_from(
    "aZ09 -'.,ابتعلي٠٣۴ًَُِّـéeEA\u0301\u030a\u0651\u0650\u00c5\u212b\u00a0\u2009\u3000"
    "\t\n\x00\x7f\u200f\u202e\u2066\ufeff\ue000\u0378\u2028"
)
texts = st.one_of(
    st.text(_interesting, max_size=30),
    st.text(max_size=30),
    st.text(st.characters(codec="ascii"), max_size=30),
)


def _mutations(canonical: str) -> st.SearchStrategy[str]:
    """``canonical`` with one character replaced: case, version, variant, dashes, digits."""
    return st.tuples(
        st.integers(0, len(canonical) - 1), st.sampled_from(list("0789abfABF-g{} ٣"))
    ).map(lambda change: canonical[: change[0]] + change[1] + canonical[change[0] + 1 :])


uuid_texts = st.one_of(
    st.uuids().map(str),
    st.uuids().map(str).flatmap(_mutations),
    st.uuids(version=4).map(lambda u: str(u).upper()),
    st.text(max_size=40),
    st.integers(),
)
hlc_texts = st.one_of(
    st.builds(
        lambda wall, counter, node: f"{wall:018d}-{counter:05d}-{node}",
        st.integers(0, 10**18 - 1),
        st.integers(0, 99_999),
        st.uuids(),
    ).flatmap(lambda text: st.one_of(st.just(text), _mutations(text))),
    st.text(max_size=70),
    st.none(),
)


# --- properties --------------------------------------------------------------------------


@given(texts, st.booleans(), st.booleans(), st.integers(1, 40))
def test_clean_text_agrees_with_the_plain_check(
    value: str, allow_empty: bool, allow_digits: bool, max_chars: int
) -> None:
    rules = {"allow_empty": allow_empty, "allow_digits": allow_digits, "max_chars": max_chars}
    expected = _outcome(lambda: _reference_clean_text(value, field="f", **rules))  # type: ignore[arg-type]
    for _ in range(2):  # cold, then with the characters cached
        assert _outcome(lambda: clean_text(value, field="f", **rules)) == expected  # type: ignore[arg-type]


@given(uuid_texts)
def test_parse_uuid_agrees_with_the_plain_check(value: object) -> None:
    expected = _outcome(lambda: _reference_parse_uuid(value, field="event_id"))
    assert _outcome(lambda: parse_uuid(value, field="event_id")) == expected


@given(hlc_texts)
def test_hlc_decode_agrees_with_the_plain_check(value: object) -> None:
    expected = _outcome(lambda: _reference_hlc_decode(value))
    for _ in range(2):  # cold, then with the node id cached
        decoded = _outcome(lambda: HlcStamp.decode(value))
        assert decoded == expected
        if expected[0] == "ok":
            assert HlcStamp.decode(value).encode() == value


@given(st.one_of(st.from_regex(r"[a-z0-9-]{1,66}", fullmatch=True), st.text(max_size=10)))
def test_require_slug_agrees_with_the_plain_check(value: str) -> None:
    expected = _outcome(lambda: _reference_slug(value))
    for _ in range(2):
        assert _outcome(lambda: require_slug(value, field="f")) == expected


@given(st.one_of(valid_national_ids, st.from_regex(r"[23٣][0-9٠-٩]{13}", fullmatch=True)))
def test_national_id_check_agrees_with_the_parse(value: str) -> None:
    today = dt.date(2026, 1, 1)
    parsed = _outcome(lambda: parse_national_id(value, today=today).number)
    assert _outcome(lambda: check_national_id(value, today=today)) == parsed


@given(st.lists(records, max_size=5, unique_by=lambda record: record.event_id))
def test_bodies_are_each_records_canonical_json(batch: list[Record]) -> None:
    payload = encode_records(batch)
    decoded, bodies = decode_records_with_bodies(payload, expected_count=len(batch))
    assert decoded == batch == decode_records(payload, expected_count=len(batch))
    assert bodies == [encode_json(record_to_dict(record)).decode() for record in batch]


@given(records)
def test_a_records_native_encoding_is_its_canonical_json(record: Record) -> None:
    wire = record_to_dict(record)
    assert encode_record_json(wire) == encode_json(wire)


@given(st.lists(records, min_size=1, max_size=3, unique_by=lambda record: record.event_id))
def test_a_non_canonical_payload_decodes_to_the_same_records_and_canonical_bodies(
    batch: list[Record],
) -> None:
    loose = json.dumps([record_to_dict(record) for record in batch], indent=1).encode()
    decoded, bodies = decode_records_with_bodies(loose, expected_count=len(batch))
    assert decoded == batch
    assert bodies == [encode_json(record_to_dict(record)).decode() for record in batch]


@given(
    st.lists(records, min_size=1, max_size=3),
    st.sampled_from(
        [
            lambda text: text,
            lambda text: text.replace('"type":', '"type":"x","type":', 1),
            lambda text: text.replace('"fee_piasters":', '"fee_piasters":2.5,"x":', 1),
            lambda text: text[:-1] + ",NaN]",
            lambda text: text + " ",
            lambda text: text.replace(":", ": ", 1),
            lambda text: text.replace('"recorded_at_ms":', '"recorded_at_ms":1e3,"y":', 1),
            lambda text: text[:-1],
        ]
    ),
)
def test_with_or_without_bodies_the_same_payloads_are_rejected_the_same_way(
    batch: list[Record], change: Callable[[str], str]
) -> None:
    payload = change(encode_records(batch).decode()).encode()
    plain = _outcome(lambda: decode_records(payload, expected_count=len(batch)))
    with_bodies = _outcome(
        lambda: decode_records_with_bodies(payload, expected_count=len(batch))[0]
    )
    assert with_bodies == plain
    as_wire = _outcome(
        lambda: [
            record_from_dict(item)
            for item in decode_wire_with_bodies(payload, expected_count=len(batch))[0]
        ]
    )
    assert as_wire == plain


@given(
    st.lists(records, max_size=4, unique_by=lambda record: record.event_id),
    st.sampled_from(["canonical", "loose"]),
)
def test_the_wire_decoding_gives_each_records_wire_form_and_canonical_body(
    batch: list[Record], form: str
) -> None:
    dicts = [record_to_dict(record) for record in batch]
    payload = encode_records(batch)
    if form == "loose":
        payload = json.dumps(dicts, indent=1).encode()
    wire, bodies = decode_wire_with_bodies(payload, expected_count=len(batch))
    assert wire == dicts
    assert bodies == [encode_json(item).decode() for item in dicts]


def test_the_wire_decoding_reports_a_duplicate_event_id_as_the_record_decoding_does() -> None:
    record = created()
    payload = encode_records([record, record])
    expected = _outcome(lambda: decode_records_with_bodies(payload, expected_count=2))
    assert _outcome(lambda: decode_wire_with_bodies(payload, expected_count=2)) == expected
    assert expected[0] is RecordError


_CANONICAL_JSON = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
)


def _split_with_the_standard_library(data: bytes) -> tuple[list[object], list[str]] | None:
    """The reference for ``_split_canonical``: strict parse, canonical re-encoding."""
    try:
        items = decode_json(data)
    except RecordError:
        return None
    if not isinstance(items, list):
        return None
    try:
        bodies = [_CANONICAL_JSON.encode(item) for item in items]
        if ("[" + ",".join(bodies) + "]").encode() != data:
            return None
    except (ValueError, RecursionError):  # NaN; a lone surrogate does not encode
        return None
    return items, bodies


def _json_values(scalars: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(st.text(st.characters(codec="utf-8"), max_size=6), inner, max_size=4),
        ),
        max_leaves=12,
    )


# What a record can hold: no floats, integers within 64 bits (every bound is far below).
_record_values = _json_values(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**63), 2**64 - 1),
        st.text(st.characters(codec="utf-8"), max_size=12),
    )
)
_other_values = _json_values(
    st.one_of(st.integers(), st.floats(allow_nan=False), st.text(max_size=4))
)


@given(st.lists(_record_values, max_size=4), st.sampled_from(["canonical", "loose", "ascii"]))
def test_the_payload_split_agrees_with_the_standard_library(items: list[object], form: str) -> None:
    if form == "canonical":
        data = _CANONICAL_JSON.encode(items).encode()
    elif form == "loose":
        data = json.dumps(items, ensure_ascii=False, indent=1).encode()
    else:  # \u escapes: valid JSON, not canonical
        data = json.dumps(items, sort_keys=True, separators=(",", ":")).encode()
    assert _split_canonical(data) == _split_with_the_standard_library(data)


@given(st.lists(_other_values, max_size=4))
def test_the_payload_split_gives_up_or_agrees_on_floats_and_big_integers(
    items: list[object],
) -> None:
    try:
        data = _CANONICAL_JSON.encode(items).encode()
    except (ValueError, UnicodeEncodeError):  # infinity; a lone surrogate
        return
    fast = _split_canonical(data)
    assert fast is None or fast == _split_with_the_standard_library(data)


@pytest.mark.parametrize(
    "data",
    [
        b'[{"a":1,"a":2}]',  # a duplicate key
        b"[NaN]",
        b"[1e400]",
        b'["\\ud800"]',  # a lone surrogate
        b'["\xff"]',  # not UTF-8
        b"[1] ",
        b"[]",
        b"{}",
        b'"x"',
        b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
    ],
)
def test_the_payload_split_on_edge_cases(data: bytes) -> None:
    assert _split_canonical(data) == _split_with_the_standard_library(data)


# --- records ------------------------------------------------------------------------------

_NAMES_OF_VALUES = ["arish", "s-0042", "CIV-BIRTH", "approved", "", " ", "-", "A"]
_odd_values = st.one_of(
    st.sampled_from(_NAMES_OF_VALUES),
    st.sampled_from(
        [None, True, False, 0, -1, 2.5, float(T0_MS), [], {}, ["arish"], b"arish", 10**20]
    ),
    st.sampled_from([0, 100_000_000, 100_000_001, 253_402_300_799_999, 253_402_300_800_000]),
    st.integers(),
    texts,
    uuid_texts,
    hlc_texts,
    st.from_regex(r"[23٣][0-9٠-٩]{6}(0[1-4]|1[1-9]|2[1-9]|3[1-5]|88|20)[0-9]{5}", fullmatch=True),
    st.sampled_from(["29902290112345", "30002290112345", "20002290112345", "30002300112345"]),
    st.from_regex(r"[A-Z][A-Z0-9]{0,8}-[A-Z0-9]{0,17}", fullmatch=True),
    st.from_regex(r"[a-z0-9-]{0,66}", fullmatch=True),
)


_BIRTHS_NEAR_T0 = [dt.date(2026, 1, day) for day in range(1, 5)]  # T0 is 2026-01-01
_NEAR_NATIONAL_IDS = [
    *(national_id(birth=birth) for birth in _BIRTHS_NEAR_T0),
    *("29902290112345", "30002290112345", "20002290112345", "30002300112345"),
    *("29001013412345", "29013013412345", "29001003412345", "29001019912345"),
    *("19001013412345", "29001013412345 ", "2900101341234٥", "290010134123456"),
]
_NEAR_INTS = [-1, 0, 100_000_000, 100_000_001, 253_402_300_799_999, 253_402_300_800_000]


_NEAR_AGENCY_LISTS: list[object] = [
    [],
    ["health"],
    ["civil-defense", "health", "local-unit"],
    ["health", "civil-defense"],
    ["health", "health"],
    ["Health"],
    ["health "],
    ["-health"],
    [f"a{n}" for n in range(9)],
    [f"a{n}" for n in range(8)],
    [1],
    [None],
    [["health"]],
    ("health",),
    "health",
    None,
]


def _near_miss_values(key: object, value: object) -> list[object]:
    """Values one small step from ``value``: where a fast check is most likely to differ."""
    if key == "national_id":
        return _NEAR_NATIONAL_IDS
    if key == "required_agencies":
        return _NEAR_AGENCY_LISTS
    if type(value) is int:
        return [*_NEAR_INTS, value - 1, value + 1, float(value), str(value), True]
    if type(value) is str and value:
        return [
            value + " ",
            " " + value,
            value.replace(" ", "  ", 1),
            value.replace(" ", "\u00a0", 1),
            value.upper(),
            value.lower(),
            value[:-1],
            value[1:],
            value + "-",
            value + "1",
            value + "\u0651",
            unicodedata.normalize("NFD", value + "é"),
            value[:-1] + chr(ord(value[-1]) + 1),
            value[:8] + "-" + value[8:],
        ]
    return []


def _near_misses(key: object, value: object) -> st.SearchStrategy[object]:
    values = _near_miss_values(key, value)
    return st.sampled_from(values) if values else _odd_values


_COMMON_KEYS = sorted(_CREATED_KEYS & _STATUS_KEYS & _DECISION_KEYS)
_CREATED_ONLY = sorted(_CREATED_KEYS - _STATUS_KEYS - _DECISION_KEYS)
_STATUS_ONLY = sorted(_STATUS_KEYS - _CREATED_KEYS - _DECISION_KEYS)
_DECISION_ONLY = sorted(_DECISION_KEYS - _CREATED_KEYS - _STATUS_KEYS)
_STATUS_OR_DECISION = sorted((_STATUS_KEYS & _DECISION_KEYS) - _CREATED_KEYS)
_ALL_KEYS = _COMMON_KEYS + _CREATED_ONLY + _STATUS_ONLY + _DECISION_ONLY + _STATUS_OR_DECISION


@st.composite
def wire_dicts(draw: st.DrawFn, key: str) -> object:
    """The wire form of a valid record, ``key`` set to a value near its own (or to any
    value), then up to two more changes: a field set, a key removed or added, the type
    changed; sometimes as a Mapping that is not a dict, or not a Mapping at all."""
    kind = {
        **dict.fromkeys(_CREATED_ONLY, created_records()),
        **dict.fromkeys(_STATUS_ONLY, status_records()),
        **dict.fromkeys(_DECISION_ONLY, decision_records()),
        **dict.fromkeys(_STATUS_OR_DECISION, st.one_of(status_records(), decision_records())),
    }.get(key, records)
    data: dict[object, object] = dict(record_to_dict(draw(kind)))
    choice = draw(st.integers(0, 9))
    if choice:  # and once in ten, left valid
        values = _near_misses(key, data.get(key)) if choice > 3 else _odd_values
        data[key] = draw(values)
    for _ in range(draw(st.integers(0, 2))):
        change = draw(st.sampled_from(["set", "set", "drop", "add", "type"]))
        keys = sorted(str(key) for key in data) or ["type"]
        other = draw(st.sampled_from(keys))
        if change == "set":
            data[other] = draw(st.one_of(_near_misses(other, data.get(other)), _odd_values))
        elif change == "drop":
            data.pop(other, None)
        elif change == "add":
            data[draw(st.sampled_from(["extra", "status", "note", "fee_piasters", 1]))] = 1
        else:
            data["type"] = draw(
                st.sampled_from(
                    [
                        "transaction.created",
                        "transaction.status",
                        "transaction.decision",
                        "transaction.merged",
                        "x",
                        None,
                        1,
                    ]
                )
            )
    form = draw(st.sampled_from(["dict"] * 8 + ["mapping", "list"]))
    if form == "mapping":  # a Mapping that is not a dict: the plain path
        return MappingProxyType(data)
    return list(data.items()) if form == "list" else data


@pytest.mark.parametrize("key", _ALL_KEYS)
@settings(max_examples=150)
@given(data=st.data())
def test_record_from_dict_agrees_with_the_constructors(key: str, data: st.DataObject) -> None:
    wire = data.draw(wire_dicts(key))
    expected = _record_outcome(lambda: _reference_record_from_dict(wire))
    for _ in range(2):  # then with the slugs, codes, characters and node ids cached
        assert _record_outcome(lambda: record_from_dict(wire)) == expected


@pytest.mark.parametrize("key", _ALL_KEYS)
@settings(max_examples=100)
@given(data=st.data())
def test_a_wire_dict_passes_only_if_it_is_the_wire_form_of_the_record_it_parses_to(
    key: str, data: st.DataObject
) -> None:
    wire = data.draw(wire_dicts(key))
    if wire_record_ok(wire):
        assert record_to_dict(_reference_record_from_dict(wire)) == wire
    elif _record_outcome(lambda: _reference_record_from_dict(wire))[0] == "ok":
        # Not taken by the check, yet valid: the receiver falls back to the record. A
        # decision always does (it has no fast path); any other record in its own wire
        # form is taken.
        parsed = record_from_dict(wire)
        assert isinstance(parsed, TransactionDecision) or wire_record_ok(record_to_dict(parsed))


_FIXED_ODD_VALUES = [None, True, 0, -1, 2.5, "", " ", "arish", "CIV-BIRTH", "approved", [], {}]


def test_record_from_dict_agrees_with_the_constructors_on_every_near_miss() -> None:
    """Every field of a created and a status record, set to each value next to its own."""
    opened = created(name="محمد أحمد علي", agencies=("civil-defense", "health"))
    for record in (
        opened,
        created(agencies=None),
        status(opened.event_id, "approved"),
        status(next_uuid7(), "rejected"),
        decision(opened.event_id, "health", "info_requested"),
        decision(opened.event_id, "health", "rejected"),
    ):
        wire = record_to_dict(record)
        for key, value in wire.items():
            for changed in [*_near_miss_values(key, value), *_FIXED_ODD_VALUES]:
                data = wire | {key: changed}
                expected = _record_outcome(functools.partial(_reference_record_from_dict, data))
                outcome = _record_outcome(functools.partial(record_from_dict, data))
                assert outcome == expected, (key, changed)


@given(records)
def test_a_record_parsed_from_the_wire_equals_and_hashes_as_the_constructed_one(
    record: Record,
) -> None:
    parsed = record_from_dict(record_to_dict(record))
    assert parsed == record and hash(parsed) == hash(record) and repr(parsed) == repr(record)
    assert pickle.loads(pickle.dumps(parsed)) == record
    assert dataclasses.replace(parsed) == record  # the constructor accepts what it holds
    with_time = dataclasses.replace(parsed, recorded_at_ms=parsed.recorded_at_ms)
    assert with_time == parsed


@given(st.uuids().map(str))
def test_uuid_from_canonical_text_is_uuid_of_the_text(text: str) -> None:
    fast, plain = _uuid_from_canonical(text), uuid.UUID(text)
    assert (fast.int, fast.is_safe, repr(fast), hash(fast)) == (
        plain.int,
        plain.is_safe,
        repr(plain),
        hash(plain),
    )
    assert fast == plain and pickle.loads(pickle.dumps(fast)) == plain


@given(st.integers(0, 2**48 - 1), st.binary(min_size=10, max_size=10))
def test_a_new_uuid7_is_the_uuid_of_its_bits(now_ms: int, random_bytes: bytes) -> None:
    fast = new_uuid7(now_ms, random_bytes=lambda _: random_bytes)
    plain = uuid.UUID(int=fast.int)
    assert (fast.version, fast.variant, fast.int >> 80) == (7, uuid.RFC_4122, now_ms)
    assert (fast.is_safe, repr(fast), hash(fast), str(fast)) == (
        plain.is_safe,
        repr(plain),
        hash(plain),
        str(plain),
    )
    assert fast == plain and pickle.loads(pickle.dumps(fast)) == plain


@given(hlc_texts)
def test_a_decoded_stamp_is_the_constructed_one(value: object) -> None:
    try:
        stamp = HlcStamp.decode(value)
    except RecordError:
        return
    plain = HlcStamp(stamp.wall_ms, stamp.counter, uuid.UUID(str(stamp.node_id)))
    assert (stamp, hash(stamp), repr(stamp)) == (plain, hash(plain), repr(plain))


@given(
    st.one_of(
        valid_national_ids,
        st.from_regex(r"[1-4٣][0-9]{2}(0[0-9]|1[0-3])([0-2][0-9]|3[0-2])[0-9]{7}", fullmatch=True),
        st.from_regex(r"[23][0-9]{2}02(29|30)[0-9]{7}", fullmatch=True),
        st.text(max_size=16),
    ),
    st.one_of(
        st.dates(min_value=dt.date(1970, 1, 1)),
        st.sampled_from([dt.date(2000, 2, 28), dt.date(2000, 2, 29), dt.date.max]),
    ),
)
def test_national_id_fast_check_accepts_only_what_the_check_accepts(
    value: str, today: dt.date
) -> None:
    plain = _outcome(lambda: check_national_id(value, today=today))
    assert _passes(value, _date_key(today)) == (plain == ("ok", value))


@given(texts, st.booleans(), st.booleans(), st.integers(1, 40))
def test_canonical_text_fast_check_accepts_only_unchanged_clean_text(
    value: str, allow_empty: bool, allow_digits: bool, max_chars: int
) -> None:
    rules = {"allow_empty": allow_empty, "allow_digits": allow_digits, "max_chars": max_chars}
    plain = _outcome(lambda: _reference_clean_text(value, field="f", **rules))  # type: ignore[arg-type]
    if plain[0] == "ok":
        clean_text(value, field="f", **rules)  # type: ignore[arg-type]  # caches its characters
    if _is_canonical(value, max_chars, allow_empty, allow_digits):
        assert plain == ("ok", value)


@given(st.one_of(st.from_regex(r"[a-z0-9-]{1,66}", fullmatch=True), st.text(max_size=10)))
def test_slug_fast_check_accepts_only_slugs(value: str) -> None:
    assert _is_slug(value) == (_outcome(lambda: _reference_slug(value)) == ("ok", value))
