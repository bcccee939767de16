"""The PostgreSQL service the hub's storage tests run against is really there (in CI it is
mandatory; elsewhere the test skips and says why)."""

from __future__ import annotations

import psycopg


def test_postgres_accepts_connections_and_transactions(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as connection:
        (version,) = connection.execute("SHOW server_version_num").fetchone() or (0,)
        assert int(version) >= 130000
