"""Many-row statements of the ingest path (a batch's events, its projection rows), built
once and run in the form each backend takes fastest."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    CursorResult,
    Dialect,
    Integer,
    Table,
    Text,
    bindparam,
    cast,
    column,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

__all__ = ["RowsInsert"]


class RowsInsert:
    """An INSERT of many rows of ``table`` (each a dict of all its columns) as one call.

    ``finish`` completes the bare INSERT (``ON CONFLICT ...``, ``RETURNING``); it is
    applied and compiled once, here.

    PostgreSQL takes the rows as one JSON array parameter (``json_to_recordset``): one
    short statement whatever the row count, encoded and parsed in C on both sides.
    psycopg's executemany sends a statement per row, a multi-row ``VALUES`` of thousands
    of parameters costs more to build and parse than the rows cost to insert, and array
    parameters are escaped element by element in Python.

    SQLite runs in-process, so the cost is all on the Python side: the compiled SQL goes
    to the driver's executemany with one tuple per row, which skips SQLAlchemy's
    per-row parameter processing (about a third of the statement's time for 1,000 rows;
    the hub's columns need no type conversion). The statement runs on the caller's
    connection, inside its transaction. ``RETURNING`` is not available this way (pysqlite
    cannot executemany a statement that returns rows): :meth:`execute`'s ``rowcount`` is
    the number of rows written.
    """

    def __init__(self, table: Table, dialect: Dialect, finish: Callable[[Any], Any]) -> None:
        self._postgres = dialect.name == "postgresql"
        self.statement: Any
        if self._postgres:
            self.statement = finish(_recordset_insert(table))
            return
        self.statement = finish(sqlite.insert(table))
        compiled = self.statement.compile(dialect=dialect)
        if compiled.effective_returning:
            raise ValueError("RETURNING cannot run through the driver's executemany")
        self._sql: str = compiled.string
        self._row_tuple = itemgetter(*compiled.positiontup)

    def execute(self, connection: Connection, rows: Sequence[dict[str, Any]]) -> CursorResult[Any]:
        if self._postgres:
            text = json.dumps(rows, ensure_ascii=False, separators=(",", ":"))
            return connection.execute(self.statement, {"rows": text})
        row_tuple = self._row_tuple
        return connection.exec_driver_sql(self._sql, [row_tuple(row) for row in rows])


def _recordset_insert(table: Table) -> Any:
    columns = [
        column(c.name, BigInteger() if isinstance(c.type, Integer) else Text()) for c in table.c
    ]
    rows = (
        func.json_to_recordset(cast(bindparam("rows", type_=Text()), postgresql.JSON))
        .table_valued(*columns)
        .render_derived(with_types=True)
    )
    return postgresql.insert(table).from_select(table.c.keys(), select(*rows.c))
