"""The event records that sync carries: ``transaction.created``, ``transaction.status``
and ``transaction.decision`` (one agency's part of the one-stop approval).

Records are immutable facts. Constructing one validates it and requires every text field
to be canonical already (NFC, trimmed); the ``new_*`` builders clean raw input first. The
wire form (``sync_protocol.wire``) is a JSON object with exactly the keys of its type;
anything else is rejected, never repaired, so the hub stores byte-for-byte the meaning the
edge stored.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar, Final, Literal, TypeAlias

from sync_protocol.errors import RecordError
from sync_protocol.hlc import HlcStamp
from sync_protocol.national_id import _date_key, check_national_id
from sync_protocol.text import clean_text, require_slug

__all__ = [
    "CENTER_STATUSES",
    "DECISIONS",
    "INFORMATION_REASONS",
    "MAX_FEE_PIASTERS",
    "MAX_NAME_CHARS",
    "MAX_NOTE_CHARS",
    "MAX_REQUIRED_AGENCIES",
    "REJECTION_REASONS",
    "SERVICE_CODE_PATTERN",
    "STATUSES",
    "Decision",
    "Record",
    "Status",
    "TransactionCreated",
    "TransactionDecision",
    "TransactionStatus",
    "check_required_agencies",
    "new_transaction_created",
    "new_transaction_decision",
    "new_transaction_status",
]

MAX_NAME_CHARS: Final = 120
MAX_NOTE_CHARS: Final = 500
MAX_FEE_PIASTERS: Final = 100_000_000  # 1,000,000 EGP: far above any service fee
MAX_REQUIRED_AGENCIES: Final = 8  # approvals one transaction may need
_MAX_TIME_MS: Final = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
# Birth "not in the future" is judged against the record's own time plus a day, so a
# baby registered just after midnight Cairo time (still yesterday in UTC) is accepted.
_BIRTH_SLACK: Final = dt.timedelta(days=1)
SERVICE_CODE_PATTERN: Final = re.compile(r"[A-Z][A-Z0-9]{1,7}-[A-Z0-9]{1,16}")
_PASSED_SERVICE_CODES: set[str] = set()  # codes already matched: a catalog has a few dozen
_PASSED_LIMIT: Final = 1024
_PASSED_AGENCY_LISTS: set[tuple[str, ...]] = set()  # lists already checked (see above)
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

# The statuses a center may record from this release on; the others are the previous
# release's agency statuses, still read (the agency of the service decided them).
CENTER_STATUSES: Final[tuple[Status, ...]] = ("delivered", "cancelled")

Decision = Literal["approved", "rejected", "info_requested", "info_provided"]
DECISIONS: Final[tuple[Decision, ...]] = (
    "approved",
    "rejected",
    "info_requested",
    "info_provided",
)
# Why an agency refuses, and what it asks the center for: fixed lists, so that reports
# can count them and the counter UI can name them in Arabic and English.
REJECTION_REASONS: Final = (
    "documents_incomplete",
    "documents_invalid",
    "not_eligible",
    "data_mismatch",
    "duplicate_application",
    "legal_impediment",
    "inspection_failed",
    "other",
)
INFORMATION_REASONS: Final = (
    "missing_document",
    "unclear_document",
    "data_clarification",
    "inspection_appointment",
    "other",
)
_REASONS: Final[dict[str, tuple[str, ...]]] = {
    "rejected": REJECTION_REASONS,
    "info_requested": INFORMATION_REASONS,
}

CREATED: Final = "transaction.created"
STATUS: Final = "transaction.status"
DECISION: Final = "transaction.decision"


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
    # The agencies whose approval this transaction needs, from the catalog as the center
    # held it when recording (sorted, each once). None: a record of the previous release,
    # whose wire form has no such key; its service's agency decides it.
    required_agencies: tuple[str, ...] | None = None

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
        if self.required_agencies is not None:
            check_required_agencies(self.required_agencies)


def check_required_agencies(value: object) -> tuple[str, ...]:
    """``value`` if it is a tuple of at most ``MAX_REQUIRED_AGENCIES`` agency codes
    (slugs) in strictly increasing order, else a :class:`RecordError`."""
    with contextlib.suppress(TypeError):  # a tuple of something unhashable: checked below
        if type(value) is tuple and value in _PASSED_AGENCY_LISTS:
            return value  # a catalog has a few dozen lists: each is checked once
    field = "required_agencies"
    if type(value) is not tuple or len(value) > MAX_REQUIRED_AGENCIES:
        raise RecordError(
            f"{field} must list at most {MAX_REQUIRED_AGENCIES} agency codes", field=field
        )
    for code in value:
        require_slug(code, field=field)
    if list(value) != sorted(set(value)):
        raise RecordError(f"{field} must be sorted, each agency once", field=field)
    if len(_PASSED_AGENCY_LISTS) < _PASSED_LIMIT:
        _PASSED_AGENCY_LISTS.add(value)
    return value


@dataclass(frozen=True, slots=True)
class TransactionStatus:
    """A status change of a transaction: delivered to the citizen or cancelled, recorded at
    the center. (The previous release also recorded agency decisions this way.)"""

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


@dataclass(frozen=True, slots=True)
class TransactionDecision:
    """One agency's part of a transaction: approved, rejected (with a reason code) or
    information requested (with what is missing), decided at the hub; or the center's
    ``info_provided`` answer, which reopens that agency's review."""

    event_id: uuid.UUID
    hlc: HlcStamp
    center_id: str
    transaction_id: uuid.UUID
    agency_code: str
    decision: Decision
    reason_code: str
    note: str
    actor_id: str
    recorded_at_ms: int

    type: ClassVar[str] = DECISION

    def __post_init__(self) -> None:
        _check_common(self.event_id, self.transaction_id, self.hlc, self.center_id)
        require_slug(self.agency_code, field="agency_code")
        if self.decision not in DECISIONS:
            raise RecordError(f"decision must be one of {', '.join(DECISIONS)}", field="decision")
        reasons = _REASONS.get(self.decision)
        if reasons is None and self.reason_code != "":
            raise RecordError(
                f"a decision {self.decision} carries no reason_code", field="reason_code"
            )
        if reasons is not None and self.reason_code not in reasons:
            raise RecordError(
                f"reason_code of {self.decision} must be one of {', '.join(reasons)}",
                field="reason_code",
            )
        note = _check_canonical_text(self.note, "note", max_chars=MAX_NOTE_CHARS, allow_empty=True)
        if self.decision == "info_requested" and not note:
            raise RecordError("an information request must say what is missing", field="note")
        require_slug(self.actor_id, field="actor_id")
        _check_time(self.recorded_at_ms, "recorded_at_ms")


