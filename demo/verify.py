"""The demo's closing checks, per center: every transaction it recorded is at the hub
exactly once with the same fee; every agency decision reached it; every transaction's
per-agency decisions and overall status are the same at the center and at the hub; and no
agency decided anything outside its scope."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CenterCheck", "check_center", "read_decisions"]

CREATED = "transaction.created"
DECISION = "transaction.decision"


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
    states_differ: list[str] = field(default_factory=list)  # status or a lane differs
    out_of_scope: list[str] = field(default_factory=list)  # decision events
    # Overall status -> transactions, at the center; decision -> events, at the hub.
    statuses: dict[str, int] = field(default_factory=dict)
    decision_kinds: dict[str, int] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return (
            self.missing == 0
            and self.duplicated == 0
            and self.unexpected == 0
            and self.recorded == self.at_hub
            and self.fees_local == self.fees_hub
            and not self.decisions_missing
            and not self.states_differ
            and not self.out_of_scope
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
        check.states_differ = _differences(edge, hub, center_id)
        check.out_of_scope = _out_of_scope(hub, center_id)
        check.statuses = dict(
            edge.execute("SELECT status, count(*) FROM transactions GROUP BY status").fetchall()
        )
        for (body,) in hub.execute(
            "SELECT body FROM events WHERE center_id = ? AND type = ?", (center_id, DECISION)
        ):
            kind = json.loads(body)["decision"]
            check.decision_kinds[kind] = check.decision_kinds.get(kind, 0) + 1
    finally:
        edge.close()
        hub.close()
    return check


def _differences(edge: sqlite3.Connection, hub: sqlite3.Connection, center_id: str) -> list[str]:
    """Transactions whose overall status, or any agency lane (its deciding event), differ
    between the center and the hub."""
    local = _views(
        edge.execute("SELECT transaction_id, status FROM transactions").fetchall(),
        edge.execute("SELECT transaction_id, agency_code, lane_key FROM approvals").fetchall(),
    )
    central = _views(
        hub.execute(
            "SELECT transaction_id, status FROM transactions WHERE center_id = ?", (center_id,)
        ).fetchall(),
        hub.execute(
            "SELECT transaction_id, agency_code, lane_key FROM approvals "
            "WHERE center_id = ? AND lane_key != ''",
            (center_id,),
        ).fetchall(),
    )
    return sorted(
        txn for txn in local.keys() | central.keys() if local.get(txn) != central.get(txn)
    )


def _views(
    statuses: list[tuple[str, str]], lanes: list[tuple[str, str, str]]
) -> dict[str, tuple[str, frozenset[tuple[str, str]]]]:
    by_txn: dict[str, set[tuple[str, str]]] = {}
    for txn, agency, key in lanes:
        by_txn.setdefault(txn, set()).add((agency, key))
    return {txn: (status, frozenset(by_txn.get(txn, ()))) for txn, status in statuses}


def _out_of_scope(hub: sqlite3.Connection, center_id: str) -> list[str]:
    """Decisions made at the hub for an agency the transaction does not need, or by an
    actor other than that agency's desk (each agency's token is named ``<code>-desk``)."""
    required = dict(
        hub.execute(
            "SELECT transaction_id, required_agencies FROM transactions WHERE center_id = ?",
            (center_id,),
        ).fetchall()
    )
    wrong = []
    for event_id, transaction_id, body in hub.execute(
        "SELECT event_id, transaction_id, body FROM events "
        "WHERE center_id = ? AND type = ? AND batch_node_id IS NULL",
        (center_id, DECISION),
    ):
        record = json.loads(body)
        agencies = (required.get(transaction_id) or "").split(",")
        if record["agency_code"] not in agencies or record["actor_id"] != (
            f"{record['agency_code']}-desk"
        ):
            wrong.append(event_id)
    return wrong
