"""Protocol v1 shared by edge nodes and the central hub: records, clocks, keys, envelopes
and chain rules. Pure: standard library and ``cryptography`` only, no I/O."""

from __future__ import annotations

from sync_protocol.batch import open_batch, open_batch_with_bodies, seal_batch
from sync_protocol.catalog import (
    CATEGORIES,
    Catalog,
    RequiredDocument,
    Service,
    catalog_to_dict,
    check_upgrade,
    encode_catalog,
    parse_catalog,
)
from sync_protocol.chain import ChainHead, ChainVerdict, Classification, classify_batch
from sync_protocol.changes import (
    CatalogChange,
    Change,
    ChangeSet,
    RevocationChange,
    StatusChange,
    open_changes,
    seal_changes,
)
from sync_protocol.envelope import (
    GENESIS_HASH,
    EnvelopeHeader,
    EnvelopeKind,
    Limits,
    SealedEnvelope,
    open_envelope,
    parse_envelope,
    seal_envelope,
    verify_envelope,
)
from sync_protocol.errors import (
    CatalogError,
    ClockError,
    EnvelopeError,
    InvalidKey,
    InvalidSeal,
    LimitExceeded,
    NationalIdError,
    RecordError,
    SyncError,
    TextError,
    TruncatedEnvelope,
    UnsupportedVersion,
    ValidationError,
)
from sync_protocol.hlc import HlcStamp, HybridClock
from sync_protocol.ids import new_uuid7, parse_uuid
from sync_protocol.keys import OpeningKey, SealingKey, SigningKey, VerifyKey
from sync_protocol.national_id import GOVERNORATES, NationalId, parse_national_id
from sync_protocol.payload import (
    decode_json,
    decode_records,
    decode_records_with_bodies,
    encode_json,
    encode_records,
)
from sync_protocol.receipt import Receipt, sign_receipt, verify_receipt
from sync_protocol.records import (
    STATUSES,
    Record,
    TransactionCreated,
    TransactionStatus,
    new_transaction_created,
    new_transaction_status,
    record_from_dict,
    record_to_dict,
)
from sync_protocol.request_auth import (
    RequestAuth,
    enrollment_message,
    parse_request_auth,
    sign_request,
    verify_request_auth,
)
from sync_protocol.state import TransactionState, derive_state, merge_events
from sync_protocol.text import clean_text

PROTOCOL_VERSION = 1

__all__ = [
    "CATEGORIES",
    "GENESIS_HASH",
    "GOVERNORATES",
    "PROTOCOL_VERSION",
    "STATUSES",
    "Catalog",
    "CatalogChange",
    "CatalogError",
    "ChainHead",
    "ChainVerdict",
    "Change",
    "ChangeSet",
    "Classification",
    "ClockError",
    "EnvelopeError",
    "EnvelopeHeader",
    "EnvelopeKind",
    "HlcStamp",
    "HybridClock",
    "InvalidKey",
    "InvalidSeal",
    "LimitExceeded",
    "Limits",
    "NationalId",
    "NationalIdError",
    "OpeningKey",
    "Receipt",
    "Record",
    "RecordError",
    "RequestAuth",
    "RequiredDocument",
    "RevocationChange",
    "SealedEnvelope",
    "SealingKey",
    "Service",
    "SigningKey",
    "StatusChange",
    "SyncError",
    "TextError",
    "TransactionCreated",
    "TransactionState",
    "TransactionStatus",
    "TruncatedEnvelope",
    "UnsupportedVersion",
    "ValidationError",
    "VerifyKey",
    "catalog_to_dict",
    "check_upgrade",
    "classify_batch",
    "clean_text",
    "decode_json",
    "decode_records",
    "decode_records_with_bodies",
    "derive_state",
    "encode_catalog",
    "encode_json",
    "encode_records",
    "enrollment_message",
    "merge_events",
    "new_transaction_created",
    "new_transaction_status",
    "new_uuid7",
    "open_batch",
    "open_batch_with_bodies",
    "open_changes",
    "open_envelope",
    "parse_catalog",
    "parse_envelope",
    "parse_national_id",
    "parse_request_auth",
    "parse_uuid",
    "record_from_dict",
    "record_to_dict",
    "seal_batch",
    "seal_changes",
    "seal_envelope",
    "sign_receipt",
    "sign_request",
    "verify_envelope",
    "verify_receipt",
    "verify_request_auth",
]
