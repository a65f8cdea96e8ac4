"""Engines, connection checks, transactions with retry, and Alembic migrations.

One code path for PostgreSQL and SQLite. SQLite gets WAL mode, a busy timeout and
``BEGIN IMMEDIATE`` for write transactions so that concurrent writers queue instead of
failing half-way.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, OperationalError

from featurelake.errors import RegistryError, RegistryNotFoundError, ServiceUnavailableError
from featurelake.registry.models import SCHEMA_REVISION

T = TypeVar("T")
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "fl_alembic_version"
_RETRYABLE_SQLSTATES = {"40001", "40P01", "23505"}  # serialization failure, deadlock, unique violation


def normalize_url(url: str) -> URL:
    """Parse a registry URL; plain ``postgresql://`` uses the psycopg 3 driver.

    Raises:
        RegistryError: the URL cannot be parsed or names an unsupported database.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise RegistryError(
            f"registry URL {url!r} is not a database URL; use postgresql+psycopg://user:pass@host:port/db "
            "or sqlite:///path/registry.db"
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("postgresql", "sqlite"):
        raise RegistryError(
            f"registry URL {parsed.render_as_string(hide_password=True)!r} uses {parsed.get_backend_name()!r}; "
            "the registry supports PostgreSQL (postgresql+psycopg://...) and SQLite (sqlite:///...)"
        )
    return parsed


def make_engine(url: str, *, connect_timeout_s: float = 5, create: bool = True) -> Engine:
    """Create the engine for a registry URL (no connection is made yet).

    Args:
        url: the registry URL.
        connect_timeout_s: PostgreSQL connect timeout.
        create: a SQLite file (and its folder) that does not exist yet may be created. When
            False, a missing file is refused: a mistyped path must not become a new, empty registry.

    Raises:
        RegistryError: a bad URL, or (``create=False``) no SQLite registry at the path.
    """
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        if (
            parsed.database
            and parsed.database != ":memory:"
            and not create
            and not Path(parsed.database).is_file()
        ):
            raise RegistryNotFoundError(
                f"there is no registry at {parsed.database!r} (registry.url / $FEATURELAKE_REGISTRY_URL = "
                f"{url!r}); check the path for a typo, or create the registry with `featurelake apply` "
                "(or `featurelake registry init`)"
            )
        if parsed.database and parsed.database != ":memory:":
            folder = Path(parsed.database).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise RegistryError(
                    f"cannot create the folder {str(folder)!r} of the SQLite registry {parsed.database!r} "
                    f"({err.strerror or err}); point registry.url / $FEATURELAKE_REGISTRY_URL "
                    "(or home / $FEATURELAKE_HOME) at a writable folder"
                ) from None
        engine = create_engine(parsed, connect_args={"timeout": 30})
        _sqlite_events(engine)
        return engine
    return create_engine(
        parsed,
        pool_pre_ping=True,
        connect_args={"connect_timeout": max(1, int(connect_timeout_s))},
    )


def _sqlite_events(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("fl_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def describe(engine: Engine) -> str:
    """The engine's URL without the password."""
    return engine.url.render_as_string(hide_password=True)


def check_connection(engine: Engine) -> None:
    """Open one connection and run ``SELECT 1``.

    Raises:
        ServiceUnavailableError: the database did not answer.
    """
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except (OperationalError, DBAPIError) as err:
        cause = (
            str(getattr(err, "orig", err)).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        )
        raise ServiceUnavailableError(
            f"the registry database {describe(engine)} did not answer ({cause}); start it "
            "(`featurelake services up` for the local stack) or fix registry.url / $FEATURELAKE_REGISTRY_URL"
        ) from None


def current_revision(conn: Connection) -> str | None:
    """The Alembic revision the database is at, or None for an empty database."""
    from sqlalchemy import inspect

    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    row = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).first()
    return row[0] if row else None


def _alembic_config(conn: Connection):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = conn
    return cfg


def migrate(engine: Engine, *, revision: str = "head") -> tuple[str | None, str]:
    """Upgrade the schema to ``revision`` (default: head) in one transaction.

    Returns:
        (revision before, revision after).
    """
    from alembic import command

    with engine.connect().execution_options(fl_write=True) as conn:
        with conn.begin():
            before = current_revision(conn)
            command.upgrade(_alembic_config(conn), revision)
            after = current_revision(conn)
    return before, after or ""


def is_retryable(err: Exception) -> bool:
    """Whether a database error is a write conflict worth retrying the transaction for."""
    if isinstance(err, IntegrityError):
        orig = getattr(err, "orig", None)
        state = getattr(orig, "sqlstate", None)
        if state is not None:
            return state == "23505"
        return "UNIQUE constraint failed" in str(orig)  # SQLite
    if isinstance(err, OperationalError | DBAPIError):
        orig = getattr(err, "orig", None)
        state = getattr(orig, "sqlstate", None)
        if state in _RETRYABLE_SQLSTATES:
            return True
        return "database is locked" in str(orig)
    return False


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One write transaction (``BEGIN IMMEDIATE`` on SQLite)."""
    with engine.connect().execution_options(fl_write=True) as conn:
        with conn.begin():
            yield conn


def run_write(engine: Engine, fn: Callable[[Connection], T], *, attempts: int = 8) -> T:
    """Run ``fn`` in a write transaction, retrying the whole transaction on a write conflict.

    Unique constraints and transactions keep concurrent writers consistent; the loser of a
    race re-reads and re-decides (an apply that lost becomes a no-op, a version number is
    taken again).

    Raises:
        RegistryError: still conflicting after ``attempts`` tries.
    """
    for attempt in range(attempts):
        try:
            with write_transaction(engine) as conn:
                return fn(conn)
        except (IntegrityError, OperationalError, DBAPIError) as err:
            if not is_retryable(err):
                raise
            if attempt == attempts - 1:
                raise RegistryError(
                    f"the registry write kept conflicting with concurrent writers after {attempts} attempts "
                    f"({getattr(err, 'orig', err)}); retry the command"
                ) from err
            time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def schema_revision() -> str:
    """The revision this code expects (the migration head)."""
    return SCHEMA_REVISION
