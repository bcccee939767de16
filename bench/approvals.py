"""An agency's queue at scale: ``count`` transactions waiting on one agency across 100
centers, in a hub database on SQLite and on PostgreSQL, served by a real hub process.

Timed over HTTP on 127.0.0.1, ``--requests`` times each: the first page of the agency's
queue (unfiltered, by center, by service) and a decision (each on another transaction,
the oldest first, as officers work), against the limit measured in the same run: the
hub's cheapest request (``GET /livez``, the HTTP round trip alone). Beside the figures,
the database's plan of each statement behind them: an index range on the partial queue
indexes and primary-key reads, never a scan of the million rows.

The rows are made by the hub's own row builders (``central_hub.storage.rows``) and
inserted in bulk (COPY on PostgreSQL, ``executemany`` on SQLite), then ``ANALYZE`` (what
autovacuum does on PostgreSQL; SQLite's planner is told as much by its own ANALYZE).
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import httpx
from sqlalchemy import text

from bench._support import HubUnderTest, percentile, postgres_schema, scratch_dir
from central_hub.auth import hash_secret, new_api_token
from central_hub.storage import schema
from central_hub.storage.engine import create_hub_engine
from central_hub.storage.projection import transaction_rows
from central_hub.storage.rows import event_row
from central_hub.storage.store import SqlStore
from sync_protocol import HlcStamp, encode_json, new_uuid7

__all__ = ["measure_approvals"]

AGENCY: Final = "civil-defense"
CENTERS: Final = 100
# Services the shipped catalog has civil defence approve, with all their agencies.
SERVICES: Final = (
    ("LIC-SHOP", ("civil-defense", "health", "local-unit")),
    ("LIC-FOOD", ("civil-defense", "health", "local-unit")),
    ("BLD-PERMIT", ("civil-defense", "engineers-syndicate", "local-unit")),
    ("TOU-HOTEL", ("civil-defense", "local-unit", "tourism")),
)
TARGET_MS: Final = 50.0
CHUNK: Final = 20_000  # transactions made and inserted at a time: memory stays bounded
NODE: Final = uuid.UUID("019b76da-a800-7000-8000-0000000000c1")
_TABLES: Final = {
    "events": tuple(c.name for c in schema.events.c),
    "transactions": tuple(c.name for c in schema.transactions.c),
    "approvals": tuple(c.name for c in schema.approvals.c),
}


def _center(index: int) -> str:
    return f"center-{index % CENTERS:03d}"


def _no_owner(_service_code: str | None) -> None:
    return None  # every transaction is of this release: no owner is consulted


def _serial(number: int, size: int) -> bytes:
    return number.to_bytes(size, "big")


def _rows(start: int, count: int, t0_ms: int) -> dict[str, list[tuple[Any, ...]]]:
    """The event, transaction and approval rows of transactions ``start``.. as the hub
    stores them when each center's opening events arrive."""
    rows: dict[str, list[tuple[Any, ...]]] = {name: [] for name in _TABLES}
    for index in range(start, start + count):
        at = t0_ms + index * 50  # recorded 50 ms apart across the fleet
        event_id = new_uuid7(at, random_bytes=functools.partial(_serial, index))
        txn = str(event_id)
        service, agencies = SERVICES[index % len(SERVICES)]
        center = _center(index)
        wire = {
            "type": "transaction.created",
            "event_id": txn,
            "transaction_id": txn,
            "hlc": HlcStamp(at, 0, NODE).encode(),
            "center_id": center,
            "service_code": service,
            "national_id": "29001013400011",
            "citizen_name": "محمد أحمد السيد",
            "fee_piasters": 100_000,
            "staff_id": "clerk-1",
            "recorded_at_ms": at,
            "required_agencies": list(agencies),
        }
        body = encode_json(wire).decode("utf-8")
        event = event_row(wire, body, at, batch_node_id=str(NODE), batch_seq=1 + index // 5000)
        row, lanes = transaction_rows(txn, [wire], None, owner_of=_no_owner, now_ms=at)
        rows["events"].append(tuple(event[c] for c in _TABLES["events"]))
        rows["transactions"].append(tuple(row[c] for c in _TABLES["transactions"]))
        rows["approvals"] += [tuple(lane[c] for c in _TABLES["approvals"]) for lane in lanes]
    return rows


def _fill_sqlite(path: Path, count: int, t0_ms: int) -> None:
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        for start in range(0, count, CHUNK):
            rows = _rows(start, min(CHUNK, count - start), t0_ms)
            connection.execute("BEGIN IMMEDIATE")
            for table, columns in _TABLES.items():
                marks = ", ".join("?" * len(columns))
                connection.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                    rows[table],
                )
            connection.execute("COMMIT")
        connection.execute("ANALYZE")
    finally:
        connection.close()


def _fill_postgres(url: str, count: int, t0_ms: int) -> None:
    import psycopg

    with psycopg.connect(url) as connection:
        with connection.cursor() as cursor:
            for start in range(0, count, CHUNK):
                rows = _rows(start, min(CHUNK, count - start), t0_ms)
                for table, columns in _TABLES.items():
                    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                        for row in rows[table]:
                            copy.write_row(row)
                connection.commit()
        connection.autocommit = True
        connection.execute("ANALYZE")


