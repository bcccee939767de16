"""The event records that sync carries: ``transaction.created`` and ``transaction.status``.

Records are immutable facts. Constructing one validates it and requires every text field
to be canonical already (NFC, trimmed); :func:`new_transaction_created` and
:func:`new_transaction_status` clean raw staff input first. On the wire a record is a JSON
object with exactly the keys of its type; anything else is rejected, never repaired, so
the hub stores byte-for-byte the meaning the edge stored.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar, Final, Literal, TypeAlias

from sync_protocol.errors import RecordError
from sync_protocol.hlc import HlcStamp, _is_stamp_text, _stamp_from_canonical
from sync_protocol.ids import _is_uuid7_text, _uuid_from_canonical, parse_uuid
from sync_protocol.national_id import _date_key, _passes, check_national_id
from sync_protocol.text import _is_canonical, _is_slug, clean_text, require_slug

__all__ = [
    "MAX_FEE_PIASTERS",
    "MAX_NAME_CHARS",
    "MAX_NOTE_CHARS",
    "SERVICE_CODE_PATTERN",
    "STATUSES",
    "Record",
    "Status",
    "TransactionCreated",
    "TransactionStatus",
    "new_transaction_created",
    "new_transaction_status",
    "record_from_dict",
    "record_to_dict",
    "wire_record_ok",
]

MAX_NAME_CHARS: Final = 120
MAX_NOTE_CHARS: Final = 500
MAX_FEE_PIASTERS: Final = 100_000_000  # 1,000,000 EGP: far above any service fee
_MAX_TIME_MS: Final = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
# Birth "not in the future" is judged against the record's own time plus a day, so a
# baby registered just after midnight Cairo time (still yesterday in UTC) is accepted.
_BIRTH_SLACK: Final = dt.timedelta(days=1)
SERVICE_CODE_PATTERN: Final = re.compile(r"[A-Z][A-Z0-9]{1,7}-[A-Z0-9]{1,16}")
_PASSED_SERVICE_CODES: set[str] = set()  # codes already matched: a catalog has a few dozen
_PASSED_LIMIT: Final = 1024
# A UUID is version 7 with the RFC 9562 variant (``.version == 7``) exactly when these
# bits are set: version nibble 0111 at bit 76, variant 10 at bit 62.
_UUID7_MASK: Final = (0xF << 76) | (0x3 << 62)
_UUID7_BITS: Final = (0x7 << 76) | (0x2 << 62)
_MS_PER_DAY: Final = 86_400_000

Status = Literal["in_review", "approved", "rejected", "delivered", "cancelled"]
STATUSES: Final[tuple[Status, ...]] = (
    "in_review",
    "approved",
    "rejected",
    "delivered",
    "cancelled",
)

CREATED: Final = "transaction.created"
STATUS: Final = "transaction.status"


def _check_time(value: object, field: str) -> int:
    if type(value) is not int or not 0 <= value <= _MAX_TIME_MS:
        raise RecordError(f"{field} must be Unix milliseconds as an integer", field=field)
    return value


def _check_canonical_text(value: object, field: str, **rules: int | bool) -> str:
    cleaned = clean_text(value, field=field, **rules)  # type: ignore[arg-type]
    if cleaned != value:
        raise RecordError(f"{field} is not in canonical form (NFC, trimmed)", field=field)
    return cleaned


def _check_service_code(value: object) -> str:
    if type(value) is str and value in _PASSED_SERVICE_CODES:
        return value
    if not isinstance(value, str) or SERVICE_CODE_PATTERN.fullmatch(value) is None:
        raise RecordError(
            "service_code must look like CIV-BIRTH (uppercase ASCII, one '-')",
            field="service_code",
        )
    if type(value) is str and len(_PASSED_SERVICE_CODES) < _PASSED_LIMIT:
        _PASSED_SERVICE_CODES.add(value)
    return value


@functools.lru_cache(maxsize=256)
def _latest_birth(recorded_day: int) -> dt.date:
    """The latest birth date a record of UTC day ``recorded_day`` (days since 1970) may
    carry; records of one batch share a few days, so this is computed once per day."""
    recorded_on = dt.datetime.fromtimestamp(recorded_day * 86_400, dt.UTC).date()
    return recorded_on + _BIRTH_SLACK if recorded_on < dt.date.max else recorded_on


@functools.lru_cache(maxsize=256)
def _latest_birth_key(recorded_day: int) -> str:
    """:func:`_latest_birth` as the text the national ID fast check compares."""
    return _date_key(_latest_birth(recorded_day))


def _check_common(event_id: object, transaction_id: object, hlc: object, center: object) -> None:
    if not isinstance(event_id, uuid.UUID) or event_id.int & _UUID7_MASK != _UUID7_BITS:
        raise RecordError("event_id must be a UUIDv7", field="event_id")
    if not isinstance(transaction_id, uuid.UUID) or transaction_id.int & _UUID7_MASK != _UUID7_BITS:
        raise RecordError("transaction_id must be a UUIDv7", field="transaction_id")
    if not isinstance(hlc, HlcStamp):
        raise RecordError("hlc must be an HLC stamp", field="hlc")
    require_slug(center, field="center_id")


@dataclass(frozen=True, slots=True)
class TransactionCreated:
    """A citizen transaction opened at a center (معاملة جديدة)."""

    event_id: uuid.UUID
    hlc: HlcStamp
    center_id: str
    transaction_id: uuid.UUID
    service_code: str
    national_id: str
    citizen_name: str
    fee_piasters: int
    staff_id: str
    recorded_at_ms: int

    type: ClassVar[str] = CREATED

    def __post_init__(self) -> None:
        _check_common(self.event_id, self.transaction_id, self.hlc, self.center_id)
        if self.transaction_id is not self.event_id and self.transaction_id != self.event_id:
            raise RecordError(
                "a transaction.created record's transaction_id must equal its event_id",
                field="transaction_id",
            )
        _check_service_code(self.service_code)
        recorded_at_ms = _check_time(self.recorded_at_ms, "recorded_at_ms")
        check_national_id(self.national_id, today=_latest_birth(recorded_at_ms // _MS_PER_DAY))
        _check_canonical_text(
            self.citizen_name, "citizen_name", max_chars=MAX_NAME_CHARS, allow_digits=False
        )
        fee = self.fee_piasters
        if type(fee) is not int or not 0 <= fee <= MAX_FEE_PIASTERS:
            raise RecordError(
                f"fee_piasters must be an integer from 0 to {MAX_FEE_PIASTERS}",
                field="fee_piasters",
            )
        require_slug(self.staff_id, field="staff_id")


@dataclass(frozen=True, slots=True)
class TransactionStatus:
    """A status change of a transaction, made at a center or at the hub (agency)."""

    event_id: uuid.UUID
    hlc: HlcStamp
    center_id: str
    transaction_id: uuid.UUID
    status: Status
    actor_id: str
    note: str
    recorded_at_ms: int

    type: ClassVar[str] = STATUS

    def __post_init__(self) -> None:
        _check_common(self.event_id, self.transaction_id, self.hlc, self.center_id)
        if self.status not in STATUSES:
            raise RecordError(f"status must be one of {', '.join(STATUSES)}", field="status")
        require_slug(self.actor_id, field="actor_id")
        _check_canonical_text(self.note, "note", max_chars=MAX_NOTE_CHARS, allow_empty=True)
        _check_time(self.recorded_at_ms, "recorded_at_ms")


Record: TypeAlias = TransactionCreated | TransactionStatus


def new_transaction_created(
    *,
    event_id: uuid.UUID,
    hlc: HlcStamp,
    center_id: str,
    service_code: str,
    national_id: str,
    citizen_name: str,
    fee_piasters: int,
    staff_id: str,
    recorded_at_ms: int,
) -> TransactionCreated:
    """Build a ``transaction.created`` from raw staff input (cleaned, then validated).

    The transaction id is the event id: a transaction is named by the event that opened it.
    """
    return TransactionCreated(
        event_id=event_id,
        hlc=hlc,
        center_id=center_id,
        transaction_id=event_id,
        service_code=service_code.strip().upper(),
        national_id=national_id.strip(),
        citizen_name=clean_text(
            citizen_name, field="citizen_name", max_chars=MAX_NAME_CHARS, allow_digits=False
        ),
        fee_piasters=fee_piasters,
        staff_id=staff_id,
        recorded_at_ms=recorded_at_ms,
    )


def new_transaction_status(
    *,
    event_id: uuid.UUID,
    hlc: HlcStamp,
    center_id: str,
    transaction_id: uuid.UUID,
    status: str,
    actor_id: str,
    note: str = "",
    recorded_at_ms: int,
) -> TransactionStatus:
    """Build a ``transaction.status`` from raw input (note cleaned, then validated)."""
    if status not in STATUSES:
        raise RecordError(f"status must be one of {', '.join(STATUSES)}", field="status")
    return TransactionStatus(
        event_id=event_id,
        hlc=hlc,
        center_id=center_id,
        transaction_id=transaction_id,
        status=status,
        actor_id=actor_id,
        note=clean_text(note, field="note", max_chars=MAX_NOTE_CHARS, allow_empty=True),
        recorded_at_ms=recorded_at_ms,
    )


_CREATED_KEYS: Final = frozenset(
    {
        "type",
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
    }
)
_STATUS_KEYS: Final = frozenset(
    {
        "type",
        "event_id",
        "hlc",
        "center_id",
        "transaction_id",
        "status",
        "actor_id",
        "note",
        "recorded_at_ms",
    }
)


_KEYS_BY_TYPE: Final = {CREATED: _CREATED_KEYS, STATUS: _STATUS_KEYS}


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
        return common | {
            "service_code": record.service_code,
            "national_id": record.national_id,
            "citizen_name": record.citizen_name,
            "fee_piasters": record.fee_piasters,
            "staff_id": record.staff_id,
            "recorded_at_ms": record.recorded_at_ms,
        }
    return common | {
        "status": record.status,
        "actor_id": record.actor_id,
        "note": record.note,
        "recorded_at_ms": record.recorded_at_ms,
    }


def record_from_dict(data: object) -> Record:
    """Parse the wire form of a record; any deviation raises a :class:`RecordError`."""
    record: Record | None = None
    if type(data) is dict and type(kind := data.get("type")) is str:
        if kind == CREATED and data.keys() == _CREATED_KEYS:
            record = _created_from_wire(data)
        elif kind == STATUS and data.keys() == _STATUS_KEYS:
            record = _status_from_wire(data)
    return _record_from_dict_checked(data) if record is None else record


# --- the fast path ------------------------------------------------------------------------
# A record every sender of ours produces (canonical ids and stamp, text already seen) is
# validated here in one pass of cheap checks and built by setting its slots directly,
# skipping the constructor whose ``__post_init__`` would repeat every check. Each check
# accepts only what the plain path accepts and gives up (None) on anything else; the plain
# path (the constructors) then runs from the start, so it alone decides every rejection,
# and the first error reported is always the one it reports.
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


def wire_record_ok(data: object) -> bool:
    """True if ``record_from_dict(data)`` takes its fast path, which means it accepts
    ``data`` and ``record_to_dict`` of the record is ``data`` again, value for value.
    False says nothing: ``record_from_dict`` decides (and reports what is wrong).
    For a receiver that keeps the wire form and needs no :class:`Record` objects."""
    if type(data) is dict and type(kind := data.get("type")) is str:
        if kind == CREATED and data.keys() == _CREATED_KEYS:
            return _created_wire_ok(data)
        if kind == STATUS and data.keys() == _STATUS_KEYS:
            return _status_wire_ok(data)
    return False


def _created_from_wire(data: dict[str, object]) -> TransactionCreated | None:
    if not _created_wire_ok(data):
        return None
    event_id = _uuid_from_canonical(data["event_id"])  # type: ignore[arg-type]
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
    expected = _KEYS_BY_TYPE.get(kind) if isinstance(kind, str) else None
    if expected is None:
        raise RecordError("record type must be transaction.created or transaction.status")
    if data.keys() != expected:
        keys = set(data.keys())
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
        )
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
