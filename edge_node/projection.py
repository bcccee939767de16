"""The per-transaction projection staff see: each transaction's overall status, its center
lane (``transactions``) and one row per agency lane that has an event (``approvals``),
kept equal to the protocol's state function (``sync_protocol.state``) whatever order and
however often the events arrive.

The projection of a transaction is its :class:`~sync_protocol.state.Summary` as columns
and rows: an event is applied by loading the summary, folding the event's wire form in
(``fold_wire``, commutative and idempotent) and writing back what changed. The one
exception is the capture of a new transaction, the hot path: its status follows from its
``required_agencies`` alone, so it is a single insert with no read.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Mapping
from typing import Any

from edge_node.pii import PiiCipher
from sync_protocol import Catalog, Record, SyncError, TransactionCreated, decode_json, parse_catalog
from sync_protocol.state import (
    CENTER_PRECEDENCE,
    Lane,
    Summary,
    center_status_of,
    event_key,
    fold_wire,
    key_hlc,
    overall_status,
)

__all__ = [
    "OwnerOf",
    "apply_to_projection",
    "decode_required",
    "encode_required",
    "legacy_owner",
    "load_summary",
    "newest_owner_of",
    "projection_columns",
    "write_summary",
]

log = logging.getLogger(__name__)

# The agency that owns a service (``Catalog.owner_of``): it decides a transaction of the
# previous release, whose record lists no approvals.
OwnerOf = Callable[[str], str | None]


def encode_required(required: tuple[str, ...] | None) -> str | None:
    """``required_agencies`` as stored: NULL for the previous release's form (or while the
    opening event is not here), '' for none, else the sorted codes joined by commas
    (agency codes are slugs: no commas)."""
    return None if required is None else ",".join(required)


def decode_required(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    return tuple(text.split(",")) if text else ()


def _implied_latest(center_key: str, lanes: Mapping[str, Lane]) -> str:
    """The latest stamp among the keys held: what ``latest_hlc`` is when it is NULL."""
    stamps = [lane.hlc for lane in lanes.values()]
    if center_key:
        stamps.append(key_hlc(center_key))
    return max(stamps, default="")


def projection_columns(
    summary: Summary, owner_of: OwnerOf | None
) -> tuple[str, str, str | None, str | None]:
    """``(status, status_key, required_agencies, latest_hlc)`` of ``summary`` as stored.

    ``latest_hlc`` is NULL when no event is later than the stamps in the keys held (a new
    transaction's row carries none: the capture row stays as short as it was)."""
    status = overall_status(summary, legacy_owner(summary, owner_of))
    implied = _implied_latest(summary.center_key, summary.lanes)
    latest = summary.latest_hlc if summary.latest_hlc > implied else None
    return status, summary.center_key, encode_required(summary.required), latest


def legacy_owner(summary: Summary, owner_of: OwnerOf | None) -> str | None:
    """The agency deciding a previous-release transaction (None for any other: not read)."""
    if summary.required is not None or summary.service_code is None or owner_of is None:
        return None
    return owner_of(summary.service_code)


_LOAD = """
    SELECT t.service_code, t.recorded_at_ms, t.required_agencies, t.status_key, t.latest_hlc,
           a.agency_code, a.lane_key, a.outcome, a.at_ms
    FROM transactions t LEFT JOIN approvals a USING (transaction_id)
    WHERE t.transaction_id = ?
"""


def load_summary(connection: sqlite3.Connection, transaction_id: str) -> Summary | None:
    """The summary the projection holds for ``transaction_id``; None if it has no row.
    (``center_at_ms`` is not kept: nothing the state depends on.)"""
    rows = connection.execute(_LOAD, (transaction_id,)).fetchall()
    if not rows:
        return None
    service, recorded, required, center_key, latest = rows[0][:5]
    lanes = {
        agency: Lane(key, outcome, at_ms)
        for *_, agency, key, outcome, at_ms in rows
        if agency is not None
    }
    implied = _implied_latest(center_key, lanes)
    return Summary(
        service_code=service,
        recorded_at_ms=recorded,
        required=decode_required(required),
        center_key=center_key,
        center_status=center_status_of(center_key),
        lanes=lanes,
        latest_hlc=max(latest or "", implied),
    )


_UPSERT_TRANSACTION = """
    INSERT INTO transactions (transaction_id, service_code, fee_piasters, national_id_index,
        status, status_key, recorded_at_ms, updated_at_ms, required_agencies, latest_hlc)
    VALUES (:txn, :service, :fee, :nid_index, :status, :key, :recorded, :now, :required,
        :latest)
    ON CONFLICT(transaction_id) DO UPDATE SET
        service_code = excluded.service_code,
        fee_piasters = coalesce(excluded.fee_piasters, fee_piasters),
        national_id_index = coalesce(excluded.national_id_index, national_id_index),
        status = excluded.status,
        status_key = excluded.status_key,
        recorded_at_ms = excluded.recorded_at_ms,
        updated_at_ms = CASE WHEN :changed THEN excluded.updated_at_ms ELSE updated_at_ms END,
        required_agencies = excluded.required_agencies,
        latest_hlc = excluded.latest_hlc
"""

_UPSERT_LANE = """
    INSERT INTO approvals (transaction_id, agency_code, lane_key, outcome, at_ms)
    VALUES (?, ?, ?, ?, ?)
    ON CONFLICT(transaction_id, agency_code) DO UPDATE SET
        lane_key = excluded.lane_key, outcome = excluded.outcome, at_ms = excluded.at_ms
"""


def write_summary(
    connection: sqlite3.Connection,
    transaction_id: str,
    before: Summary,
    after: Summary,
    *,
    owner_of: OwnerOf | None,
    now_ms: int,
    opening: Mapping[str, Any] | None = None,
) -> None:
    """Store ``after`` over ``before`` (what the projection held): the row, and the lanes
    that changed. ``opening``: the fee and blind index of a ``transaction.created``."""
    status, key, required, latest = projection_columns(after, owner_of)
    changed = (after.center_key, after.lanes, after.required, after.recorded_at_ms) != (
        before.center_key,
        before.lanes,
        before.required,
        before.recorded_at_ms,
    )
    connection.execute(
        _UPSERT_TRANSACTION,
        {
            "txn": transaction_id,
            "service": after.service_code,
            "fee": None if opening is None else opening["fee"],
            "nid_index": None if opening is None else opening["nid_index"],
            "status": status,
            "key": key,
            "recorded": after.recorded_at_ms,
            "now": now_ms,
            "required": required,
            "latest": latest,
            "changed": changed,
        },
    )
    lanes = [
        (transaction_id, agency, lane.key, lane.outcome, lane.at_ms)
        for agency, lane in after.lanes.items()
        if before.lanes.get(agency) != lane
    ]
    if lanes:
        connection.executemany(_UPSERT_LANE, lanes)


# A new transaction, captured: one statement. Its status needs no read (no approval
# needed: created; else every lane is pending: in_review) and its latest stamp is its
# key's (latest_hlc NULL). DO NOTHING: if later events of it arrived first (possible only
# for a transaction that did not open here), the fold below takes over.
_INSERT_CREATED = """
    INSERT INTO transactions (transaction_id, status, status_key, updated_at_ms,
        service_code, fee_piasters, national_id_index, recorded_at_ms, required_agencies)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT(transaction_id) DO NOTHING
"""


def apply_to_projection(
    connection: sqlite3.Connection,
    pii: PiiCipher,
    record: Record,
    wire: dict[str, Any],
    now_ms: int,
    *,
    summary: Summary | None = None,
    owner_of: OwnerOf | None = None,
) -> None:
    """Fold ``record`` (``wire`` its ``record_to_dict``) into the projection inside the
    caller's transaction. ``summary``: what the projection holds for its transaction, if
    the caller loaded it already. ``owner_of``: the catalog's service owners (default: the
    newest catalog in the file, parsed here; read only for a previous-release
    transaction)."""
    txn: str = wire["transaction_id"]
    opening = None
    if isinstance(record, TransactionCreated):
        opening = {"fee": record.fee_piasters, "nid_index": pii.blind_index(record.national_id)}
        if summary is None:
            required = record.required_agencies
            inserted = connection.execute(
                _INSERT_CREATED,
                (
                    txn,
                    "created" if required == () else "in_review",
                    event_key(CENTER_PRECEDENCE["created"], wire["hlc"], wire["event_id"]),
                    now_ms,
                    record.service_code,
                    record.fee_piasters,
                    opening["nid_index"],
                    record.recorded_at_ms,
                    encode_required(required),
                ),
            )
            if inserted.rowcount == 1:
                return
    before = summary if summary is not None else load_summary(connection, txn) or Summary()
    after = fold_wire(before, wire)
    if after == before:
        return
    write_summary(
        connection,
        txn,
        before,
        after,
        owner_of=owner_of or newest_owner_of(connection),
        now_ms=now_ms,
        opening=opening,
    )


def newest_owner_of(connection: sqlite3.Connection) -> OwnerOf:
    """``owner_of`` of the newest catalog in the file, parsed on first use only. With no
    catalog, or one that does not parse (logged), no service has an owner: the legacy
    lane then decides alone, as ``sync_protocol.state`` does without one."""
    parsed: list[Catalog | None] = []

    def owner_of(service_code: str) -> str | None:
        if not parsed:
            parsed.append(_newest_catalog(connection))
        return None if parsed[0] is None else parsed[0].owner_of(service_code)

    return owner_of


def _newest_catalog(connection: sqlite3.Connection) -> Catalog | None:
    row = connection.execute("SELECT body FROM catalog ORDER BY version DESC LIMIT 1").fetchone()
    if row is None:
        return None
    try:
        return parse_catalog(decode_json(row[0].encode("utf-8")))
    except SyncError:
        log.warning("the installed catalog does not parse; legacy transactions keep no owner")
        return None
