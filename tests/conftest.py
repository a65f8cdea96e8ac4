"""Shared fixtures: a local Spark session and the local stack's services.

Tests that need a service read its address from the stack state file written by
``featurelake services up`` (``$FEATURELAKE_HOME/stack/stack.json``, default
``.featurelake/stack/stack.json``). A missing service is a test ERROR, never a skip: run
``make test`` (which starts the stack) or ``.venv/bin/featurelake services up`` first.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)


def stack_state_path() -> Path:
    home = Path(os.environ.get("FEATURELAKE_HOME", REPO_ROOT / ".featurelake"))
    return home / "stack" / "stack.json"


@pytest.fixture(scope="session")
def stack() -> dict[str, Any]:
    """The running local stack's addresses (see featurelake/localstack)."""
    path = stack_state_path()
    if not path.exists():
        pytest.fail(
            f"the local stack is not running ({path} is missing): run `.venv/bin/featurelake services up` "
            "or `make test`",
            pytrace=False,
        )
    return json.loads(path.read_text())


def _service(stack: dict[str, Any], name: str) -> dict[str, Any]:
    if name not in stack:
        pytest.fail(
            f"the local stack has no {name!r} service; run `.venv/bin/featurelake services up`", pytrace=False
        )
    return stack[name]


@pytest.fixture(scope="session")
def pg_url(stack: dict[str, Any]) -> str:
    """SQLAlchemy URL (postgresql+psycopg://...) of the stack's PostgreSQL (an admin database)."""
    return _service(stack, "postgres")["url"]


@pytest.fixture(scope="session")
def redis_nodes(stack: dict[str, Any]) -> list[str]:
    """host:port of every node of the stack's Redis cluster."""
    return _service(stack, "redis")["nodes"]


@pytest.fixture(scope="session")
def s3(stack: dict[str, Any]) -> dict[str, Any]:
    """The stack's S3 server: endpoint_url, bucket, access_key_id, secret_access_key, region."""
    return _service(stack, "s3")


@pytest.fixture(scope="session")
def spark_master(stack: dict[str, Any]) -> str:
    """spark://127.0.0.1:PORT of the stack's standalone master."""
    return _service(stack, "spark")["master_url"]


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local Spark session for the whole run (2 cores, UTC, few shuffle partitions)."""
    from featurelake.lakehouse.spark import build_spark_session

    session = build_spark_session(
        app_name="featurelake-tests",
        master="local[2]",
        conf={"spark.sql.shuffle.partitions": "4", "spark.ui.enabled": "false"},
    )
    yield session
    session.stop()
