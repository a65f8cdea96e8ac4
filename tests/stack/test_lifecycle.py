"""up/down/status on throwaway stack instances (temp home, other ports); the shared stack is untouched."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from featurelake.config.settings import Settings
from featurelake.errors import ConfigError
from featurelake.localstack import down, parse_services, status, up
from featurelake.localstack.process import pid_alive, port_in_use

from .conftest import free_port_block

ROOT = Path(__file__).resolve().parents[2]


def _cli(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "featurelake.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**os.environ, "FEATURELAKE_HOME": str(home), **(env or {})},
        check=False,
    )


def test_parse_services_keeps_canonical_order_and_names_unknown_ones() -> None:
    assert parse_services("spark,postgres") == ("postgres", "spark")
    assert parse_services(None) == ("postgres", "redis", "s3", "spark")
    with pytest.raises(ConfigError, match=r"'mysql'.*choose from postgres, redis, s3, spark"):
        parse_services("redis,mysql")


def test_bad_port_variable_is_named(throwaway_home: Path) -> None:
    out = _cli(throwaway_home, "services", "status", env={"FEATURELAKE_S3_PORT": "eighty"})
    assert out.returncode == 2  # bad input
    assert "FEATURELAKE_S3_PORT='eighty'" in out.stderr


def test_status_of_a_stack_that_is_down_says_so_and_exits_0(throwaway_home: Path) -> None:
    out = _cli(throwaway_home, "services", "status", "--output", "json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["healthy"] is False
    assert {n: (s["running"], s["healthy"], s["pid"]) for n, s in report["services"].items()} == {
        n: (False, False, None) for n in ("postgres", "redis", "s3", "spark")
    }
    text = _cli(throwaway_home, "services", "status")
    assert text.returncode == 0
    assert "DOWN" in text.stdout and "not healthy: postgres, redis, s3, spark" in text.stdout


def test_down_when_down_is_fine(throwaway_home: Path) -> None:
    out = _cli(throwaway_home, "services", "down")
    assert out.returncode == 0, out.stderr
    assert "postgres: not running" in out.stdout and "redis: not running" in out.stdout


def test_a_port_taken_by_someone_else_fails_naming_port_and_variable(throwaway_home: Path) -> None:
    port = free_port_block(1, start=59500)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen(1)
        out = _cli(throwaway_home, "services", "up", "--only", "s3", env={"FEATURELAKE_S3_PORT": str(port)})
    assert out.returncode == 2  # bad input: the settings name a port someone else holds
    assert f"port 127.0.0.1:{port}" in out.stderr and "FEATURELAKE_S3_PORT" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (throwaway_home / "stack" / "stack.json").exists()


@pytest.mark.redis
def test_throwaway_redis_cluster_up_twice_down_and_rejoin(
    throwaway_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = free_port_block(6, start=7301, with_bus=True)
    monkeypatch.setenv("FEATURELAKE_REDIS_BASE_PORT", str(base))
    settings = Settings(home=throwaway_home)
    ports = list(range(base, base + 6))
    lines: list[str] = []
    try:
        state = up(settings, services=["redis"], echo=lines.append)
        assert state == {"redis": {"nodes": [f"127.0.0.1:{p}" for p in ports]}}
        assert any("creating the cluster" in line for line in lines)
        first = status(settings, services=["redis"])["services"]["redis"]
        assert first["healthy"] and first["replicas_linked"] == 3, first

        lines.clear()
        up(settings, services=["redis"], echo=lines.append)
        assert lines[0].startswith("redis: already running")
        assert status(settings, services=["redis"])["services"]["redis"]["pids"] == first["pids"]

        down(settings, services=["redis"], echo=lines.append)
        assert not any(pid_alive(pid) for pid in first["pids"].values())
        assert not any(port_in_use(p) for p in ports)
        assert not (throwaway_home / "stack" / "stack.json").exists()
        assert status(settings, services=["redis"])["services"]["redis"]["running"] is False

        # Restart without --purge: the nodes rejoin from nodes.conf, no second `cluster create`.
        lines.clear()
        up(settings, services=["redis"], echo=lines.append)
        assert not any("creating the cluster" in line for line in lines)
        assert any("rejoin" in line for line in lines)
        assert status(settings, services=["redis"])["services"]["redis"]["healthy"]
    finally:
        down(settings, services=["redis"], purge=True, echo=lines.append)
    assert not (throwaway_home / "stack" / "redis").exists()
    assert not any(port_in_use(p) for p in ports)


@pytest.mark.postgres
@pytest.mark.s3
def test_throwaway_postgres_and_s3_up_down_purge(
    throwaway_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    pg_port = free_port_block(1, start=55600)
    s3_port = free_port_block(1, start=59600)
    monkeypatch.setenv("FEATURELAKE_PG_PORT", str(pg_port))
    monkeypatch.setenv("FEATURELAKE_S3_PORT", str(s3_port))
    settings = Settings(home=throwaway_home)
    lines: list[str] = []
    try:
        state = up(settings, services=["postgres", "s3"], echo=lines.append)
        assert state["postgres"]["port"] == pg_port
        assert state["s3"]["endpoint_url"] == f"http://127.0.0.1:{s3_port}"
        assert any("initdb" in line for line in lines)
        report = status(settings, services=["postgres", "s3"])
        assert report["healthy"], report
        pids = {n: s["pid"] for n, s in report["services"].items()}
        with psycopg.connect(state["postgres"]["url"].replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute("create table kept (x int)")
            conn.execute("insert into kept values (42)")

        down(settings, services=["postgres", "s3"], echo=lines.append)
        assert not any(pid_alive(pid) for pid in pids.values())
        assert not port_in_use(pg_port) and not port_in_use(s3_port)

        # Without --purge, Postgres keeps its data across a restart.
        lines.clear()
        state = up(settings, services=["postgres", "s3"], echo=lines.append)
        assert not any("initdb" in line for line in lines)
        with psycopg.connect(state["postgres"]["url"].replace("+psycopg", "")) as conn:
            assert conn.execute("select x from kept").fetchall() == [(42,)]
    finally:
        down(settings, services=["postgres", "s3"], purge=True, echo=lines.append)
    assert not (throwaway_home / "stack" / "postgres").exists()
    assert not port_in_use(pg_port) and not port_in_use(s3_port)
