"""The node's SQLite file: schema, migrations, and the one write path everything shares.

Durability: WAL with ``synchronous=FULL``, so a transaction that returned from COMMIT
survives a crash or power cut. Every write is one ``BEGIN IMMEDIATE`` transaction, so the
CLI, the scheduler and (later) the web UI can write to the same file from several
processes without lost updates.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from sqlite_utils import Database, Migrations

from edge_node.projection import newest_owner_of, projection_columns
from sync_protocol import Catalog, HlcStamp
from sync_protocol.state import Summary, fold_wire

__all__ = ["LAST_STAMP_SQL", "PRAGMAS", "Store", "migrations"]

migrations = Migrations("edge_node")


@migrations()
def m001_initial(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE events (
            event_id        TEXT PRIMARY KEY,
            transaction_id  TEXT NOT NULL,
            type            TEXT NOT NULL,
            status          TEXT,
            hlc             TEXT NOT NULL,
            origin          TEXT NOT NULL CHECK (origin IN ('local', 'hub')),
            recorded_at_ms  INTEGER NOT NULL,
            fee_piasters    INTEGER,
            body_ct         BLOB NOT NULL,      -- the record's wire JSON, encrypted
            batch_seq       INTEGER             -- local events: the batch carrying it
        );
        CREATE INDEX events_transaction ON events(transaction_id);
        CREATE INDEX events_batch ON events(batch_seq);

        CREATE TABLE outbox (
            position        INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id        TEXT NOT NULL UNIQUE REFERENCES events(event_id),
            enqueued_at_ms  INTEGER NOT NULL
        );

        CREATE TABLE batches (
            seq             INTEGER PRIMARY KEY,
            prev_hash       BLOB NOT NULL,
            batch_hash      BLOB NOT NULL,
            envelope        BLOB NOT NULL,      -- the exact bytes every retry sends
            record_count    INTEGER NOT NULL,
            fee_piasters    INTEGER NOT NULL,
            sealed_at_ms    INTEGER NOT NULL,
            acked_at_ms     INTEGER,
            receipt         BLOB
        );

        CREATE TABLE transactions (
            transaction_id    TEXT PRIMARY KEY,
            service_code      TEXT,
            fee_piasters      INTEGER,
            national_id_ct    BLOB,
            citizen_name_ct   BLOB,
            national_id_index TEXT,
            status            TEXT NOT NULL,
            status_key        TEXT NOT NULL,
            recorded_at_ms    INTEGER,
            updated_at_ms     INTEGER NOT NULL
        );
        CREATE INDEX transactions_national_id ON transactions(national_id_index);

        CREATE TABLE catalog (
            version         INTEGER PRIMARY KEY,
            body            TEXT NOT NULL
        );

        CREATE TABLE revoked_nodes (node_id TEXT PRIMARY KEY);

        CREATE TABLE state (
            key             TEXT PRIMARY KEY,
            value           TEXT NOT NULL
        );
        """
    )


