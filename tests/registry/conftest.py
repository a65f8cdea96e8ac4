"""Registry fixtures: a fresh PostgreSQL database per test module, a SQLite file per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from featurelake.registry import Registry, open_registry


def _admin(pg_url: str) -> sa.Engine:
    return sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="module")
def fresh_pg_url(pg_url: str) -> Iterator[str]:
    """URL of a new, empty PostgreSQL database on the stack's server (dropped afterwards)."""
    name = f"fl_test_{uuid.uuid4().hex[:12]}"
    admin = _admin(pg_url)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(scope="module")
def pg_registry(fresh_pg_url: str) -> Iterator[Registry]:
    """A migrated PostgreSQL registry shared by one module (tests isolate by project name)."""
    reg = open_registry(fresh_pg_url, ready=False)
    reg.migrate()
    reg.ensure_ready()
    yield reg
    reg.dispose()


@pytest.fixture
def sqlite_registry(tmp_path) -> Iterator[Registry]:  # type: ignore[no-untyped-def]
    """A SQLite registry in a temporary file (auto-migrated)."""
    reg = open_registry(f"sqlite:///{tmp_path / 'registry.db'}")
    yield reg
    reg.dispose()


@pytest.fixture
def project() -> str:
    """A project name unique to the test, so tests sharing a database do not see each other."""
    return f"p_{uuid.uuid4().hex[:10]}"
