"""Backfill fixtures: small demo data on local disk, a SQLite registry, the fixture feature repo."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.backfill.lakes import Lake, make_lake


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    """A lake shared by one test module (tests use different views or compare relative states)."""
    lk = make_lake(tmp_path_factory.mktemp("lake"))
    yield lk
    lk.registry.dispose()
