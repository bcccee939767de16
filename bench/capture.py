"""Edge capture: ``record_transaction`` through the real write path (validation, PII
encryption, event + outbox + projection in one ``synchronous=FULL`` transaction), against
a bare sqlite3 insert of the same event row, one transaction each, same pragmas, same run.

Both sides write to files on the same disk, so the fsync each commit pays is in both; the
ratio is what the write path costs on top of the one durable insert it cannot avoid.
"""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
import time
from pathlib import Path
from typing import Any, Final

from bench._support import HubUnderTest, enrolled_edge, percentile, scratch_dir
from demo.people import CENTER_GOVERNORATES, random_citizen
from edge_node.capture import record_transaction
from edge_node.catalog import current_catalog
from edge_node.node import EdgeNode
from edge_node.store import PRAGMAS
from edge_node.sync import sync_round

__all__ = ["measure_capture"]

CENTER: Final = "arish"
WARM_UP: Final = 20


def _enrolled_with_catalog(work: Path) -> EdgeNode:
    """An edge enrolled with a real hub that has synced once (it holds the catalog)."""
    hub = HubUnderTest(work / "hub")
    hub.start()
    try:
        node = enrolled_edge(work / "edge", hub, CENTER, hub.url)
        transport = node.transport()
        try:
            sync_round(node.store, node.identity, transport, node.pii, data_dir=str(work / "edge"))
        finally:
            transport.close()
    finally:
        hub.stop()
    return node


def _summary(latencies: list[float]) -> dict[str, Any]:
    total = sum(latencies)
    return {
        "records": len(latencies),
        "records_per_second": len(latencies) / total,
        "p50_ms": percentile(latencies, 0.5) * 1e3,
        "p99_ms": percentile(latencies, 0.99) * 1e3,
        "max_ms": max(latencies) * 1e3,
    }


def measure_capture(count: int, *, seed: int = 2026) -> dict[str, Any]:
    """Time ``count`` calls of ``record_transaction`` one by one, each followed by a bare
    insert of the very events row it wrote. Alternating the two, rather than running one
    series after the other, gives both the same moments of a machine whose speed drifts
    (a shared VM's does, by 10% and more within minutes)."""
    with scratch_dir("capture") as work:
        node = _enrolled_with_catalog(work)
        try:
            connection = node.store.connection
            catalog = current_catalog(connection)
            assert catalog is not None
            services = [s.code for s in catalog.services if s.active]
            rng = random.Random(seed)
            today = dt.datetime.now(dt.UTC).date()
            inputs = [
                (rng.choice(services), random_citizen(rng, today, CENTER_GOVERNORATES[CENTER]))
                for _ in range(count + WARM_UP)
            ]
            schema = [
                sql
                for (sql,) in connection.execute(
                    "SELECT sql FROM sqlite_master WHERE tbl_name = 'events' AND sql NOT NULL"
                )
            ]
            context = node.capture_context
            latencies: list[float] = []
            with _BareInserts(work / "bare.db", schema) as bare:
                for index, (service, citizen) in enumerate(inputs):
                    now_ms = time.time_ns() // 1_000_000
                    started = time.perf_counter()
                    record_transaction(
                        node.store,
                        context,
                        service_code=service,
                        national_id=citizen.national_id,
                        citizen_name=citizen.name,
                        staff_id="s-0007",
                        now_ms=now_ms,
                    )
                    elapsed = time.perf_counter() - started
                    row = connection.execute(
                        "SELECT * FROM events ORDER BY rowid DESC LIMIT 1"
                    ).fetchone()
                    bare.insert(row, timed=index >= WARM_UP)
                    if index >= WARM_UP:
                        latencies.append(elapsed)
        finally:
            node.close()
    real = _summary(latencies)
    limit = _summary(bare.latencies)
    return {
        "records": count,
        "record": real,
        "limit": limit
        | {"method": "one INSERT of the same events row per transaction, alternating"},
        "of_limit": real["records_per_second"] / limit["records_per_second"],
    }


class _BareInserts:
    """The limit: one ``INSERT`` of an events row per transaction, in a database of its
    own with the events table's schema and the edge's pragmas."""

    def __init__(self, path: Path, schema: list[str]) -> None:
        self.latencies: list[float] = []
        self._connection = sqlite3.connect(path, isolation_level=None)
        for pragma in PRAGMAS:
            self._connection.execute(f"PRAGMA {pragma}")
        for statement in schema:
            self._connection.execute(statement)
        self._insert = ""

    def __enter__(self) -> _BareInserts:
        return self

    def __exit__(self, *_: object) -> None:
        self._connection.close()

    def insert(self, row: tuple[Any, ...], *, timed: bool) -> None:
        if not self._insert:
            self._insert = f"INSERT INTO events VALUES ({', '.join('?' * len(row))})"
        started = time.perf_counter()
        self._connection.execute("BEGIN IMMEDIATE")
        self._connection.execute(self._insert, row)
        self._connection.execute("COMMIT")
        if timed:
            self.latencies.append(time.perf_counter() - started)
