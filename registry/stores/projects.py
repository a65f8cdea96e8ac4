"""Projects, time and JSON helpers shared by the stores."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, text

from featurelake.errors import RegistryError
from featurelake.registry.models import ProjectRow


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


def _apply_lock_key(project: str) -> int:
    # A different key from lock_project's: the session lock below is held while the same
    # process takes lock_project's transaction lock on another connection.
    digest = hashlib.blake2b(f"featurelake-apply:{project}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextmanager
def apply_lock(engine: Engine, project: str, *, timeout_s: float = 600.0) -> Iterator[None]:
    """Hold the project's apply lock: one ``apply`` (Feast's registry and ours) at a time.

    ``featurelake apply`` writes two registries, Feast's first; Feast's own writes are not safe
    against a concurrent apply (its SQL registry raises a unique violation on its version
    history). Serializing whole applies per project makes the second apply a no-op on both.
    PostgreSQL: a session advisory lock on its own connection (crashed holders release it when
    their connection drops). SQLite: an exclusive ``flock`` on ``<database>.apply.lock``.

    Raises:
        RegistryError: another apply held the lock for ``timeout_s`` seconds.
    """
    deadline = time.monotonic() + timeout_s
    held_by_other = (
        f"another `featurelake apply` of project {project!r} has held the apply lock for "
        f"{timeout_s:.0f} s; wait for it to finish (or stop it) and run apply again"
    )
    if engine.dialect.name == "postgresql":
        key = _apply_lock_key(project)
        with engine.connect() as conn:
            while not conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar():
                conn.rollback()
                if time.monotonic() > deadline:
                    raise RegistryError(held_by_other)
                time.sleep(0.2)
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                conn.commit()
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    import fcntl

    with open(f"{database}.apply.lock", "a+b") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RegistryError(held_by_other) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
