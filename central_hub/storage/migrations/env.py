"""Alembic environment: migrations always run on a connection handed in by migrate.py."""

from __future__ import annotations

from alembic import context

from central_hub.storage.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
context.run_migrations()
