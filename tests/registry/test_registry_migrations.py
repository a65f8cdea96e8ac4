"""Migrations: `featurelake registry migrate` upgrades an empty database and one at 0001."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from featurelake.errors import RegistryError, ServiceUnavailableError
from featurelake.registry import open_registry
from featurelake.registry.database import MIGRATIONS_DIR, make_engine, migrate
from featurelake.registry.models import SCHEMA_REVISION, Base

ROOT = Path(__file__).resolve().parents[2]


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FEATURELAKE_REGISTRY_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "featurelake.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def test_code_expects_the_migration_head() -> None:
    from alembic.config import Config

    head = ScriptDirectory.from_config(Config(str(MIGRATIONS_DIR / "alembic.ini"))).get_current_head()
    assert head == SCHEMA_REVISION == "0004"


class MigrationContract:
    def test_migrate_an_empty_database(self, url: str) -> None:
        unmigrated = open_registry(url, ready=False)
        with pytest.raises(
            RegistryError, match="has no featurelake schema; run `featurelake registry migrate`"
        ):
            unmigrated.check_schema()
        unmigrated.dispose()
        result = _cli(url, "registry", "migrate")
        assert result.returncode == 0, result.stderr
        assert "migration (empty) -> 0004" in result.stdout
        reg = open_registry(url)
        assert reg.revision() == "0004"
        # the models and the migrations describe the same schema
        with reg.engine.connect() as conn:
            diffs = compare_metadata(
                MigrationContext.configure(conn, opts={"version_table": "fl_alembic_version"}), Base.metadata
            )
        assert diffs == []
        reg.dispose()

    def test_migrate_a_database_at_0001_keeps_its_data(self, url: str) -> None:
        engine = make_engine(url)
        migrate(engine, revision="0001")
        with engine.begin() as conn:
            conn.execute(
                sa.text("INSERT INTO fl_projects (name, created_at) VALUES ('old', :t)"),
                {"t": "2024-01-01 00:00:00+00:00"},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO fl_job_runs (id, project_id, kind, target, params, status, actor, started_at, inputs, outputs) "
                    "VALUES ('run-1', (SELECT id FROM fl_projects WHERE name = 'old'), 'backfill', 'v', '{}', 'running', "
                    "'alice', :t, '[]', '[]')"
                ),
                {"t": "2024-01-01 00:00:00+00:00"},
            )
        engine.dispose()
        behind = open_registry(url, ready=False)
        with pytest.raises(
            RegistryError,
            match="is at migration 0001, this featurelake needs 0004; run `featurelake registry migrate`",
        ):
            behind.check_schema()
        behind.dispose()
        result = _cli(url, "registry", "migrate")
        assert result.returncode == 0, result.stderr
        assert "migration 0001 -> 0004" in result.stdout
        reg = open_registry(url)
        run = reg.get_run("run-1")
        assert (run.project, run.actor, run.status) == (
            "old",
            "alice",
            "abandoned",
        )  # pre-0002 crash detected
        reg.dispose()


class TestSQLiteMigrations(MigrationContract):
    @pytest.fixture
    def url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'm.db'}"

    def test_sqlite_auto_migrates_on_first_use(self, tmp_path: Path) -> None:
        reg = open_registry(f"sqlite:///{tmp_path / 'auto.db'}")
        assert reg.revision() == "0004"
        reg.dispose()


@pytest.mark.postgres
class TestPostgresMigrations(MigrationContract):
    @pytest.fixture
    def url(self, pg_url: str):  # type: ignore[no-untyped-def]
        import uuid

        name = f"fl_mig_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield sa.make_url(pg_url).set(database=name).render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.mark.timeout(60)  # a hang (no connect timeout) fails the test; no wall-clock assertion
def test_a_registry_that_does_not_answer_fails_with_a_clear_error() -> None:
    with pytest.raises(
        ServiceUnavailableError, match=r"127.0.0.1:9/x did not answer .*featurelake services up"
    ):
        open_registry("postgresql+psycopg://u:secret@127.0.0.1:9/x", connect_timeout_s=2)
    result = _cli("postgresql+psycopg://u:secret@127.0.0.1:9/x", "registry", "list")
    assert result.returncode == 3  # a service did not answer
    assert "did not answer" in result.stderr and "secret" not in result.stderr


def test_bad_registry_urls_are_named() -> None:
    with pytest.raises(RegistryError, match="'mysql://h/db' uses 'mysql'"):
        open_registry("mysql://h/db")
    with pytest.raises(RegistryError, match="'not a url' is not a database URL"):
        open_registry("not a url")


def test_a_sqlite_registry_under_a_file_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("")
    url = f"sqlite:///{blocker}/sub/registry.db"
    with pytest.raises(RegistryError, match=r"cannot create the folder .*afile/sub.*writable folder"):
        open_registry(url)
    result = _cli(url, "registry", "list")  # commands never create a registry: the path is named
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "there is no registry at" in lines[0] and "afile/sub" in lines[0], (
        result.stderr
    )
    init = _cli(url, "registry", "init")  # only init / apply create one, and they name the folder
    assert init.returncode == 2 and "cannot create the folder" in init.stderr, init.stderr


@pytest.fixture
def silent_server():  # type: ignore[no-untyped-def]
    """A TCP server on 127.0.0.1 that accepts connections and never says a word."""
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    yield server.getsockname()[1]
    server.close()


@pytest.mark.timeout(60)  # a hang fails the test; no wall-clock assertion
def test_a_registry_that_accepts_but_never_answers_fails_after_the_connect_timeout(silent_server) -> None:
    url = f"postgresql+psycopg://u:secret@127.0.0.1:{silent_server}/x"
    with pytest.raises(ServiceUnavailableError, match=rf"127.0.0.1:{silent_server}/x did not answer") as err:
        open_registry(url, connect_timeout_s=2)
    assert "secret" not in str(err.value)
