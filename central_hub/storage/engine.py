"""Database engines for the hub: SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url

__all__ = ["create_hub_engine", "is_sqlite", "normalise_url"]

# A pooled PostgreSQL connection idle this long is pinged before use (a restarted server
# or a dropped link is found then, not by the request's own statement).
PING_AFTER_IDLE_SECONDS = 5.0


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and pin the psycopg 3 driver; leave SQLite URLs alone."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_hub_engine(url: str, *, pool_size: int = 10) -> Engine:
    """An engine whose transactions are safe for the hub's write path on either backend."""
    url = normalise_url(url)
    # Statement parameters hold citizens' records (national ID, name) and token hashes;
    # hide_parameters keeps them out of logged SQL and out of every DBAPI error's text.
    if not is_sqlite(url):
        engine = create_engine(
            url, pool_size=pool_size, max_overflow=pool_size, hide_parameters=True
        )
        _ping_when_idle(engine)
        return engine
    engine = create_engine(
        url, connect_args={"timeout": 30, "check_same_thread": False}, hide_parameters=True
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: object) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN IMMEDIATE instead of pysqlite's
        # deferred BEGIN: two writers then queue on the lock instead of deadlocking.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=FULL",
            "foreign_keys=ON",
            "busy_timeout=30000",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # Not for a single read run in autocommit (``SqlStore._read``): WAL readers need
        # no lock, and taking the write lock would queue them behind a batch's commit.
        if connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _ping_when_idle(engine: Engine) -> None:
    """``pool_pre_ping``, but only for a connection that sat idle: a ping is a round trip,
    and a busy hub checks out connections several times per request (a third of a
    1,000-record batch's statement time went to pings). A connection lost while in
    steady use fails its statement instead; that request answers 5xx and the node
    retries it, which the protocol makes safe."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception:
            alive = False
        if not alive:
            # The pool drops this connection and checks out (or opens) another.
            raise exc.DisconnectionError("pooled connection failed its ping")