Record: TypeAlias = TransactionCreated | TransactionStatus | TransactionDecision


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
    required_agencies: Iterable[str] | None = (),
) -> TransactionCreated:
    """Build a ``transaction.created`` from raw staff input (cleaned, then validated).

    The transaction id is the event id: a transaction is named by the event that opened it.
    ``required_agencies`` come from the catalog (sorted here); ``None`` builds the previous
    release's form, which only tests of compatibility should need.
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
        required_agencies=None if required_agencies is None else tuple(sorted(required_agencies)),
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


def new_transaction_decision(
    *,
    event_id: uuid.UUID,
    hlc: HlcStamp,
    center_id: str,
    transaction_id: uuid.UUID,
    agency_code: str,
    decision: str,
    reason_code: str = "",
    note: str = "",
    actor_id: str,
    recorded_at_ms: int,
) -> TransactionDecision:
    """Build a ``transaction.decision`` from raw input (note cleaned, then validated)."""
    if decision not in DECISIONS:
        raise RecordError(f"decision must be one of {', '.join(DECISIONS)}", field="decision")
    return TransactionDecision(
        event_id=event_id,
        hlc=hlc,
        center_id=center_id,
        transaction_id=transaction_id,
        agency_code=agency_code,
        decision=decision,
        reason_code=reason_code,
        note=clean_text(note, field="note", max_chars=MAX_NOTE_CHARS, allow_empty=True),
        actor_id=actor_id,
        recorded_at_ms=recorded_at_ms,
    )
