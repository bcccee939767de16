"""The hub's COPY of new rows into PostgreSQL: every value survives the round trip through
the server exactly, whatever its characters."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from central_hub.storage import migrate, schema
from central_hub.storage.bulk import NewRowsCopy
from central_hub.storage.engine import create_hub_engine

TRICKY = [
    '{"note":"قال: \\"تم\\"","path":"C:\\\\dir"}',  # JSON escapes: backslashes
    "tab\there",
    "line\nbreak\r\n",
    "\\.",  # COPY's end-of-data marker, as a value
    "\\N",  # the NULL marker, as a value
    "emoji 🇪🇬 and U+2028 \u2028",
    "",
]


@pytest.fixture
def engine(fresh_postgres_url: str) -> Engine:
    engine = create_hub_engine(fresh_postgres_url, pool_size=1)
    migrate.upgrade(engine)
    yield engine  # type: ignore[misc]
    engine.dispose()


def _event(index: int, body: str) -> dict[str, object]:
    return {
        "event_id": f"00000000-0000-7000-8000-{index:012d}",
        "transaction_id": f"00000000-0000-7000-8000-{index:012d}",
        "center_id": "arish",
        "type": "transaction.created",
        "hlc": f"{index:018d}-00000-00000000-0000-7000-8000-000000000001",
        "origin_node_id": "00000000-0000-7000-8000-000000000001",
        "batch_node_id": None,
        "batch_seq": index,
        "body": body,
        "received_at_ms": 1_790_000_000_000,
    }


def _copied(engine: Engine, bodies: list[str]) -> list[str]:
    rows = [_event(index, body) for index, body in enumerate(bodies)]
    copier = NewRowsCopy(schema.events, "event_id")
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM events"))
        stored = copier.write(connection, rows)
        assert stored == {row["event_id"] for row in rows}
        found = connection.execute(text("SELECT body FROM events ORDER BY batch_seq"))
        return [body for (body,) in found]


def test_tricky_values_round_trip_through_postgresql(engine: Engine) -> None:
    assert _copied(engine, TRICKY) == TRICKY


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(st.characters(codec="utf-8", exclude_characters="\x00")), max_size=5))
def test_any_text_round_trips_through_postgresql(engine: Engine, bodies: list[str]) -> None:
    assert _copied(engine, bodies) == bodies
