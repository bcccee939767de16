"""Real ``edge-node`` processes for end-to-end tests, and a reader of the hub's tables."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from edge_node.faults import CRASH_ENV
from tests.integration.processes import HubProcess

__all__ = ["EdgeCli", "HubView", "enrolled_edge"]


@dataclass
class EdgeCli:
    """Runs ``python -m edge_node`` against one data dir, as staff or a service would."""

    data_dir: Path

    def env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, "EDGE_DATA_DIR": str(self.data_dir), **extra}

    def run(self, *args: str, crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
        env = self.env()
        env.pop(CRASH_ENV, None)
        if crash_at:
            env[CRASH_ENV] = crash_at
        return subprocess.run(
            [sys.executable, "-m", "edge_node", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=180,
            check=False,
        )

    def ok(self, *args: str) -> str:
        result = self.run(*args)
        assert result.returncode == 0, f"edge-node {args} -> {result.returncode}: {result.stderr}"
        return result.stdout

    def record(self, national_id: str, name: str, service: str = "CIV-BIRTH") -> str:
        return self.ok(
            "record", "--service", service, "--national-id", national_id, "--name", name
        ).strip()

    def status(self) -> dict[str, object]:
        return json.loads(self.ok("status", "--json", "--offline"))

    def show(self, transaction_id: str) -> dict[str, object]:
        return json.loads(self.ok("show", transaction_id, "--json"))

    def spawn_run(self, *args: str) -> subprocess.Popen[bytes]:
        log_path = self.data_dir.parent / f"{self.data_dir.name}-run.log"
        with log_path.open("ab") as log:  # the child keeps its own descriptor
            return subprocess.Popen(
                [sys.executable, "-m", "edge_node", "run", *args],
                stdout=log,
                stderr=log,
                env=self.env(EDGE_LOG_LEVEL="INFO"),
                start_new_session=True,
            )

    def integrity(self) -> str:
        with sqlite3.connect(self.data_dir / "edge.db") as connection:
            return str(connection.execute("PRAGMA integrity_check").fetchone()[0])


def stop_process(process: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM) -> int:
    if process.poll() is None:
        os.killpg(process.pid, sig)
    return process.wait(timeout=20)


def enrolled_edge(hub: HubProcess, base: Path, center: str, name: str) -> EdgeCli:
    """Provision ``center`` at the (running) hub and enroll a fresh node for it."""
    facts = hub.provision_facts(center, name)
    edge = EdgeCli(base / f"edge-{center}")
    edge.ok(
        "enroll",
        facts["token"],
        "--hub",
        hub.url,
        "--hub-fingerprint",
        facts["hub_signing_fingerprint"],
        "--data-dir",
        str(edge.data_dir),
    )
    return edge


class HubView:
    """Read-only look at a SQLite hub's tables, for assertions."""

    def __init__(self, hub: HubProcess) -> None:
        self.path = hub.data_dir / "hub.db"

    def _query(self, sql: str, *params: object) -> list[tuple[object, ...]]:
        connection = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        try:
            return connection.execute(sql, params).fetchall()
        finally:
            connection.close()

    def created_transactions(self, center: str) -> list[str]:
        """Transaction ids of creation events at the hub, one entry per stored event."""
        rows = self._query(
            "SELECT transaction_id FROM events WHERE center_id = ? AND type = ?",
            center,
            "transaction.created",
        )
        return [str(row[0]) for row in rows]

    def fee_total(self, center: str) -> int:
        return int(
            self._query(
                "SELECT coalesce(sum(fee_piasters), 0) FROM transactions WHERE center_id = ?",
                center,
            )[0][0]
        )

    def batch_count(self, center: str) -> int:
        return int(
            self._query(
                "SELECT count(*) FROM batches b JOIN nodes n USING (node_id) WHERE n.center_id = ?",
                center,
            )[0][0]
        )

    def node_status(self, center: str) -> list[str]:
        return [
            str(row[0])
            for row in self._query("SELECT status FROM nodes WHERE center_id = ?", center)
        ]

    def quarantined(self, center: str) -> int:
        return int(
            self._query(
                "SELECT count(*) FROM quarantine q JOIN nodes n USING (node_id) "
                "WHERE n.center_id = ?",
                center,
            )[0][0]
        )
