"""Database engines for the hub: SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

__all__ = ["create_hub_engine", "is_sqlite", "normalise_url"]


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
        return create_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            hide_parameters=True,
        )
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
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
