"""Many-row statements of the ingest path (a batch's events, its projection rows), built
once and run in the form each backend takes fastest."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
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

__all__ = ["CopyFailed", "NewRowsCopy", "RowsInsert"]


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


def _recordset_type(column_type: Any) -> Any:
    """The type a JSON record's field is read as for a column of ``column_type``."""
    if isinstance(column_type, Integer):
        return BigInteger()
    return Boolean() if isinstance(column_type, Boolean) else Text()


def _recordset_insert(table: Table) -> Any:
    columns = [column(c.name, _recordset_type(c.type)) for c in table.c]
    rows = (
        func.json_to_recordset(cast(bindparam("rows", type_=Text()), postgresql.JSON))
        .table_valued(*columns)
        .render_derived(with_types=True)
    )
    return postgresql.insert(table).from_select(table.c.keys(), select(*rows.c))


class CopyFailed(Exception):
    """A COPY (or its lookup) failed, with the server's ``sqlstate``; the transaction is
    to be rolled back. The message never carries the server's text, which may quote a
    row (a citizen's data)."""

    def __init__(self, sqlstate: str | None) -> None:
        super().__init__(f"COPY failed (SQLSTATE {sqlstate})")
        self.sqlstate = sqlstate


@contextmanager
def _driver_cursor(connection: Connection) -> Iterator[Any]:
    """A psycopg cursor on ``connection`` (the SQLAlchemy one, already inside the
    caller's transaction); a driver error leaves it as :class:`CopyFailed`."""
    import psycopg  # PostgreSQL only: a SQLite hub never loads the driver

    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        yield cursor
    except psycopg.Error as error:
        raise CopyFailed(error.sqlstate) from None
    finally:
        cursor.close()


class NewRowsCopy:
    """PostgreSQL: insert rows of ``table`` by ``COPY``, the server's fastest way in (a third
    of the time of the same rows through ``json_to_recordset`` with ``ON CONFLICT``, see
    docs/performance.md). Both methods return the ``key`` values they stored.

    COPY has no ``ON CONFLICT``: a row whose key is already stored fails it with a unique
    violation, which rolls the whole transaction back (:class:`CopyFailed`, SQLSTATE
    23505). :meth:`write` COPYs every row: the fast way, for rows that are new in all but
    rare cases (a lookup of a thousand keys costs as much as the COPY). :meth:`copy_new`
    first reads which keys are stored and COPYs only the others: the careful way, for a
    retry. A row stored by a concurrent transaction between the lookup and the COPY fails
    it the same way, and the next retry's lookup finds it.
    """

    def __init__(self, table: Table, key: str) -> None:
        from psycopg import sql

        self.columns = tuple(c.name for c in table.c)
        self._row_tuple = itemgetter(*self.columns)
        self._key = key
        name, key_name = sql.Identifier(table.name), sql.Identifier(key)
        self._lookup = sql.SQL("SELECT {} FROM {} WHERE {} = ANY(%s)").format(
            key_name, name, key_name
        )
        self._copy = sql.SQL("COPY {} ({}) FROM STDIN").format(
            name, sql.SQL(", ").join(map(sql.Identifier, self.columns))
        )

    def copy_new(self, connection: Connection, rows: Sequence[dict[str, Any]]) -> set[str]:
        """COPY the ``rows`` whose key is not stored yet."""
        key = self._key
        with _driver_cursor(connection) as cursor:
            cursor.execute(self._lookup, ([row[key] for row in rows],))
            stored = {found for (found,) in cursor.fetchall()}
        fresh = [row for row in rows if row[key] not in stored]
        return self.write(connection, fresh)

    def write(self, connection: Connection, rows: Sequence[dict[str, Any]]) -> set[str]:
        """COPY ``rows`` with no lookup; return their keys.

        Row by row through psycopg's ``write_row``, which formats in C while the server
        already parses what it was sent: half the client CPU of formatting the text in
        Python beforehand, and less time in the transaction too (docs/performance.md)."""
        if rows:
            row_tuple = self._row_tuple
            with _driver_cursor(connection) as cursor, cursor.copy(self._copy) as copy:
                for row in rows:
                    copy.write_row(row_tuple(row))
        return {row[self._key] for row in rows}
