"""Console fixtures: a small registry (SQLite) with a real Delta table, and the app over it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from featurelake.console.app import create_app
from featurelake.console.delta import table_facts
from featurelake.registry import open_registry
from tests.console import world as w


@pytest.fixture
def world(tmp_path: Path) -> Iterator[w.World]:
    """A fresh world per test (lifecycle tests change it)."""
    reg = open_registry(f"sqlite:///{tmp_path / 'registry.db'}")
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
