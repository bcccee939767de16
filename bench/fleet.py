"""Fleet: many edges pushing sealed batches at once to one hub on PostgreSQL with several
workers, each edge a client thread with its own enrolled keys, its own hash chain and its
own keep-alive connection, answering 429/503 by waiting ``Retry-After`` as nodes do.

Batches are sealed before the clock starts (sealing is the edge's work, measured by
``bench.seal_open``); every receipt is verified. Figures: aggregate records/s, latency of
the request that got the receipt (p50/p99) and of the whole batch including its waits,
the count of 429/503 answers and how they spread over the edges, and every other error.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from bench._support import HubUnderTest, percentile, postgres_schema, scratch_dir
from bench.seal_open import build_batches
from edge_node.errors import HubBusy
from edge_node.identity import NodeIdentity, load_identity
from edge_node.node import enroll_node
from edge_node.transport import HttpTransport
from sync_protocol import GENESIS_HASH, seal_batch
from sync_protocol.envelope import SIGNATURE_BYTES
from sync_protocol.receipt import verify_receipt

__all__ = ["measure_fleet"]

MAX_BACKOFF_SECONDS: Final = 2.0


@dataclass(slots=True)
class _Edge:
    identity: NodeIdentity
    envelopes: list[tuple[int, bytes, bytes]]  # (seq, envelope, batch hash)
    request_seconds: list[float] = field(default_factory=list)
    batch_seconds: list[float] = field(default_factory=list)
    busy_answers: int = 0
    errors: list[str] = field(default_factory=list)
    records: int = 0


def _prepare(work: Path, hub: HubUnderTest, index: int, batches: int, size: int) -> _Edge:
    data_dir = work / f"edge-{index:03d}"
    data_dir.mkdir(parents=True)
    center = f"center-{index:03d}"
    enroll_node(data_dir, hub.provision(center), hub.url, hub_fingerprint=None)
    identity = load_identity(data_dir)
    prev_hash = GENESIS_HASH
    envelopes: list[tuple[int, bytes, bytes]] = []
    for seq, batch in enumerate(
        build_batches(batches, size, index, node_id=identity.node_id, center_id=center), 1
    ):
        envelope = seal_batch(
            batch,
            node_id=identity.node_id,
            seq=seq,
            prev_hash=prev_hash,
            created_at_ms=batch[-1].recorded_at_ms,
            signing_key=identity.keys.signing_key,
            hub_key=identity.hub_sealing_key,
        )
        prev_hash = hashlib.sha256(envelope[:-SIGNATURE_BYTES]).digest()
        envelopes.append((seq, envelope, prev_hash))
    return _Edge(identity, envelopes)


def _push_all(edge: _Edge, hub_url: str, start: threading.Barrier) -> None:
    identity = edge.identity
    transport = HttpTransport(
        hub_url, node_id=identity.node_id, signing_key=identity.keys.signing_key
    )
    try:
        start.wait()
        for seq, envelope, batch_hash in edge.envelopes:
            batch_started = time.perf_counter()
            while True:
                request_started = time.perf_counter()
                try:
                    receipt_bytes = transport.push_batch(envelope)
                except HubBusy as busy:
                    edge.busy_answers += 1
                    time.sleep(min(MAX_BACKOFF_SECONDS, busy.retry_after_seconds or 0.5))
                    continue
                except Exception as error:  # counted and shown, never hidden
                    edge.errors.append(f"seq {seq}: {type(error).__name__}: {error}")
                    return
                break
            done = time.perf_counter()
            receipt = verify_receipt(
                receipt_bytes,
                identity.hub_verify_key,
                node_id=identity.node_id,
                seq=seq,
                batch_hash=batch_hash,
            )
            edge.records += receipt.records_accepted + receipt.records_known
            edge.request_seconds.append(done - request_started)
            edge.batch_seconds.append(done - batch_started)
    finally:
        transport.close()


def measure_fleet(
    edges: int, batches_per_edge: int, records_per_batch: int, *, workers: int = 2
) -> dict[str, Any]:
    """``edges`` clients push ``batches_per_edge`` batches each, all starting together."""
    with scratch_dir("fleet") as work, postgres_schema() as db_url:
        hub = HubUnderTest(work / "hub", db_url, workers=workers)
        hub.start()
        try:
            fleet = [
                _prepare(work, hub, index, batches_per_edge, records_per_batch)
                for index in range(edges)
            ]
            start = threading.Barrier(edges + 1)
            threads = [
                threading.Thread(target=_push_all, args=(edge, hub.url, start), daemon=True)
                for edge in fleet
            ]
            for thread in threads:
                thread.start()
            start.wait()
            started = time.perf_counter()
            for thread in threads:
                thread.join()
            seconds = time.perf_counter() - started
            hub_rss_mb = hub.peak_rss_mb()
            stored = hub.count_events()
        finally:
            hub.stop()
    requests = [s for edge in fleet for s in edge.request_seconds]
    whole = [s for edge in fleet for s in edge.batch_seconds]
    records = sum(edge.records for edge in fleet)
    errors = [error for edge in fleet for error in edge.errors]
    return {
        "edges": edges,
        "workers": workers,
        "batches_per_edge": batches_per_edge,
        "records_per_batch": records_per_batch,
        "records": records,
        "stored_at_hub": stored,
        "seconds": seconds,
        "records_per_second": records / seconds,
        "request_p50_s": percentile(requests, 0.5),
        "request_p99_s": percentile(requests, 0.99),
        "batch_p50_s": percentile(whole, 0.5),
        "batch_p99_s": percentile(whole, 0.99),
        "busy_answers": sum(edge.busy_answers for edge in fleet),
        # Fairness: how the 503s spread over the fleet, and the worst batch any edge saw.
        "busy_answers_most_to_one_edge": max((edge.busy_answers for edge in fleet), default=0),
        "edges_turned_away": sum(1 for edge in fleet if edge.busy_answers),
        "batch_max_s": max(whole, default=0.0),
        "errors": len(errors),
        "error_samples": errors[:5],
        "hub_peak_rss_mb": hub_rss_mb,
    }
