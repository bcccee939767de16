"""Backlog drain: a backlog recorded offline at one edge, then one sync round to a real hub
process over 127.0.0.1, against the hub database's fastest bulk insert of the same rows.

Per run: end-to-end records/s of the round (seal + push + pull + heartbeat, timed inside
the edge process), bytes on the wire both ways counted by a pass-through TCP proxy (HTTP
headers included, TCP/IP framing not), peak RSS of the edge process and of the hub, and
the limit: the same event and projection rows (transactions and their approval lanes)
inserted straight into a fresh hub database (``executemany`` in one transaction on SQLite,
``COPY`` on PostgreSQL).

The same machinery drives the slow-link run (:func:`measure_drain` with a link profile).
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final

from bench._support import (
    HubUnderTest,
    backlog_start_ms,
    enrolled_edge,
    fill_backlog,
    fresh_hub_database,
    postgres_schema,
    run_edge_sync,
    scratch_dir,
    seal_offline,
)
from bench.seal_open import build_batches
from central_hub.storage import schema
from central_hub.storage.projection import transaction_rows
from central_hub.storage.rows import event_row, group_by_transaction, wire_form
from demo.fault_proxy import LinkProfile, ProxyThread
from edge_node.sync import sync_round
from sync_protocol import Record, encode_records

__all__ = ["SLOW_LINK", "bulk_insert_limit", "measure_drain", "measure_slow_link", "records_for"]

CENTER: Final = "arish"
EVENT_COLUMNS: Final = tuple(column.name for column in schema.events.c)
TRANSACTION_COLUMNS: Final = tuple(column.name for column in schema.transactions.c)
APPROVAL_COLUMNS: Final = tuple(column.name for column in schema.approvals.c)


LIMIT_RUNS: Final = 3  # bulk-insert runs; the best one is the limit


def records_for(node_id: Any, center_id: str, count: int, seed: int) -> list[Record]:
    """``count`` realistic records of one center (~20% status changes), in HLC order."""
    return build_batches(
        1, count, seed, node_id=node_id, center_id=center_id, start_ms=backlog_start_ms(count)
    )[0]


@contextlib.contextmanager
def _database(backend: str) -> Iterator[str]:
    if backend == "postgresql":
        with postgres_schema() as url:
            yield url
    else:
        yield ""


def measure_drain(
    backend: str,
    count: int,
    *,
    seed: int = 2026,
    link: LinkProfile | None = None,
    with_limit: bool = True,
    runs: int = 1,
    sealed_offline: bool = True,
) -> dict[str, Any]:
    """Record ``count`` events offline at a fresh edge, then time one sync round to a
    fresh hub on ``backend`` ("sqlite" or "postgresql") through a proxy playing ``link``
    (a perfect link by default).

    ``sealed_offline``: the backlog is first sealed as ``edge-node run`` seals it during
    the outage (full batches; untimed, its rate reported), so the round pushes sealed
    batches and seals only the partial rest. Without it the round seals everything
    while pushing, as ``edge-node sync --once`` does on an unsealed outbox.

    With ``runs`` > 1 the whole drain is repeated, each time with a fresh edge and hub,
    and the fastest round is the figure: the same rule as the bulk limit's, so that noise
    on a shared machine weighs on neither side of the ratio. Each run's bulk insert runs
    right after its drain (the rest of the limit's ``LIMIT_RUNS`` after the last), so the
    two sides are measured at the same moments of a machine whose speed drifts."""
    figures: dict[str, Any] | None = None
    rates: list[float] = []
    timings: list[float] = []  # of the bulk inserts, the first after each drain
    for run in range(runs):
        done, records = _drain_once(backend, count, seed, link, sealed_offline)
        rates.append(done["records_per_second"])
        if figures is None or done["round_seconds"] < figures["round_seconds"]:
            figures = done
        if with_limit:
            # After the last drain, the rest of the limit's runs, on the same rows.
            limit_runs = 1 if run < runs - 1 else max(1, LIMIT_RUNS - run)
            with scratch_dir("limit") as work:
                limit = bulk_insert_limit(backend, records, work, runs=limit_runs)
            timings += limit["runs_seconds"]
    assert figures is not None
    figures["sealed_offline"] = sealed_offline
    figures["runs_records_per_second"] = rates
    if with_limit:
        figures["limit"] = {
            "method": f"{limit['method']}; best of {len(timings)}, alongside the drains",
            "seconds": min(timings),
            "runs_seconds": timings,
            "records_per_second": count / min(timings),
        }
        figures["of_limit"] = figures["records_per_second"] / figures["limit"]["records_per_second"]
        # Each drain against the bulk insert measured right after it.
        figures["runs_of_limit"] = [
            rate * seconds / count for rate, seconds in zip(rates, timings, strict=False)
        ]
    return figures


def _drain_once(
    backend: str, count: int, seed: int, link: LinkProfile | None, sealed_offline: bool
) -> tuple[dict[str, Any], list[Record]]:
    with scratch_dir("drain") as work, _database(backend) as db_url:
        hub = HubUnderTest(work / "hub", db_url)
        hub.start()
        proxy = ProxyThread("127.0.0.1", hub.port)
        proxy.start()
        try:
            node = enrolled_edge(work / "edge", hub, CENTER, f"http://127.0.0.1:{proxy.port}")
            identity = node.identity
            transport = node.transport()  # first round: the catalog, nothing to send
            try:
                sync_round(node.store, identity, transport, node.pii, data_dir=str(work / "edge"))
            finally:
                transport.close()
            records = records_for(identity.node_id, identity.center_id, count, seed)
            fill_backlog(node, records)
            sealing = time.perf_counter()
            records_sealed_offline = seal_offline(node) if sealed_offline else 0
            sealing = time.perf_counter() - sealing
            node.close()
            if link is not None:
                proxy.set_profile(link)
            before = proxy.stats()
            edge = run_edge_sync(work / "edge")
            after = proxy.stats()
            hub_rss_mb = hub.peak_rss_mb()
            stored = hub.count_events()
        finally:
            proxy.stop()
            hub.stop()
        raw_bytes = len(encode_records(records))
        bytes_up = after["bytes_up"] - before["bytes_up"]
        bytes_down = after["bytes_down"] - before["bytes_down"]
        seconds = edge["round_seconds"]
        figures: dict[str, Any] = {
            "backend": backend,
            "records": count,
            "stored_at_hub": stored,
            "batches": len(edge["report"]["acknowledged"]),
            "records_sealed_offline": records_sealed_offline,
            "offline_seal_records_per_second": (
                records_sealed_offline / sealing if records_sealed_offline else None
            ),
            "round_seconds": seconds,
            "edge_process_seconds": edge["process_seconds"],
            "records_per_second": count / seconds,
            "bytes_up": bytes_up,
            "bytes_down": bytes_down,
            "raw_json_bytes": raw_bytes,
            "raw_json_per_record": raw_bytes / count,
            "wire_per_record": (bytes_up + bytes_down) / count,
            "wire_over_raw": (bytes_up + bytes_down) / raw_bytes,
            "edge_peak_rss_mb": edge["peak_rss_mb"],
            "edge_rss_after_imports_mb": edge["rss_after_imports_mb"],
            "hub_peak_rss_mb": hub_rss_mb,
            "connections": after["connections_accepted"] - before["connections_accepted"],
        }
        if link is not None:
            figures["link"] = {
                "latency_ms_each_way": link.latency_ms,
                "rate_bytes_per_s": link.rate_bytes_per_s,
            }
        return figures, records


_Rows = list[tuple[Any, ...]]


def _no_owner(_service_code: str | None) -> None:
    return None


def _hub_rows(records: Sequence[Record], node_id: str, now_ms: int) -> tuple[_Rows, _Rows, _Rows]:
    """The event, transaction and approval rows the hub's ingest would store for
    ``records`` (built by the hub's own row builders, batches of 1,000)."""
    forms = [wire_form(record) for record in records]
    rows = [
        event_row(wire, body, now_ms, batch_node_id=node_id, batch_seq=index // 1000 + 1)
        for index, (wire, body) in enumerate(forms)
    ]
    events = [tuple(row[c] for c in EVENT_COLUMNS) for row in rows]
    transactions: _Rows = []
    approvals: _Rows = []
    for txn, items in group_by_transaction(wire for wire, _ in forms).items():
        # Every record is of this release: no owner is consulted.
        row, lanes = transaction_rows(txn, items, None, owner_of=_no_owner, now_ms=now_ms)
        transactions.append(tuple(row[c] for c in TRANSACTION_COLUMNS))
        approvals += [tuple(lane[c] for c in APPROVAL_COLUMNS) for lane in lanes]
    return events, transactions, approvals


def bulk_insert_limit(
    backend: str, records: Sequence[Record], work: Path, *, runs: int = LIMIT_RUNS
) -> dict[str, Any]:
    """Seconds to insert the hub's rows for ``records`` into a fresh, migrated hub
    database by the fastest bulk path, best of ``runs`` (each into a fresh database);
    rows are built before the clock starts. The best run is the limit: the drain is
    compared with the fastest the database managed, not with a slow moment."""
    node_id = str(records[0].hlc.node_id)
    tables = _hub_rows(records, node_id, time.time_ns() // 1_000_000)
    timings = []
    for run in range(runs):
        if backend == "postgresql":
            with postgres_schema() as url:
                fresh_hub_database(url)
                timings.append(_copy_postgres(url, *tables))
            method = "COPY events, transactions, approvals; one transaction"
        else:
            path = work / f"limit-{run}.db"
            fresh_hub_database(f"sqlite:///{path}")
            timings.append(_executemany_sqlite(path, *tables))
            method = (
                "executemany events, transactions, approvals; one transaction, WAL, "
                "synchronous=FULL"
            )
    seconds = min(timings)
    return {
        "method": method,
        "runs": runs,
        "seconds": seconds,
        "runs_seconds": timings,
        "records_per_second": len(records) / seconds,
    }


def _executemany_sqlite(path: Path, events: _Rows, transactions: _Rows, approvals: _Rows) -> float:
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON"):
            connection.execute(f"PRAGMA {pragma}")
        started = time.perf_counter()
        connection.execute("BEGIN IMMEDIATE")
        for table, columns, rows in (
            ("events", EVENT_COLUMNS, events),
            ("transactions", TRANSACTION_COLUMNS, transactions),
            ("approvals", APPROVAL_COLUMNS, approvals),
        ):
            connection.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' * len(columns))})",
                rows,
            )
        connection.execute("COMMIT")
        return time.perf_counter() - started
    finally:
        connection.close()


def _copy_postgres(url: str, events: _Rows, transactions: _Rows, approvals: _Rows) -> float:
    import psycopg

    with psycopg.connect(url) as connection:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            for table, columns, rows in (
                ("events", EVENT_COLUMNS, events),
                ("transactions", TRANSACTION_COLUMNS, transactions),
                ("approvals", APPROVAL_COLUMNS, approvals),
            ):
                with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        connection.commit()
        return time.perf_counter() - started


SLOW_LINK: Final = LinkProfile(latency_ms=300, rate_bytes_per_s=32_000)  # 256 kbit/s, 600 ms RTT


def measure_slow_link(count: int, *, link: LinkProfile = SLOW_LINK) -> dict[str, Any]:
    """Drain a ``count`` backlog through the fault proxy playing ``link``; compare the
    time with the ideal: every byte that crossed the link, at the link's rate."""
    figures = measure_drain("sqlite", count, link=link, with_limit=False)
    wire_bytes = figures["bytes_up"] + figures["bytes_down"]
    ideal = wire_bytes / link.rate_bytes_per_s
    figures["ideal_seconds"] = ideal
    figures["link_used"] = ideal / figures["round_seconds"]
    return figures
