"""Fast paths of record validation agree with the plain checks they shortcut (unit level:
sync_protocol.text, ids, hlc, national_id, payload).

Each reference below is the straightforward check as it stood before the fast path was
added; the property is that both give the same value or the same error (type, message,
field) on any input, including non-NFC, non-ASCII and hostile text, whatever the caches
have already seen.
"""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
import uuid
from collections.abc import Callable

from hypothesis import given
from hypothesis import strategies as st

from sync_protocol import (
    HlcStamp,
    Record,
    RecordError,
    TextError,
    ValidationError,
    clean_text,
    decode_records,
    decode_records_with_bodies,
    encode_json,
    encode_records,
    parse_national_id,
    parse_uuid,
    record_to_dict,
)
from sync_protocol.national_id import check_national_id
from sync_protocol.text import _REJECTED_CATEGORIES, _SLUG, require_slug
from tests.protocol.factories import records, valid_national_ids


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
