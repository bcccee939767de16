"""The hub's tables (SQLAlchemy Core), the same on SQLite and PostgreSQL.

Times are Unix milliseconds (BIGINT), money integer piasters, ids canonical UUID text.
Migrations in ``migrations/versions`` create exactly these; a test compares the two.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

__all__ = [
    "agency_requests",
    "api_tokens",
    "approvals",
    "batches",
    "catalog_versions",
    "centers",
    "changes",
    "enrollment_tokens",
    "events",
    "heartbeats",
    "metadata",
    "nodes",
    "quarantine",
    "request_nonces",
    "transactions",
]

metadata = MetaData()

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL wants BIGINT identity.
_AutoId = BigInteger().with_variant(Integer(), "sqlite")

centers = Table(
    "centers",
    metadata,
    Column("center_id", String(64), primary_key=True),
    Column("name", Text, nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
)

enrollment_tokens = Table(
    "enrollment_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("center_id", String(64), ForeignKey("centers.center_id"), nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("expires_at_ms", BigInteger, nullable=False),
    Column("used_at_ms", BigInteger),
    Column("node_id", String(36)),
)

nodes = Table(
    "nodes",
    metadata,
    Column("node_id", String(36), primary_key=True),
    Column("center_id", String(64), ForeignKey("centers.center_id"), nullable=False),
    Column("verify_key", LargeBinary, nullable=False),
    Column("sealing_key", LargeBinary, nullable=False),
    Column("status", String(16), nullable=False),  # active | revoked | forked
    Column("enrolled_at_ms", BigInteger, nullable=False),
    Column("revoked_at_ms", BigInteger),
    Column("head_seq", BigInteger, nullable=False),
    Column("head_hash", LargeBinary, nullable=False),
    Column("software_version", String(64), nullable=False),
    Index("ix_nodes_center", "center_id"),
)

batches = Table(
    "batches",
    metadata,
    Column("node_id", String(36), ForeignKey("nodes.node_id"), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("batch_hash", LargeBinary, nullable=False),
    Column("record_count", Integer, nullable=False),
    Column("envelope_bytes", Integer, nullable=False),
    Column("received_at_ms", BigInteger, nullable=False),
    Column("receipt", LargeBinary, nullable=False),
    PrimaryKeyConstraint("node_id", "seq", name="pk_batches"),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("quarantine_id", _AutoId, primary_key=True, autoincrement=True),
    Column("node_id", String(36), ForeignKey("nodes.node_id"), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("batch_hash", LargeBinary, nullable=False),
    Column("reason", String(32), nullable=False),
    Column("envelope", LargeBinary, nullable=False),
    Column("received_at_ms", BigInteger, nullable=False),
    UniqueConstraint("node_id", "batch_hash", name="uq_quarantine_node_hash"),
)

events = Table(
    "events",
    metadata,
    Column("event_id", String(36), primary_key=True),
    Column("transaction_id", String(36), nullable=False),
    Column("center_id", String(64), nullable=False),
    Column("type", String(32), nullable=False),
    Column("hlc", String(64), nullable=False),
    Column("origin_node_id", String(36), nullable=False),
    Column("batch_node_id", String(36)),  # NULL for events made at the hub
    Column("batch_seq", BigInteger),
    Column("body", Text, nullable=False),  # canonical JSON of the record
    Column("received_at_ms", BigInteger, nullable=False),
    Index("ix_events_transaction", "transaction_id"),
    Index("ix_events_center", "center_id"),
)

transactions = Table(
    "transactions",
    metadata,
    Column("transaction_id", String(36), primary_key=True),
    Column("center_id", String(64), nullable=False),
    Column("service_code", String(32)),
    Column("fee_piasters", BigInteger),
    Column("recorded_at_ms", BigInteger),
    Column("status", String(16), nullable=False),
    Column("status_key", String(160), nullable=False),  # the center lane's deciding key
    Column("updated_at_ms", BigInteger, nullable=False),
    # Comma-joined agency codes the opening event lists; NULL: a transaction of the
    # previous release (its service's owner decides it) or the opening event not here.
    Column("required_agencies", Text),
    Column("latest_hlc", String(64), nullable=False, server_default=""),
    Index("ix_transactions_center", "center_id"),
)

# One row per agency lane of a transaction: each lane that has an event and each required
# agency (pending without one). ``lane_key``, ``outcome`` and ``at_ms`` are the lane's own
# deciding event (what the state is folded from); the other columns are derived from the
# whole transaction on every write, for the agency queue and the reports.
approvals = Table(
    "approvals",
    metadata,
    Column("transaction_id", String(36), nullable=False),
    Column("agency_code", String(64), nullable=False),  # "": the previous release's lane
    Column("center_id", String(64), nullable=False),
    Column("service_code", String(32)),
    Column("required", Boolean, nullable=False),
    Column("state", String(16), nullable=False),  # pending|info_requested|approved|rejected
    Column("lane_key", String(160), nullable=False),  # "" while the lane has no event
    Column("outcome", String(16), nullable=False),
    Column("at_ms", BigInteger),  # when the lane's deciding event was recorded
    Column("requested_at_ms", BigInteger),  # when the transaction was recorded
    Column("queue_since_ms", BigInteger),  # waiting on this agency since; NULL: not waiting
    Column("decided_at_ms", BigInteger),  # approved or rejected: when
    Column("decision_ms", BigInteger),  # approved or rejected: time from recording
    PrimaryKeyConstraint("transaction_id", "agency_code", name="pk_approvals"),
    Index(
        "ix_approvals_queue",
        "agency_code",
        "queue_since_ms",
        "transaction_id",
        postgresql_where=text("queue_since_ms IS NOT NULL"),
        sqlite_where=text("queue_since_ms IS NOT NULL"),
    ),
    Index(
        "ix_approvals_queue_center",
        "agency_code",
        "center_id",
        "queue_since_ms",
        "transaction_id",
        postgresql_where=text("queue_since_ms IS NOT NULL"),
        sqlite_where=text("queue_since_ms IS NOT NULL"),
    ),
    Index(
        "ix_approvals_queue_service",
        "agency_code",
        "service_code",
        "queue_since_ms",
        "transaction_id",
        postgresql_where=text("queue_since_ms IS NOT NULL"),
        sqlite_where=text("queue_since_ms IS NOT NULL"),
    ),
    Index(
        "ix_approvals_info",
        "agency_code",
        "center_id",
        postgresql_where=text("state = 'info_requested' AND required"),
        sqlite_where=text("state = 'info_requested' AND required"),
    ),
    Index(
        "ix_approvals_decided",
        "agency_code",
        "decided_at_ms",
        postgresql_where=text("decision_ms IS NOT NULL"),
        sqlite_where=text("decision_ms IS NOT NULL"),
    ),
)

# An agency's decision requests by idempotency key: a resent request gets the answer the
# first one got, and a different request under a used key is refused.
agency_requests = Table(
    "agency_requests",
    metadata,
    Column("agency_code", String(64), nullable=False),
    Column("idempotency_key", String(128), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("transaction_id", String(36), nullable=False),
    Column("answer", Text, nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    PrimaryKeyConstraint("agency_code", "idempotency_key", name="pk_agency_requests"),
)

changes = Table(
    "changes",
    metadata,
    Column("cursor", _AutoId, primary_key=True, autoincrement=True),
    Column("center_id", String(64)),  # NULL: for every center
    Column("kind", String(16), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Index("ix_changes_center_cursor", "center_id", "cursor"),
)

catalog_versions = Table(
    "catalog_versions",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("body", Text, nullable=False),
    Column("published_at_ms", BigInteger, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("role", String(16), nullable=False),  # agency | operator
    Column("name", String(64), nullable=False),
    # The one agency an agency token decides for; NULL for operators, and for agency
    # tokens made before scoping (refused with token_unscoped).
    Column("agency_code", String(64)),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("revoked_at_ms", BigInteger),
)

request_nonces = Table(
    "request_nonces",
    metadata,
    Column("node_id", String(36), nullable=False),
    Column("nonce", String(32), nullable=False),
    Column("expires_at_ms", BigInteger, nullable=False),
    PrimaryKeyConstraint("node_id", "nonce", name="pk_request_nonces"),
    Index("ix_request_nonces_expiry", "expires_at_ms"),
)

heartbeats = Table(
    "heartbeats",
    metadata,
    Column("node_id", String(36), ForeignKey("nodes.node_id"), primary_key=True),
    Column("received_at_ms", BigInteger, nullable=False),
    Column("pending_events", BigInteger, nullable=False),
    Column("unsent_batches", BigInteger, nullable=False),
    Column("oldest_pending_age_s", BigInteger, nullable=False),
    Column("unsynced_fee_piasters", BigInteger, nullable=False),
    Column("clock_offset_ms", BigInteger, nullable=False),
    Column("software_version", String(64), nullable=False),
    Column("disk_free_bytes", BigInteger, nullable=False),
)
