"""one-stop approvals: agency lanes, scoped agency tokens, idempotent decisions

Adds ``approvals`` (one row per agency part of a transaction), ``agency_requests`` (the
idempotency keys of agency decisions), ``api_tokens.agency_code``, and the
``transactions`` columns the state function needs (``required_agencies``,
``latest_hlc``). Then maps the previous release's data: every transaction's status is
derived again from its events, each agency status event becoming the decision of its
service's owning agency (the catalog's ``agency_code``), and its lanes are written.

The mapping uses the protocol's state function (``sync_protocol.state``) and the hub's
row builders as they are in this release: they define what the rows mean.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-08 08:00:00
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_CHUNK = 1000  # transactions mapped per round of statements


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("agency_code", sa.String(length=64), nullable=True))
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("required_agencies", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("latest_hlc", sa.String(length=64), server_default="", nullable=False)
        )
    op.create_table(
        "approvals",
        sa.Column("transaction_id", sa.String(length=36), nullable=False),
        sa.Column("agency_code", sa.String(length=64), nullable=False),
        sa.Column("center_id", sa.String(length=64), nullable=False),
        sa.Column("service_code", sa.String(length=32), nullable=True),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("lane_key", sa.String(length=160), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=True),
        sa.Column("requested_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("queue_since_ms", sa.BigInteger(), nullable=True),
        sa.Column("decided_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("decision_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("transaction_id", "agency_code", name="pk_approvals"),
    )
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.create_index(
            "ix_approvals_queue",
            ["agency_code", "queue_since_ms", "transaction_id"],
            unique=False,
            postgresql_where=sa.text("queue_since_ms IS NOT NULL"),
            sqlite_where=sa.text("queue_since_ms IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_approvals_queue_center",
            ["agency_code", "center_id", "queue_since_ms", "transaction_id"],
            unique=False,
            postgresql_where=sa.text("queue_since_ms IS NOT NULL"),
            sqlite_where=sa.text("queue_since_ms IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_approvals_queue_service",
            ["agency_code", "service_code", "queue_since_ms", "transaction_id"],
            unique=False,
            postgresql_where=sa.text("queue_since_ms IS NOT NULL"),
            sqlite_where=sa.text("queue_since_ms IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_approvals_info",
            ["agency_code", "center_id"],
            unique=False,
            postgresql_where=sa.text("state = 'info_requested' AND required"),
            sqlite_where=sa.text("state = 'info_requested' AND required"),
        )
        batch_op.create_index(
            "ix_approvals_decided",
            ["agency_code", "decided_at_ms"],
            unique=False,
            postgresql_where=sa.text("decision_ms IS NOT NULL"),
            sqlite_where=sa.text("decision_ms IS NOT NULL"),
        )
    op.create_table(
        "agency_requests",
        sa.Column("agency_code", sa.String(length=64), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("transaction_id", sa.String(length=36), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("agency_code", "idempotency_key", name="pk_agency_requests"),
    )
    _map_previous_release(op.get_bind())


def _owner_lookup(connection: sa.Connection) -> Mapping[str, str]:
    """Service code -> owning agency, from the newest catalog the hub published."""
    from sync_protocol import decode_json, parse_catalog

    body = connection.execute(
        sa.text("SELECT body FROM catalog_versions ORDER BY version DESC LIMIT 1")
    ).scalar()
    if body is None:
        return {}
    catalog = parse_catalog(decode_json(body.encode("utf-8")))
    return {service.code: service.agency_code for service in catalog.services}


def _events_by_transaction(connection: sa.Connection) -> Iterator[tuple[str, list[Any]]]:
    """Every transaction's events (wire forms), one transaction at a time, streamed."""
    from sync_protocol import decode_json

    # Options on the statement: on the connection they would stay for the migration's
    # later statements too (a server-side cursor cannot run an UPDATE).
    query = sa.text("SELECT transaction_id, body FROM events ORDER BY transaction_id")
    result = connection.execute(query.execution_options(yield_per=2000))
    current: str | None = None
    wires: list[Any] = []
    for transaction_id, body in result:
        if transaction_id != current and wires:
            yield current, wires  # type: ignore[misc]
            wires = []
        current = transaction_id
        wires.append(decode_json(body.encode("utf-8")))
    if wires:
        yield current, wires  # type: ignore[misc]


def _map_previous_release(connection: sa.Connection) -> None:
    from central_hub.storage.lanes import lane_rows, transaction_values
    from sync_protocol.state import summarize

    owners = _owner_lookup(connection)
    transactions = sa.table(
        "transactions",
        sa.column("transaction_id"),
        sa.column("service_code"),
        sa.column("recorded_at_ms"),
        sa.column("required_agencies"),
        sa.column("status"),
        sa.column("status_key"),
        sa.column("latest_hlc"),
    )
    approvals = sa.table("approvals", *(sa.column(name) for name in _APPROVAL_COLUMNS))
    update = (
        transactions.update()
        .where(transactions.c.transaction_id == sa.bindparam("txn"))
        .values(
            status=sa.bindparam("status"),
            status_key=sa.bindparam("status_key"),
            latest_hlc=sa.bindparam("latest_hlc"),
            required_agencies=sa.bindparam("required_agencies"),
        )
    )
    rows: list[dict[str, Any]] = []
    lanes: list[dict[str, Any]] = []

    def flush() -> None:
        if rows:
            connection.execute(update, rows)
        if lanes:
            connection.execute(approvals.insert(), lanes)
        rows.clear()
        lanes.clear()

    for transaction_id, wires in _events_by_transaction(connection):
        summary = summarize(wires)
        owner = owners.get(summary.service_code or "")
        values = transaction_values(summary, owner)
        rows.append(
            {
                "txn": transaction_id,
                "status": values["status"],
                "status_key": values["status_key"],
                "latest_hlc": values["latest_hlc"],
                "required_agencies": values["required_agencies"],
            }
        )
        lanes.extend(lane_rows(transaction_id, wires[0]["center_id"], summary, owner))
        if len(rows) >= _CHUNK:
            flush()
    flush()


_APPROVAL_COLUMNS = (
    "transaction_id",
    "agency_code",
    "center_id",
    "service_code",
    "required",
    "state",
    "lane_key",
    "outcome",
    "at_ms",
    "requested_at_ms",
    "queue_since_ms",
    "decided_at_ms",
    "decision_ms",
)


def downgrade() -> None:
    op.drop_table("agency_requests")
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.drop_index("ix_approvals_decided")
        batch_op.drop_index("ix_approvals_info")
        batch_op.drop_index("ix_approvals_queue_service")
        batch_op.drop_index("ix_approvals_queue_center")
        batch_op.drop_index("ix_approvals_queue")
    op.drop_table("approvals")
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.drop_column("latest_hlc")
        batch_op.drop_column("required_agencies")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("agency_code")
