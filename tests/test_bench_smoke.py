"""Smoke test of the benchmarks (``bench/``): each measuring function runs at tiny sizes
against real processes, so the benchmarks cannot rot between runs of ``make bench``.
Nothing here asserts on speed: only that every figure is produced and the data arrived."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from rich.console import Console

from bench import seal_open
from bench.__main__ import print_summary, summary_rows
from bench._support import machine, postgres_reachable
from bench.approvals import measure_approvals
from bench.capture import measure_capture
from bench.drain import bulk_insert_limit, measure_drain, measure_slow_link, records_for
from bench.fleet import measure_fleet
from demo.fault_proxy import LinkProfile
from edge_node.sealer import DEFAULT_BATCH_RECORDS

pytestmark = pytest.mark.slow

NODE_ID = uuid.UUID("019b76da-a800-7000-8000-0000000000b2")


def test_every_benchmark_produces_its_figures(tmp_path: Path) -> None:
    postgres_missing = postgres_reachable()
    results: dict[str, object] = {
        "mode": "smoke",
        "sizes": {
            "drain_large": DEFAULT_BATCH_RECORDS + 200,
            "fleet_edges": 2,
            "slow_link_records": 100,
        },
        "machine": machine(),
        "seconds": 0.0,
        "capture": measure_capture(20),
        "seal": seal_open.run(1, 100, 1, 2026),
        # A fast "slow" link: the code path of item 5 without its minutes.
        "slow_link": measure_slow_link(
            100, link=LinkProfile(latency_ms=5, rate_bytes_per_s=2_000_000)
        ),
    }
    # One full batch, sealed offline before the round, and a partial one sealed in it.
    backlog = DEFAULT_BATCH_RECORDS + 200
    drain = measure_drain("sqlite", backlog, runs=2)
    assert drain["stored_at_hub"] == backlog
    # One full batch: the count bound, or the 2 MiB bound (~4,900 of these records).
    assert 0.9 * DEFAULT_BATCH_RECORDS < drain["records_sealed_offline"] <= DEFAULT_BATCH_RECORDS
    # A bulk insert after each drain, and one more to make the limit's best of three.
    assert len(drain["limit"]["runs_seconds"]) == 3 and len(drain["runs_of_limit"]) == 2
    assert len(drain["runs_records_per_second"]) == 2
    assert drain["records_per_second"] == max(drain["runs_records_per_second"])
    assert drain["bytes_up"] > 0 and drain["bytes_down"] > 0
    results["drain"] = {"sqlite_large": drain}
    if postgres_missing is None:
        records = records_for(NODE_ID, "arish", 50, 1)
        limit = bulk_insert_limit("postgresql", records, tmp_path)
        assert limit["records_per_second"] > 0
        fleet = measure_fleet(2, 2, 20)
        assert fleet["errors"] == 0, fleet["error_samples"]
        assert fleet["stored_at_hub"] == fleet["records"] == 80
        results["fleet"] = fleet
    assert results["slow_link"]["stored_at_hub"] == 100  # type: ignore[index]
    queue = measure_approvals("sqlite", 500, 5)
    assert queue["decision"]["p99_ms"] > 0
    assert any("ix_approvals_queue" in line for line in queue["plans"]["first page"])
    results["approvals"] = {"sqlite": queue}

    rows = summary_rows(results)
    assert {row[0] for row in rows if row[0]} >= {"1 capture", "2 seal/open"}
    with (tmp_path / "summary.txt").open("w", encoding="utf-8") as out:
        print_summary(Console(file=out, width=150), results)
    summary = (tmp_path / "summary.txt").read_text(encoding="utf-8")
    assert "Figures against targets" in summary and "agency queue" in summary