@migrations()
def m002_fewer_pages_per_capture(db: Database) -> None:
    """Each capture commit writes fewer pages (12 -> 8; a commit's cost grows with them):

    - the outbox's position is a plain rowid (AUTOINCREMENT wrote ``sqlite_sequence`` on
      every insert) and its event id carries no unique index of its own (an event enters
      the outbox once, in the transaction that inserts it under its primary key);
    - ``events_batch`` indexes sealed events only (capture leaves batch_seq NULL; the
      seal sets it for a whole batch at once);
    - the projection is a WITHOUT ROWID table: its primary key is the table, not a
      second b-tree.

    (Capture also stopped writing the ``hlc`` state row; see ``Store.last_stamp``.)

    One statement at a time, inside the migration's transaction: ``executescript`` would
    commit first, and a crash half-way would leave the tables half rebuilt.
    """
    script = """
        CREATE TABLE outbox_new (
            position        INTEGER PRIMARY KEY,
            event_id        TEXT NOT NULL REFERENCES events(event_id),
            enqueued_at_ms  INTEGER NOT NULL
        );
        INSERT INTO outbox_new (position, event_id, enqueued_at_ms)
            SELECT position, event_id, enqueued_at_ms FROM outbox;
        DROP TABLE outbox;
        ALTER TABLE outbox_new RENAME TO outbox;

        DROP INDEX events_batch;
        CREATE INDEX events_batch ON events(batch_seq) WHERE batch_seq IS NOT NULL;

        CREATE TABLE transactions_new (
            transaction_id    TEXT PRIMARY KEY,
            service_code      TEXT,
            fee_piasters      INTEGER,
            national_id_ct    BLOB,
            citizen_name_ct   BLOB,
            national_id_index TEXT,
            status            TEXT NOT NULL,
            status_key        TEXT NOT NULL,
            recorded_at_ms    INTEGER,
            updated_at_ms     INTEGER NOT NULL
        ) WITHOUT ROWID;
        INSERT INTO transactions_new SELECT
            transaction_id, service_code, fee_piasters, national_id_ct, citizen_name_ct,
            national_id_index, status, status_key, recorded_at_ms, updated_at_ms
            FROM transactions;
        DROP TABLE transactions;
        ALTER TABLE transactions_new RENAME TO transactions;
        CREATE INDEX transactions_national_id ON transactions(national_id_index)
    """
    for statement in script.split(";"):
        db.execute(statement)


@migrations()
def m003_citizen_pii_held_once(db: Database) -> None:
    """The projection no longer keeps its own encrypted copy of the national ID and name:
    staff read them from the transaction's opening event, whose encrypted body holds
    them already (``edge_node.lookup``). Each capture seals two values fewer and writes a
    shorter projection row, and the PII at rest is in one place. (SQLite rewrites the
    table for each dropped column, inside the migration's transaction.)"""
    db.execute("ALTER TABLE transactions DROP COLUMN national_id_ct")
    db.execute("ALTER TABLE transactions DROP COLUMN citizen_name_ct")


@migrations()
def m004_one_stop_approvals(db: Database) -> None:
    """One-stop approvals (issue 15): a transaction's state is now its center lane
    (``status_key``: created, cancelled or delivered) and one lane per agency whose
    approval it needs (``approvals``: a row per lane that has an event; a required agency
    without a row is pending). ``required_agencies``: NULL for the previous release's
    transactions, '' for none, else sorted codes joined by commas. ``latest_hlc``: the
    latest stamp of any event, when later than every key's (events on the transaction
    are stamped after it).

    The previous release's rows are recomputed from the events' clear columns (no key is
    needed: bodies stay sealed): its agency statuses (in_review, approved, rejected) go
    to the legacy lane, which the service's owning agency in the newest installed catalog
    decides (``sync_protocol.state``). One statement at a time, inside the migration's
    transaction (see m002)."""
    for statement in (
        "ALTER TABLE transactions ADD COLUMN required_agencies TEXT",
        "ALTER TABLE transactions ADD COLUMN latest_hlc TEXT",
        """CREATE TABLE approvals (
            transaction_id  TEXT,
            agency_code     TEXT,
            lane_key        TEXT NOT NULL,
            outcome         TEXT NOT NULL,
            at_ms           INTEGER NOT NULL,
            PRIMARY KEY (transaction_id, agency_code)
        ) WITHOUT ROWID""",
        # What `edge-node info-requests` reads: few rows, oldest first, the key included.
        "CREATE INDEX approvals_open_requests ON approvals(at_ms) WHERE outcome = 'info_requested'",
    ):
        db.execute(statement)
    _recompute_projection(db.conn)


_CHUNK: Final = 5_000  # transactions written per executemany while migrating


