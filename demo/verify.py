"""The demo's closing checks: every transaction a center recorded is at the hub exactly
once with the same fee, and every agency decision reached its center."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CenterCheck", "check_center", "read_decisions"]

CREATED = "transaction.created"


@dataclass(slots=True)
class CenterCheck:
    center_id: str
    recorded: int = 0
    at_hub: int = 0
    missing: int = 0
    duplicated: int = 0
    unexpected: int = 0
    fees_local: int = 0
    fees_hub: int = 0
    decisions: int = 0
    decisions_missing: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return (
            self.missing == 0
            and self.duplicated == 0
            and self.unexpected == 0
            and self.recorded == self.at_hub
            and self.fees_local == self.fees_hub
            and not self.decisions_missing
        )


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def read_decisions(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def check_center(
    center_id: str, edge_db: Path, hub_db: Path, decisions: list[dict[str, str]]
) -> CenterCheck:
    check = CenterCheck(center_id)
    edge = _read_only(edge_db)
    hub = _read_only(hub_db)
    try:
        local = dict(
            edge.execute(
                "SELECT transaction_id, fee_piasters FROM events "
                "WHERE origin = 'local' AND type = ?",
                (CREATED,),
            ).fetchall()
        )
        hub_rows = hub.execute(
            "SELECT e.transaction_id, t.fee_piasters FROM events e "
            "JOIN transactions t USING (transaction_id) WHERE e.center_id = ? AND e.type = ?",
            (center_id, CREATED),
        ).fetchall()
        at_hub = dict(hub_rows)
        check.recorded, check.at_hub = len(local), len(at_hub)
        check.duplicated = len(hub_rows) - len(at_hub)
        check.missing = len(local.keys() - at_hub.keys())
        check.unexpected = len(at_hub.keys() - local.keys())
        check.fees_local = sum(local.values())
        check.fees_hub = sum(at_hub.values())
        mine = [d for d in decisions if d["center_id"] == center_id]
        check.decisions = len(mine)
        known = {
            row[0]
            for row in edge.execute("SELECT event_id FROM events WHERE origin = 'hub'").fetchall()
        }
        check.decisions_missing = [d["event_id"] for d in mine if d["event_id"] not in known]
    finally:
        edge.close()
        hub.close()
    return check
