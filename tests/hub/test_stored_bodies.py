"""The hub stores each event's canonical JSON exactly, whether it took the bytes from the
payload (canonical batches) or re-encoded the record."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from central_hub.enrollment import provision_center
from central_hub.storage import schema
from central_hub.storage.store import SqlStore
from sync_protocol import encode_json, record_to_dict
from tests.hub.nodes import T0_MS, ScriptedNode


def test_ingested_bodies_are_the_records_canonical_json(client: TestClient) -> None:
    store: SqlStore = client.app.state.store  # type: ignore[attr-defined]
    node = ScriptedNode(client)
    token = provision_center(store, "arish", "العريش", now_ms=T0_MS, ttl_hours=1).token
    assert node.enroll(token).status_code == 200
    records = node.records(25)
    assert node.push(node.seal(records)).status_code == 200
    with store.engine.connect() as connection:
        rows = connection.execute(select(schema.events.c.event_id, schema.events.c.body))
        stored = {event_id: body for event_id, body in rows}
    assert stored == {
        str(r.event_id): encode_json(record_to_dict(r)).decode("utf-8") for r in records
    }
