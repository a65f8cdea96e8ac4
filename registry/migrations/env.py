"""Alembic environment: runs on the connection that ``registry.migrate`` hands over."""

from __future__ import annotations

from alembic import context

VERSION_TABLE = "fl_alembic_version"

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only when someone runs the alembic CLI by hand
    from sqlalchemy import create_engine

    engine = create_engine(context.config.get_main_option("sqlalchemy.url"))
    with engine.begin() as conn:
        context.configure(connection=conn, version_table=VERSION_TABLE)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, version_table=VERSION_TABLE, transaction_per_migration=False)
    with context.begin_transaction():
        context.run_migrations()