def _centers(store: SqlStore, t0_ms: int) -> None:
    for index in range(CENTERS):
        store.create_center(_center(index), f"مركز {index}", t0_ms)


@contextlib.contextmanager
def _database(backend: str, work: Path) -> Iterator[str]:
    if backend == "postgresql":
        with postgres_schema() as url:
            yield url
    else:
        yield ""


def _plans(store: SqlStore, sample: str) -> dict[str, list[str]]:
    """The database's plan of each statement behind the timed requests."""
    engine = store.engine
    postgres = engine.dialect.name == "postgresql"
    statements = {
        "first page": store.agency_queue_query(AGENCY, limit=51),
        "first page of one center": store.agency_queue_query(
            AGENCY, center_id=_center(42), limit=51
        ),
        "first page of one service": store.agency_queue_query(
            AGENCY, service_code="BLD-PERMIT", limit=51
        ),
    }
    plans: dict[str, list[str]] = {}
    with engine.connect() as connection:
        for name, statement in statements.items():
            sql = str(statement.compile(engine, compile_kwargs={"literal_binds": True}))
            plans[name] = _explain(connection, sql, postgres)
        lock = (
            "SELECT * FROM transactions WHERE transaction_id IN ('{txn}') ORDER BY transaction_id"
        )
        lanes = "SELECT * FROM approvals WHERE transaction_id IN ('{txn}')"
        plans["decision: the transaction's row"] = _explain(
            connection, lock.format(txn=sample) + (" FOR UPDATE" if postgres else ""), postgres
        )
        plans["decision: its lanes"] = _explain(connection, lanes.format(txn=sample), postgres)
    return plans


def _explain(connection: Any, sql: str, postgres: bool) -> list[str]:
    prefix = "EXPLAIN " if postgres else "EXPLAIN QUERY PLAN "
    rows = connection.execute(text(prefix + sql)).fetchall()
    return [str(row[0]) if postgres else str(row[-1]) for row in rows]


def _timed(call: Any, count: int) -> list[float]:
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def _figure(latencies: list[float]) -> dict[str, float]:
    return {
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": max(latencies),
    }


def measure_approvals(backend: str, count: int, requests: int = 200) -> dict[str, Any]:
    """Fill a hub database with ``count`` transactions waiting on one agency and time its
    queue and decisions through a real hub process on it (see the module docstring)."""
    with scratch_dir(f"approvals-{backend}") as work, _database(backend, work) as url:
        hub = HubUnderTest(work / "hub", url)
        database_url = hub.database_url
        store = SqlStore(create_hub_engine(database_url, pool_size=2))
        t0_ms = time.time_ns() // 1_000_000 - count * 50 - 86_400_000
        filled = time.perf_counter()
        _centers(store, t0_ms)
        if backend == "postgresql":
            _fill_postgres(url, count, t0_ms)
        else:
            _fill_sqlite(Path(database_url.removeprefix("sqlite:///")), count, t0_ms)
        fill_seconds = time.perf_counter() - filled
        token = new_api_token()
        store.create_api_token(
            hash_secret(token), "agency", "bench-desk", t0_ms, agency_code=AGENCY
        )
        hub.start()
        try:
            with httpx.Client(
                base_url=hub.url, headers={"authorization": f"Bearer {token}"}, timeout=30
            ) as client:
                figures = _measure(client, requests)
            plans = _plans(store, figures.pop("sample"))
        finally:
            hub.stop()
            store.engine.dispose()
    return {
        "backend": backend,
        "transactions_waiting": count,
        "centers": CENTERS,
        "agency": AGENCY,
        "fill_seconds": fill_seconds,
        "requests": requests,
        **figures,
        "plans": plans,
        "target_ms": TARGET_MS,
    }


def _measure(client: httpx.Client, requests: int) -> dict[str, Any]:
    def get(path: str, **params: str | int) -> httpx.Response:
        response = client.get(path, params=params)
        response.raise_for_status()
        return response

    get("/v1/agency/queue", limit=50)  # warm-up: connections, caches
    limit = _timed(lambda: get("/livez"), requests)
    first_page = _timed(lambda: get("/v1/agency/queue", limit=50), requests)
    by_center = _timed(lambda: get("/v1/agency/queue", limit=50, center=_center(42)), requests)
    by_service = _timed(lambda: get("/v1/agency/queue", limit=50, service="BLD-PERMIT"), requests)
    oldest: list[str] = []
    after = None
    while len(oldest) < requests:
        page = get("/v1/agency/queue", limit=200, **({"after": after} if after else {})).json()
        oldest += [item["transaction_id"] for item in page["transactions"]]
        after = page["next"]
    decided = iter(oldest[:requests])

    def decide() -> None:
        txn = next(decided)
        response = client.post(
            f"/v1/agency/transactions/{txn}/decisions",
            json={"decision": "approved"},
            headers={"idempotency-key": f"bench-{txn}"},
        )
        response.raise_for_status()

    decisions = _timed(decide, requests)
    return {
        "limit_livez": _figure(limit),
        "first_page": _figure(first_page),
        "first_page_by_center": _figure(by_center),
        "first_page_by_service": _figure(by_service),
        "decision": _figure(decisions),
        "sample": oldest[-1],
    }
