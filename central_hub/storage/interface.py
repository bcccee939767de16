"""What the hub needs from a database: the :class:`Store` protocol and the rows it returns.

Every method is one database transaction; see :mod:`central_hub.storage.store` for the
SQLAlchemy implementation shared by SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sync_protocol import Catalog, Record, TransactionDecision
from sync_protocol.state import Summary

if TYPE_CHECKING:
    from central_hub.storage.batches import PreparedBatch
    from central_hub.storage.projection import StoredTransaction

__all__ = [
    "BatchOutcome",
    "ChainMoved",
    "ChainSnapshot",
    "ChangePage",
    "ChangeRow",
    "DecisionReplay",
    "NodeRow",
    "Store",
    "TokenRedemption",
    "TokenRow",
]


class ChainMoved(Exception):
    """The node's chain head changed between classification and commit."""


class DecisionReplay(Exception):
    """An idempotency key already used for a different decision request."""


@dataclass(frozen=True, slots=True)
class TokenRow:
    role: str
    name: str
    agency_code: str | None  # the agency an agency token decides for; None if unscoped


@dataclass(frozen=True, slots=True)
class NodeRow:
    node_id: uuid.UUID
    center_id: str
    verify_key: bytes
    sealing_key: bytes
    status: str
    head_seq: int
    head_hash: bytes


@dataclass(frozen=True, slots=True)
class ChainSnapshot:
    head_seq: int
    head_hash: bytes
    hash_at_seq: bytes | None
    receipt_at_seq: bytes | None


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    records_accepted: int
    records_known: int
    receipt: bytes


@dataclass(frozen=True, slots=True)
class ChangeRow:
    cursor: int
    center_id: str | None
    kind: str
    body: str


@dataclass(frozen=True, slots=True)
class ChangePage:
    rows: tuple[ChangeRow, ...]
    more: bool  # another change for this center follows the last row


@dataclass(frozen=True, slots=True)
class TokenRedemption:
    outcome: str  # redeemed | unknown | used | expired
    center_id: str | None = None
    center_name: str | None = None


class Store(Protocol):
    """What the hub needs from a database. Implementations must make each call atomic and
    every write idempotent where the docstring says so."""

    def create_center(self, center_id: str, name: str, now_ms: int) -> None: ...
    def create_enrollment_token(
        self, center_id: str, token_hash: str, now_ms: int, expires_at_ms: int
    ) -> None: ...
    def redeem_enrollment_token(
        self, token_hash: str, node: NodeRow, software_version: str, now_ms: int
    ) -> TokenRedemption: ...
    def get_node(self, node_id: uuid.UUID) -> NodeRow | None: ...
    def set_node_status(self, node_id: uuid.UUID, status: str, now_ms: int) -> bool: ...
    def mark_forked(self, node_id: uuid.UUID) -> None: ...
    def revoked_node_ids(self) -> list[str]: ...
    def chain_snapshot(self, node_id: uuid.UUID, seq: int) -> ChainSnapshot: ...
    def prepare_batch(
        self,
        *,
        node_id: uuid.UUID,
        seq: int,
        wire: Sequence[Mapping[str, Any]],
        bodies: Sequence[str],
        now_ms: int,
    ) -> PreparedBatch: ...
    def commit_batch(
        self,
        *,
        node_id: uuid.UUID,
        seq: int,
        batch_hash: bytes,
        envelope_bytes: int,
        now_ms: int,
        make_receipt: Callable[[int, int], bytes],
        before_commit: Callable[[], None] = ...,
        records: Sequence[Record] = ...,
        prepared: PreparedBatch | None = None,
    ) -> BatchOutcome: ...
    def quarantine_batch(
        self,
        *,
        node_id: uuid.UUID,
        seq: int,
        batch_hash: bytes,
        envelope: bytes,
        reason: str,
        now_ms: int,
    ) -> None: ...
    def remember_nonce(
        self, node_id: uuid.UUID, nonce: str, expires_at_ms: int, now_ms: int
    ) -> bool: ...
    def append_change(self, center_id: str | None, kind: str, body: str, now_ms: int) -> int: ...
    def changes_after(
        self, center_id: str, cursor: int, *, max_rows: int, max_body_bytes: int
    ) -> ChangePage: ...
    def publish_catalog(self, version: int, body: str, now_ms: int) -> bool: ...
    def latest_catalog(self) -> tuple[int, str] | None: ...
    def current_catalog(self) -> Catalog | None: ...
    def owner_of(self, service_code: str | None) -> str | None: ...
    def create_api_token(
        self, token_hash: str, role: str, name: str, now_ms: int, agency_code: str | None = None
    ) -> None: ...
    def api_token(self, token_hash: str) -> TokenRow | None: ...
    def api_token_named(self, name: str) -> bool: ...
    def transaction(self, transaction_id: uuid.UUID) -> StoredTransaction | None: ...
    def transactions(self, transaction_ids: Sequence[str]) -> dict[str, StoredTransaction]: ...
    def transaction_view(self, transaction_id: uuid.UUID) -> dict[str, Any] | None: ...
    def decide(
        self,
        *,
        transaction_id: uuid.UUID,
        agency_code: str,
        idempotency_key: str,
        request: Mapping[str, Any],
        now_ms: int,
        make: Callable[[str, Summary], TransactionDecision],
        answer: Callable[[TransactionDecision, Summary], dict[str, Any]],
    ) -> tuple[dict[str, Any], bool]: ...
    def agency_queue(
        self,
        agency_code: str,
        *,
        center_id: str | None,
        service_code: str | None,
        after: tuple[int, str] | None,
        limit: int,
    ) -> list[dict[str, Any]]: ...
    def lanes_of(self, transaction_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]: ...
    def approval_counts(self) -> list[dict[str, Any]]: ...
    def decision_times(self, agency_code: str, since_ms: int) -> list[tuple[str, int]]: ...
    def decided_agencies(self, since_ms: int) -> list[str]: ...
    def save_heartbeat(self, node_id: uuid.UUID, values: dict[str, Any], now_ms: int) -> None: ...
