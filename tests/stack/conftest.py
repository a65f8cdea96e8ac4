"""Helpers for the local stack's tests: the shared stack's settings and a port finder."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from featurelake.config.settings import Settings
from featurelake.localstack.process import port_in_use

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def shared_settings() -> Settings:
    """Settings whose ``home`` is the shared stack's (the one tests/conftest.py reads)."""
    # The same rule as tests/conftest.py's stack_state_path().
    return Settings(home=Path(os.environ.get("FEATURELAKE_HOME", REPO_ROOT / ".featurelake")))


def free_port_block(count: int, *, start: int, with_bus: bool = False) -> int:
    """The first port >= ``start`` such that ``count`` consecutive ports (and their +10000
    Redis bus ports, if ``with_bus``) are all free."""
    for base in range(start, start + 2000, count):
        ports = list(range(base, base + count))
        if with_bus:
            ports += [p + 10000 for p in ports]
        if not any(port_in_use(p) for p in ports):
            return base
    raise RuntimeError(f"no block of {count} free ports from {start}")


@pytest.fixture
def throwaway_home() -> Iterator[Path]:
    """A temporary FEATURELAKE_HOME for a second, throwaway stack instance.

    Not under pytest's tmp_path: concurrent pytest runs (other engineers on this machine) prune
    old basetemp folders, which could delete a running throwaway server's data folder.
    """
    root = Path(tempfile.mkdtemp(prefix="featurelake-stack-test-"))
    yield root / "home"
    shutil.rmtree(root, ignore_errors=True)
