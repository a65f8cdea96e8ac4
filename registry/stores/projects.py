"""Projects, time and JSON helpers shared by the stores."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, text

from featurelake.errors import RegistryError
from registry.models import ProjectRow


def now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """Times come back naive from SQLite and zoned from PostgreSQL: normalise to aware UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def jsonable(value: Any) -> Any:
    """A JSON-safe copy of ``value`` (times as ISO strings, tuples as lists)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def stable_json(value: Any) -> str:
    """Canonical JSON: sorted keys, no whitespace, UTF-8 kept verbatim."""
    return json.dumps(jsonable(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def stable_hash(value: Any) -> str:
    """SHA-256 of :func:`stable_json`."""
    return hashlib.sha256(stable_json(value).encode()).hexdigest()


def project_id(conn: Connection, project: str, *, create: bool = False) -> int:
    """The id of ``project``, created on first write when ``create``.

    Raises:
        RegistryError: the project does not exist and ``create`` is false.
    """
    pid = conn.execute(select(ProjectRow.id).where(ProjectRow.name == project)).scalar()
    if pid is not None:
        return pid
    if not create:
        raise RegistryError(
            f"project {project!r} is not in the registry; run `featurelake apply` for it first "
            "or check --project / settings.project"
        )
    return conn.execute(
        insert(ProjectRow).values(name=project, created_at=now()).returning(ProjectRow.id)
    ).scalar_one()


def lock_project(conn: Connection, project: str) -> None:
    """Serialize writers of ``project`` until the caller's transaction ends.

    PostgreSQL runs at READ COMMITTED, where each statement sees what other transactions
    committed since the last one: an apply that planned before a concurrent apply committed
    would write nothing (its later reads see the other's rows) yet report its stale plan.
    A transaction-scoped advisory lock on the project name makes plan-then-write atomic per
    project; readers never take it. SQLite needs nothing: a write transaction there is
    ``BEGIN IMMEDIATE``, which already excludes other writers.
    """
    if conn.dialect.name != "postgresql":
        return
    key = int.from_bytes(
        hashlib.blake2b(f"featurelake:{project}".encode(), digest_size=8).digest(), "big", signed=True
    )
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def find_project_id(conn: Connection, project: str) -> int | None:
    """The id of ``project`` or None."""
    return conn.execute(select(ProjectRow.id).where(ProjectRow.name == project)).scalar()
