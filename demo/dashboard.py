"""The live terminal table: per center, link state, how much is recorded, pending and
delivered, how many transactions wait on the agencies and how many decisions arrived.
Reads each node's SQLite file read-only, like a monitoring agent would."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

__all__ = ["CenterFigures", "read_figures", "render"]


@dataclass(frozen=True, slots=True)
class CenterFigures:
    center: str
    link: str
    recorded: int
    pending: int
    delivered: int
    decisions: int
    in_review: int
    asked: int
    last_sync_age_s: float | None
    unsynced_fee_piasters: int
    last_error: str | None


_FIGURES = """
SELECT
  count(*) FILTER (WHERE e.type = 'transaction.created'),
  count(*) FILTER (WHERE b.acked_at_ms IS NULL),
  count(*) FILTER (WHERE e.type = 'transaction.created' AND b.acked_at_ms IS NOT NULL),
  coalesce(sum(e.fee_piasters) FILTER (WHERE b.acked_at_ms IS NULL), 0)
FROM events e LEFT JOIN batches b ON b.seq = e.batch_seq
WHERE e.origin = 'local'
"""


def read_figures(center: str, link: str, edge_db: Path) -> CenterFigures:
    connection = sqlite3.connect(f"file:{edge_db}?mode=ro", uri=True, timeout=5)
    try:
        recorded, pending, delivered, unsynced = connection.execute(_FIGURES).fetchone()
        decisions = connection.execute(
            "SELECT count(*) FROM events WHERE origin = 'hub'"
        ).fetchone()[0]
        in_review = connection.execute(
            "SELECT count(*) FROM transactions WHERE status = 'in_review'"
        ).fetchone()[0]
        asked = connection.execute(  # an agency's lane waiting on the center's answer
            "SELECT count(*) FROM approvals a JOIN transactions t USING (transaction_id) "
            "WHERE a.outcome = 'info_requested' AND t.status = 'in_review'"
        ).fetchone()[0]
        state = dict(connection.execute("SELECT key, value FROM state").fetchall())
    finally:
        connection.close()
    last_ok = state.get("last_sync_ok_ms")
    offset = int(state.get("clock_offset_ms", "0"))
    now_hub_ms = time.time() * 1000 + offset
    return CenterFigures(
        center=center,
        link=link,
        recorded=recorded,
        pending=pending,
        delivered=delivered,
        decisions=decisions,
        in_review=in_review,
        asked=asked,
        last_sync_age_s=(now_hub_ms - int(last_ok)) / 1000 if last_ok else None,
        unsynced_fee_piasters=unsynced,
        last_error=state.get("last_error"),
    )


def _link_style(link: str) -> str:
    if link in ("good", "up"):
        return f"[green]{link}[/green]"
    if link in ("DOWN", "blackout"):
        return f"[bold red]{link}[/bold red]"
    return f"[yellow]{link}[/yellow]"


def render(figures: list[CenterFigures], *, title: str, footer: str = "") -> Table:
    table = Table(title=title, caption=footer, expand=False, show_edge=False)
    # "unsent": events not yet acknowledged by the hub (openings, deliveries, answers);
    # "at hub": transactions whose opening the hub acknowledged; "asked": agencies'
    # information requests the center has yet to answer.
    columns = ("center", "link", "recorded", "unsent", "at hub", "in review", "asked", "decisions")
    for column in columns:
        table.add_column(
            column, justify="right" if column not in ("center", "link") else "left", no_wrap=True
        )
    table.add_column("last sync", justify="right", no_wrap=True)
    table.add_column("unsynced EGP", justify="right", no_wrap=True)
    for row in figures:
        age = "never" if row.last_sync_age_s is None else f"{max(0.0, row.last_sync_age_s):.0f}s"
        table.add_row(
            row.center,
            _link_style(row.link),
            str(row.recorded),
            str(row.pending),
            str(row.delivered),
            str(row.in_review),
            str(row.asked),
            str(row.decisions),
            age,
            f"{row.unsynced_fee_piasters / 100:,.2f}",
        )
    return table