def _recompute_projection(connection: sqlite3.Connection) -> None:
    """Refold every transaction from its events' clear columns (m004), a page of
    transactions at a time: each page is read in full before it is written, so no read
    runs over rows being changed, and memory stays bounded however large the file."""
    owner_of = newest_owner_of(connection)
    after = ""
    while True:
        page = connection.execute(
            "SELECT transaction_id FROM transactions WHERE transaction_id > ? "
            "ORDER BY transaction_id LIMIT ?",
            (after, _CHUNK),
        ).fetchall()
        if not page:
            return
        rows = connection.execute(
            "SELECT e.transaction_id, e.type, e.status, e.hlc, e.event_id, e.recorded_at_ms, "
            "t.service_code FROM events e JOIN transactions t USING (transaction_id) "
            "WHERE e.transaction_id BETWEEN ? AND ? ORDER BY e.transaction_id",
            (page[0][0], page[-1][0]),
        ).fetchall()
        updates: list[tuple[Any, ...]] = []
        lanes: list[tuple[Any, ...]] = []
        for transaction_id, events in itertools.groupby(rows, key=lambda row: row[0]):
            summary = Summary()
            for _, kind, status, hlc, event_id, recorded_at_ms, service_code in events:
                wire: dict[str, Any] = {
                    "type": kind,
                    "hlc": hlc,
                    "event_id": event_id,
                    "recorded_at_ms": recorded_at_ms,
                }
                if kind == "transaction.created":
                    wire["service_code"] = service_code  # as the old projection copied it
                elif kind == "transaction.status":
                    wire["status"] = status
                else:  # the previous release made no other kind
                    continue
                summary = fold_wire(summary, wire)
            overall, key, required, latest = projection_columns(summary, owner_of)
            updates.append((overall, key, required, latest, transaction_id))
            lanes.extend(
                (transaction_id, agency, lane.key, lane.outcome, lane.at_ms)
                for agency, lane in summary.lanes.items()
            )
        connection.executemany(
            "UPDATE transactions SET status = ?, status_key = ?, required_agencies = ?, "
            "latest_hlc = ? WHERE transaction_id = ?",
            updates,
        )
        connection.executemany("INSERT INTO approvals VALUES (?, ?, ?, ?, ?)", lanes)
        after = page[-1][0]


# The node's last stamp as one SQL expression (see ``Store.last_stamp``), so that capture
# reads it in the same statement as the catalog version. max() of two values is NULL if
# either is, hence the coalesce; the whole is NULL only if both are.
LAST_STAMP_SQL: Final = """
    nullif(max(coalesce((SELECT value FROM state WHERE key = 'hlc'), ''),
               coalesce((SELECT hlc FROM events WHERE origin = 'local'
                         ORDER BY rowid DESC LIMIT 1), '')), '')
"""


# Every connection to a node's file. FULL: a commit is on disk when it returns (guarantee
# 1). The capture benchmark's bare insert uses these too.
PRAGMAS: Final = ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=30000")


def _connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN IMMEDIATE ourselves (see Store.write).
    connection = sqlite3.connect(path, timeout=30, isolation_level=None)
    for pragma in PRAGMAS:
        connection.execute(f"PRAGMA {pragma}")
    return connection


class Store:
    """One node's database. Not thread-safe: one ``Store`` per thread or process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.connection = _connect(path)
        migrations.apply(Database(self.connection))
        # (version, parsed catalog) of the newest catalog capture has used; see
        # ``edge_node.capture``. Checked against the file's newest version on every use.
        self.parsed_catalog: tuple[int, Catalog] | None = None

    def close(self) -> None:
        self.connection.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One durable write transaction; rolled back if the block raises."""
        connection = self.connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def get_state(self, key: str, default: str | None = None) -> str | None:
        row = self.connection.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    @staticmethod
    def set_state(connection: sqlite3.Connection, key: str, value: str) -> None:
        connection.execute(
            "INSERT INTO state (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    @staticmethod
    def last_stamp(connection: sqlite3.Connection) -> HlcStamp | None:
        """The node's clock as last persisted: the later of the ``hlc`` state row (written
        when the node observes a hub stamp) and its newest local event's stamp (capture
        does not write the state row: one page less per commit). Stamps of one node
        compare as their canonical texts do (fixed-width digits first)."""
        (text,) = connection.execute(f"SELECT {LAST_STAMP_SQL}").fetchone()
        return None if text is None else HlcStamp.decode(text)

    @staticmethod
    def clear_state(connection: sqlite3.Connection, key: str) -> None:
        connection.execute("DELETE FROM state WHERE key = ?", (key,))
