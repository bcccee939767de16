"""The hub's Alembic migrations, on SQLite and PostgreSQL: they build exactly the tables
``schema.py`` declares, and revision 0002 maps the previous release's data (one status per
transaction, any agency token) onto agency lanes: each agency status event becomes the
decision of its service's owning agency."""

from __future__ import annotations

import json

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text

from central_hub.auth import hash_secret
from central_hub.storage import migrate, schema
from central_hub.storage.engine import create_hub_engine
from central_hub.storage.store import SqlStore
from sync_protocol import (
    HlcStamp,
    encode_json,
    new_transaction_created,
    new_transaction_status,
    new_uuid7,
    record_to_dict,
)
from tests.hub.nodes import T0_MS
from tests.hub.test_storage_contract import CATALOG_V1, HUB, NODE


def test_the_migrations_build_exactly_the_declared_schema(db_url: str) -> None:
    engine = create_hub_engine(db_url)
    migrate.upgrade(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), schema.metadata)
    engine.dispose()
    assert differences == []


def _legacy_rows(opened_at: int, events: list) -> dict[str, object]:  # type: ignore[type-arg]
    return {
        "events": [
            {
                "event_id": str(event.event_id),
                "transaction_id": str(event.transaction_id),
                "center_id": "arish",
                "type": event.type,
                "hlc": event.hlc.encode(),
                "origin_node_id": str(event.hlc.node_id),
                "batch_node_id": None,
                "batch_seq": None,
                "body": encode_json(record_to_dict(event)).decode("utf-8"),
                "received_at_ms": opened_at,
            }
            for event in events
        ]
    }


def test_the_previous_releases_statuses_become_decisions_of_the_services_owner(
    db_url: str,
) -> None:
    engine = create_hub_engine(db_url)
    migrate.upgrade(engine, "0001")

    def opening(at: int):  # type: ignore[no-untyped-def]
        return new_transaction_created(
            event_id=new_uuid7(T0_MS + at),
            hlc=HlcStamp(T0_MS + at, 0, NODE),
            center_id="arish",
            service_code="CIV-BIRTH",
            national_id="29001013412375",
            citizen_name="محمد علي",
            fee_piasters=1000,
            staff_id="s-1",
            recorded_at_ms=T0_MS + at,
            required_agencies=None,  # the previous release's record
        )

    def status(txn, state: str, at: int):  # type: ignore[no-untyped-def]
        return new_transaction_status(
            event_id=new_uuid7(T0_MS + at),
            hlc=HlcStamp(T0_MS + at, 0, HUB),
            center_id="arish",
            transaction_id=txn,
            status=state,
            actor_id="agency-civil",
            recorded_at_ms=T0_MS + at,
        )

    approved, waiting, delivered = opening(1), opening(2), opening(3)
    events = [
        approved,
        status(approved.transaction_id, "in_review", 10),
        status(approved.transaction_id, "approved", 20),
        waiting,
        delivered,
        status(delivered.transaction_id, "delivered", 30),
    ]
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO catalog_versions VALUES (1, :body, :at)"),
            {"body": CATALOG_V1, "at": T0_MS},
        )
        for opened, old_status in (
            (approved, "approved"),
            (waiting, "created"),
            (delivered, "delivered"),
        ):
            connection.execute(
                text(
                    "INSERT INTO transactions VALUES (:txn, 'arish', 'CIV-BIRTH', 1000, :at, "
                    ":status, 'old-key', :at)"
                ),
                {"txn": str(opened.transaction_id), "at": T0_MS, "status": old_status},
            )
        for row in _legacy_rows(T0_MS, events)["events"]:  # type: ignore[union-attr]
            connection.execute(
                text(
                    "INSERT INTO events VALUES (:event_id, :transaction_id, :center_id, :type, "
                    ":hlc, :origin_node_id, :batch_node_id, :batch_seq, :body, :received_at_ms)"
                ),
                row,
            )
        connection.execute(
            text("INSERT INTO api_tokens VALUES (:hash, 'agency', 'passports', :at, NULL)"),
            {"hash": hash_secret("egh_old"), "at": T0_MS},
        )

    migrate.upgrade(engine)
    store = SqlStore(engine)
    with engine.connect() as connection:
        statuses = {
            row.transaction_id: row.status
            for row in connection.execute(
                select(schema.transactions.c.transaction_id, schema.transactions.c.status)
            )
        }
        lanes = {
            (row.transaction_id, row.agency_code): (row.state, row.queue_since_ms is not None)
            for row in connection.execute(
                select(schema.approvals).where(schema.approvals.c.required)
            )
        }
    assert statuses == {
        str(approved.transaction_id): "approved",
        str(waiting.transaction_id): "in_review",
        str(delivered.transaction_id): "delivered",
    }
    assert lanes == {
        (str(approved.transaction_id), "civil-status"): ("approved", False),
        (str(waiting.transaction_id), "civil-status"): ("pending", True),  # in its queue
        (str(delivered.transaction_id), "civil-status"): ("pending", False),
    }
    token = store.api_token(hash_secret("egh_old"))
    assert token is not None and token.agency_code is None  # refused as token_unscoped
    queue = store.agency_queue(
        "civil-status", center_id=None, service_code=None, after=None, limit=5
    )
    assert [row["transaction_id"] for row in queue] == [str(waiting.transaction_id)]
    assert json.loads(CATALOG_V1)["version"] == 1
    engine.dispose()
