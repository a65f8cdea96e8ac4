"""Console fixtures: a small registry with a real Delta table, and the app over it.

``world`` runs on SQLite and on the local stack's PostgreSQL (a fresh database per test).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from featurelake.console.app import create_app
from featurelake.console.delta import table_facts
from featurelake.registry import open_registry
from tests.console import world as w


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def registry_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.db'}"
        return
    pg_url: str = request.getfixturevalue("pg_url")
    name = f"fl_console_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    reg = open_registry(url, ready=False)
    reg.migrate()
    reg.dispose()
    yield url
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture
def world(registry_url: str, tmp_path: Path) -> Iterator[w.World]:
    """A fresh world per test (lifecycle tests change it)."""
    reg = open_registry(registry_url)
    yield w.build(reg, tmp_path / "lake")
    reg.dispose()


@pytest.fixture
def make_app(world: w.World) -> Callable[..., FastAPI]:
    def make(*, four_eyes: bool = False, demo_local: bool = False) -> FastAPI:
        return create_app(
            world.registry,
            project=w.PROJECT,
            access=w.access(four_eyes=four_eyes, demo_local=demo_local),
            table_facts=lambda name: table_facts(world.lakehouse, name),
        )

    return make
