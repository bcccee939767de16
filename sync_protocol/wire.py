"""The wire form of records, both ways: :func:`record_to_dict` and :func:`record_from_dict`.

On the wire a record is a JSON object with exactly the keys of its type (and, for a
``transaction.created``, of its form: the previous release's has no
``required_agencies``). Anything else is rejected, never repaired. A type this release
does not know, but that names a transaction event, is :class:`UpgradeRequired`: a newer
peer made it, and it is refused with that code rather than dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeAlias

from sync_protocol.errors import RecordError, UpgradeRequired
from sync_protocol.hlc import HlcStamp, _is_stamp_text, _stamp_from_canonical
from sync_protocol.ids import _is_uuid7_text, _uuid_from_canonical, parse_uuid
from sync_protocol.national_id import _passes
from sync_protocol.records import (
    _MAX_TIME_MS,
    _MS_PER_DAY,
    _PASSED_SERVICE_CODES,
    CREATED,
    DECISION,
    MAX_FEE_PIASTERS,
    MAX_NAME_CHARS,
    MAX_NOTE_CHARS,
    MAX_REQUIRED_AGENCIES,
    SERVICE_CODE_PATTERN,
    STATUS,
    STATUSES,
    Record,
    TransactionCreated,
    TransactionDecision,
    TransactionStatus,
    _latest_birth_key,
)
from sync_protocol.text import _is_canonical, _is_slug

__all__ = ["RECORD_TYPES", "record_from_dict", "record_to_dict", "wire_record_ok"]

RECORD_TYPES: Final = (CREATED, STATUS, DECISION)

_COMMON_KEYS: Final = frozenset({"type", "event_id", "hlc", "center_id", "transaction_id"})
# The previous release's transaction.created, still accepted (legacy form).
_CREATED_KEYS: Final = _COMMON_KEYS | {
    "service_code",
    "national_id",
    "citizen_name",
    "fee_piasters",
    "staff_id",
    "recorded_at_ms",
}
_CREATED_KEYS_V2: Final = _CREATED_KEYS | {"required_agencies"}
_STATUS_KEYS: Final = _COMMON_KEYS | {"status", "actor_id", "note", "recorded_at_ms"}
_DECISION_KEYS: Final = _COMMON_KEYS | {
    "agency_code",
    "decision",
    "reason_code",
    "note",
    "actor_id",
    "recorded_at_ms",
}
_KEYS_BY_TYPE: Final[dict[str, tuple[frozenset[str], ...]]] = {
    CREATED: (_CREATED_KEYS_V2, _CREATED_KEYS),
    STATUS: (_STATUS_KEYS,),
    DECISION: (_DECISION_KEYS,),
}
# A type of this shape is a transaction event of a newer release, not garbage.
_NEWER_TYPE: Final = re.compile(r"transaction\.[a-z_]{1,40}")


def record_to_dict(record: Record) -> dict[str, object]:
    """The JSON-ready wire form of ``record``."""
    event_id = str(record.event_id)
    # A transaction is named by its opening event: the same UUID, formatted once.
    same = record.transaction_id is record.event_id
    common: dict[str, object] = {
        "type": record.type,
        "event_id": event_id,
        "hlc": record.hlc.encode(),
        "center_id": record.center_id,
        "transaction_id": event_id if same else str(record.transaction_id),
    }
    if isinstance(record, TransactionCreated):
        wire = common | {
            "service_code": record.service_code,
            "national_id": record.national_id,
            "citizen_name": record.citizen_name,
            "fee_piasters": record.fee_piasters,
            "staff_id": record.staff_id,
            "recorded_at_ms": record.recorded_at_ms,
        }
        if record.required_agencies is not None:
            wire["required_agencies"] = list(record.required_agencies)
        return wire
    if isinstance(record, TransactionStatus):
        return common | {
            "status": record.status,
            "actor_id": record.actor_id,
            "note": record.note,
            "recorded_at_ms": record.recorded_at_ms,
        }
    return common | {
        "agency_code": record.agency_code,
        "decision": record.decision,
        "reason_code": record.reason_code,
        "note": record.note,
        "actor_id": record.actor_id,
        "recorded_at_ms": record.recorded_at_ms,
    }


def record_from_dict(data: object) -> Record:
    """Parse the wire form of a record; any deviation raises a :class:`RecordError`
    (:class:`UpgradeRequired` for a transaction event type of a newer release)."""
    record: Record | None = None
    if type(data) is dict and type(kind := data.get("type")) is str:
        if kind == CREATED:
            keys = data.keys()
            if keys in (_CREATED_KEYS_V2, _CREATED_KEYS):
                record = _created_from_wire(data)
        elif kind == STATUS and data.keys() == _STATUS_KEYS:
            record = _status_from_wire(data)
    return _record_from_dict_checked(data) if record is None else record


def wire_record_ok(data: object) -> bool:
    """True if ``record_from_dict(data)`` takes its fast path, which means it accepts
    ``data`` and ``record_to_dict`` of the record is ``data`` again, value for value.
    False says nothing: ``record_from_dict`` decides (and reports what is wrong).
    For a receiver that keeps the wire form and needs no :class:`Record` objects."""
    if type(data) is dict and type(kind := data.get("type")) is str:
        if kind == CREATED:
            keys = data.keys()
            return keys in (_CREATED_KEYS_V2, _CREATED_KEYS) and _created_wire_ok(data)
        if kind == STATUS and data.keys() == _STATUS_KEYS:
            return _status_wire_ok(data)
    return False


# --- the fast path ------------------------------------------------------------------------
# A record every sender of ours produces (canonical ids and stamp, text already seen) is
# validated here in one pass of cheap checks and built by setting its slots directly,
# skipping the constructor whose ``__post_init__`` would repeat every check. Each check
# accepts only what the plain path accepts and gives up (None) on anything else; the plain
# path (the constructors) then runs from the start, so it alone decides every rejection,
# and the first error reported is always the one it reports. Decisions are rare in a
# batch (the center's answers to information requests) and always take the plain path.
# tests/protocol/test_fast_paths.py compares the two on random valid and invalid records.

_NEW: Final = object.__new__
_Setter: TypeAlias = Callable[[object, object], None]


def _slot_setters(cls: type, names: tuple[str, ...]) -> tuple[_Setter, ...]:
    setters: tuple[_Setter, ...] = tuple(cls.__dict__[name].__set__ for name in names)
    return setters


(
    _SET_C_EVENT_ID,
    _SET_C_HLC,
    _SET_C_CENTER_ID,
    _SET_C_TRANSACTION_ID,
    _SET_C_SERVICE_CODE,
    _SET_C_NATIONAL_ID,
    _SET_C_CITIZEN_NAME,
    _SET_C_FEE_PIASTERS,
    _SET_C_STAFF_ID,
    _SET_C_RECORDED_AT_MS,
    _SET_C_REQUIRED_AGENCIES,
) = _slot_setters(
    TransactionCreated,
    (
        "event_id",
        "hlc",
        "center_id",
        "transaction_id",
        "service_code",
        "national_id",
        "citizen_name",
        "fee_piasters",
        "staff_id",
        "recorded_at_ms",
        "required_agencies",
    ),
)
(
    _SET_S_EVENT_ID,
    _SET_S_HLC,
    _SET_S_CENTER_ID,
    _SET_S_TRANSACTION_ID,
    _SET_S_STATUS,
    _SET_S_ACTOR_ID,
    _SET_S_NOTE,
    _SET_S_RECORDED_AT_MS,
) = _slot_setters(
    TransactionStatus,
    (
        "event_id",
        "hlc",
        "center_id",
        "transaction_id",
        "status",
        "actor_id",
        "note",
        "recorded_at_ms",
    ),
)
_STATUS_SET: Final = frozenset(STATUSES)
_NO_AGENCIES: Final[list[object]] = []


def _agencies_ok(value: object) -> bool:
    """``check_required_agencies(tuple(value))`` would pass, for a JSON array."""
    if type(value) is not list or len(value) > MAX_REQUIRED_AGENCIES:
        return False
    previous = ""
    for code in value:
        if not _is_slug(code) or code <= previous:
            return False
        previous = code
    return True


def _created_wire_ok(data: dict[str, object]) -> bool:
    """The fast path's checks of a ``transaction.created`` (keys already checked)."""
    raw_event_id = data["event_id"]
    raw_transaction_id = data["transaction_id"]
    service_code = data["service_code"]
    recorded_at_ms = data["recorded_at_ms"]
    fee = data["fee_piasters"]
    return not (
        not _is_uuid7_text(raw_event_id)
        or type(raw_transaction_id) is not str
        or raw_transaction_id != raw_event_id
        or not _is_stamp_text(data["hlc"])
        or not _is_slug(data["center_id"])
        or type(service_code) is not str
        or (
            service_code not in _PASSED_SERVICE_CODES
            and SERVICE_CODE_PATTERN.fullmatch(service_code) is None
        )
        or type(recorded_at_ms) is not int
        or not 0 <= recorded_at_ms <= _MAX_TIME_MS
        or not _passes(data["national_id"], _latest_birth_key(recorded_at_ms // _MS_PER_DAY))
        or not _is_canonical(data["citizen_name"], MAX_NAME_CHARS, False, False)
        or type(fee) is not int
        or not 0 <= fee <= MAX_FEE_PIASTERS
        or not _is_slug(data["staff_id"])
        or not _agencies_ok(data.get("required_agencies", _NO_AGENCIES))
    )


def _status_wire_ok(data: dict[str, object]) -> bool:
    """The fast path's checks of a ``transaction.status`` (keys already checked)."""
    raw_event_id = data["event_id"]
    raw_transaction_id = data["transaction_id"]
    status = data["status"]
    recorded_at_ms = data["recorded_at_ms"]
    return not (
        not _is_uuid7_text(raw_event_id)
        or not (
            (type(raw_transaction_id) is str and raw_transaction_id == raw_event_id)
            or _is_uuid7_text(raw_transaction_id)
        )
        or not _is_stamp_text(data["hlc"])
        or not _is_slug(data["center_id"])
        or type(status) is not str
        or status not in _STATUS_SET
        or not _is_slug(data["actor_id"])
        or not _is_canonical(data["note"], MAX_NOTE_CHARS, True, True)
        or type(recorded_at_ms) is not int
        or not 0 <= recorded_at_ms <= _MAX_TIME_MS
    )


def _created_from_wire(data: dict[str, object]) -> TransactionCreated | None:
    if not _created_wire_ok(data):
        return None
    event_id = _uuid_from_canonical(data["event_id"])  # type: ignore[arg-type]
    agencies = data.get("required_agencies")
    record = _NEW(TransactionCreated)
    _SET_C_EVENT_ID(record, event_id)
    _SET_C_HLC(record, _stamp_from_canonical(data["hlc"]))  # type: ignore[arg-type]
    _SET_C_CENTER_ID(record, data["center_id"])
    _SET_C_TRANSACTION_ID(record, event_id)
    _SET_C_SERVICE_CODE(record, data["service_code"])
    _SET_C_NATIONAL_ID(record, data["national_id"])
    _SET_C_CITIZEN_NAME(record, data["citizen_name"])
    _SET_C_FEE_PIASTERS(record, data["fee_piasters"])
    _SET_C_STAFF_ID(record, data["staff_id"])
    _SET_C_RECORDED_AT_MS(record, data["recorded_at_ms"])
    _SET_C_REQUIRED_AGENCIES(record, None if agencies is None else tuple(agencies))  # type: ignore[arg-type]
    return record


def _status_from_wire(data: dict[str, object]) -> TransactionStatus | None:
    if not _status_wire_ok(data):
        return None
    raw_event_id: str = data["event_id"]  # type: ignore[assignment]
    raw_transaction_id: str = data["transaction_id"]  # type: ignore[assignment]
    event_id = _uuid_from_canonical(raw_event_id)
    record = _NEW(TransactionStatus)
    _SET_S_EVENT_ID(record, event_id)
    _SET_S_HLC(record, _stamp_from_canonical(data["hlc"]))  # type: ignore[arg-type]
    _SET_S_CENTER_ID(record, data["center_id"])
    _SET_S_TRANSACTION_ID(
        record,
        event_id
        if raw_transaction_id == raw_event_id
        else _uuid_from_canonical(raw_transaction_id),
    )
    _SET_S_STATUS(record, data["status"])
    _SET_S_ACTOR_ID(record, data["actor_id"])
    _SET_S_NOTE(record, data["note"])
    _SET_S_RECORDED_AT_MS(record, data["recorded_at_ms"])
    return record


# --- the plain path -----------------------------------------------------------------------


def _record_from_dict_checked(data: object) -> Record:
    """:func:`record_from_dict` by the constructors: every check, in their order."""
    if not isinstance(data, Mapping):
        raise RecordError("a record must be a JSON object")
    kind = data.get("type")
    forms = _KEYS_BY_TYPE.get(kind) if isinstance(kind, str) else None
    if forms is None:
        if isinstance(kind, str) and _NEWER_TYPE.fullmatch(kind):
            raise UpgradeRequired(
                f"record type {kind} is newer than this software: upgrade it", field="type"
            )
        raise RecordError(f"record type must be one of {', '.join(RECORD_TYPES)}")
    keys = set(data.keys())
    if keys not in forms:
        expected = forms[0]
        missing, extra = sorted(expected - keys), sorted(str(k) for k in keys - expected)
        raise RecordError(f"{kind} record: missing keys {missing}, unknown keys {extra}")
    raw_event_id, raw_transaction_id = data["event_id"], data["transaction_id"]
    event_id = parse_uuid(raw_event_id, field="event_id")
    if type(raw_transaction_id) is str and raw_transaction_id == raw_event_id:
        transaction_id = event_id  # the same text parses to the same id: parse it once
    else:
        transaction_id = parse_uuid(raw_transaction_id, field="transaction_id")
    hlc = HlcStamp.decode(data["hlc"])
    if kind == CREATED:
        return TransactionCreated(
            event_id=event_id,
            hlc=hlc,
            center_id=data["center_id"],
            transaction_id=transaction_id,
            service_code=data["service_code"],
            national_id=data["national_id"],
            citizen_name=data["citizen_name"],
            fee_piasters=data["fee_piasters"],
            staff_id=data["staff_id"],
            recorded_at_ms=data["recorded_at_ms"],
            required_agencies=_agencies_tuple(data["required_agencies"])
            if "required_agencies" in keys
            else None,
        )
    if kind == STATUS:
        return TransactionStatus(
            event_id=event_id,
            hlc=hlc,
            center_id=data["center_id"],
            transaction_id=transaction_id,
            status=data["status"],
            actor_id=data["actor_id"],
            note=data["note"],
            recorded_at_ms=data["recorded_at_ms"],
        )
    return TransactionDecision(
        event_id=event_id,
        hlc=hlc,
        center_id=data["center_id"],
        transaction_id=transaction_id,
        agency_code=data["agency_code"],
        decision=data["decision"],
        reason_code=data["reason_code"],
        note=data["note"],
        actor_id=data["actor_id"],
        recorded_at_ms=data["recorded_at_ms"],
    )


def _agencies_tuple(value: Any) -> Any:
    """A JSON array of agency codes as the tuple the record holds (checked there). Any
    other value, ``null`` included (which is not the previous release's form: that has
    no key at all), reaches the record's own check as something it refuses."""
    if type(value) is list:
        return tuple(value)
    return value if value is not None else _NULL_AGENCIES


_NULL_AGENCIES: Final = "null"
