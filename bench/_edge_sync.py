"""One sync round in its own process, for the drain benchmarks: prints the round's time,
its report and the process's peak RSS as JSON on stdout.

Run: ``python -m bench._edge_sync DATA_DIR`` (a node enrolled and holding a backlog).
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

from edge_node.node import EdgeNode
from edge_node.sync import sync_round


def _peak_rss_kb() -> int:
    """VmHWM, this process's peak resident set since exec. Not ``ru_maxrss``: Linux
    carries that over exec from the forking parent (the benchmark, holding the records)."""
    with open("/proc/self/status", encoding="utf-8") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def main(argv: list[str]) -> int:
    data_dir = Path(argv[0])
    rss_before_kb = _peak_rss_kb()
    node = EdgeNode.open(data_dir)
    transport = node.transport(timeout_seconds=300)
    started = time.perf_counter()
    try:
        report = sync_round(node.store, node.identity, transport, node.pii, data_dir=str(data_dir))
    finally:
        transport.close()
    seconds = time.perf_counter() - started
    pending = node.store.connection.execute(
        "SELECT (SELECT count(*) FROM outbox) + "
        "(SELECT count(*) FROM batches WHERE acked_at_ms IS NULL)"
    ).fetchone()[0]
    node.close()
    answer = {
        "round_seconds": seconds,
        "report": dataclasses.asdict(report),
        "pending_after": pending,
        "peak_rss_mb": _peak_rss_kb() / 1024,
        "rss_after_imports_mb": rss_before_kb / 1024,
    }
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
