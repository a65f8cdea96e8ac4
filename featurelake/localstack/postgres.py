"""PostgreSQL 15 for the local stack: initdb/pg_ctl as the ``postgres`` OS user, TCP on 127.0.0.1.

postgres refuses to run as root, so every server command goes through ``runuser -u postgres``
and the data folder (``<stack>/postgres/data``) is owned by that user; every folder above it
must be enterable by it (we add o+x where it is missing and say so). No unix socket is created.
The bootstrap superuser is ``featurelake`` (password ``featurelake``), so tests can create
databases; the database ``featurelake`` is created on first start.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
from pathlib import Path
from typing import Any

from featurelake.errors import NotInstalledError, ServiceUnavailableError

from .config import HOST, PG_DATABASE, PG_PASSWORD, PG_USER, StackConfig
from .process import Echo, ensure_port_free, live_pid, run, wait_gone, wait_until

NAME = "postgres"
OS_USER = "postgres"
_BIN_CANDIDATES = (Path("/usr/lib/postgresql/15/bin"),)
_CONF = """
# --- featurelake local stack (written by `featurelake services up`) ---
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 200
# A throwaway local database: durability traded for test speed (crash = re-create with --purge).
fsync = off
synchronous_commit = off
full_page_writes = off
"""


def _bin_dir(echo: Echo) -> Path:
    for cand in _BIN_CANDIDATES:
        if (cand / "pg_ctl").exists():
            return cand
    if shutil.which("apt-get") is None:
        raise NotInstalledError(
            "PostgreSQL 15 binaries not found in /usr/lib/postgresql/15/bin; install postgresql-15"
        )
    echo("postgres: binaries missing, installing postgresql-15 with apt-get (~1 min)")
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-qq"], what="apt-get update", env=env, timeout=300)
    run(
        ["apt-get", "install", "-y", "-qq", "postgresql-15"],
        what="apt-get install postgresql-15",
        env=env,
        timeout=600,
    )
    for cand in _BIN_CANDIDATES:
        if (cand / "pg_ctl").exists():
            return cand
    raise NotInstalledError(
        "apt-get installed postgresql-15 but /usr/lib/postgresql/15/bin/pg_ctl is still missing"
    )


def _dirs(cfg: StackConfig) -> tuple[Path, Path, Path]:
    base = cfg.service_dir(NAME)
    return base, base / "data", cfg.logs / "postgres.log"


def _pid_and_port(data: Path) -> tuple[int | None, int | None]:
    """postmaster.pid holds the pid (line 1) and the port (line 4) of a running server."""
    try:
        lines = (data / "postmaster.pid").read_text().splitlines()
    except OSError:
        return None, None
    pid = live_pid(data / "postmaster.pid", "postgres")
    port = int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None
    return pid, port


def url(port: int, database: str = PG_DATABASE) -> str:
    """SQLAlchemy URL of the stack's database."""
    return f"postgresql+psycopg://{PG_USER}:{PG_PASSWORD}@{HOST}:{port}/{database}"


def _connect(port: int, database: str = PG_DATABASE) -> Any:
    import psycopg

    return psycopg.connect(
        host=HOST,
        port=port,
        user=PG_USER,
        password=PG_PASSWORD,
        dbname=database,
        connect_timeout=3,
        autocommit=True,
    )


def _select_one(port: int, database: str = PG_DATABASE) -> bool:
    with _connect(port, database) as conn:
        return conn.execute("select 1").fetchone() == (1,)


def entry(port: int) -> dict[str, Any]:
    """The ``stack.json`` entry for a server on ``port``."""
    return {"url": url(port), "host": HOST, "port": port}


def _make_traversable(path: Path, echo: Echo) -> None:
    """Give 'others' execute permission on every folder above ``path`` that lacks it."""
    for parent in reversed(path.parents):
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            echo(f"postgres: chmod o+x {parent} (the postgres user must be able to enter it)")
            parent.chmod(mode | stat.S_IXOTH)


def _initdb(cfg: StackConfig, bin_dir: Path, echo: Echo) -> None:
    base, data, log = _dirs(cfg)
    user = pwd.getpwnam(OS_USER)
    base.mkdir(parents=True, exist_ok=True)
    _make_traversable(base, echo)
    os.chown(base, user.pw_uid, user.pw_gid)
    base.chmod(0o700)
    pwfile = base / "initdb.pw"
    pwfile.write_text(PG_PASSWORD + "\n")
    os.chown(pwfile, user.pw_uid, user.pw_gid)
    pwfile.chmod(0o600)
    echo(f"postgres: initdb {data} (superuser {PG_USER!r})")
    try:
        run(
            [
                "runuser",
                "-u",
                OS_USER,
                "--",
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                PG_USER,
                f"--pwfile={pwfile}",
                "--auth-host=scram-sha-256",
                "--auth-local=peer",
                "--encoding=UTF8",
                "--locale=C",
                "--no-instructions",
            ],
            what="initdb",
            log=log,
            timeout=120,
        )
    finally:
        pwfile.unlink(missing_ok=True)
    with open(data / "postgresql.conf", "a") as conf:
        conf.write(_CONF)


def up(cfg: StackConfig, echo: Echo, *, timeout: float = 90) -> dict[str, Any]:
    """Start PostgreSQL (initdb on first use) and wait until it answers ``select 1``.

    Returns:
        The ``stack.json`` entry.

    Raises:
        ConfigError: the port is taken by another process.
        ServiceUnavailableError: the server did not answer within ``timeout``.
    """
    base, data, log = _dirs(cfg)
    pid, port = _pid_and_port(data)
    if pid is not None and port is not None:
        wait_until(
            lambda: _select_one(port, "postgres"),
            what=f"the running PostgreSQL (pid {pid}) on {HOST}:{port}",
            timeout=timeout,
            log=log,
            pid=pid,
        )
        echo(f"postgres: already running (pid {pid}) on {HOST}:{port}")
        _ensure_database(port, echo)
        return entry(port)
    port = cfg.pg_port
    ensure_port_free(port, what="PostgreSQL", env_var="FEATURELAKE_PG_PORT")
    bin_dir = _bin_dir(echo)
    if not (data / "PG_VERSION").exists():
        if data.exists():
            raise ServiceUnavailableError(
                f"{data} exists but is not a PostgreSQL data folder (no PG_VERSION); "
                "run `featurelake services down --purge --only postgres` to start afresh"
            )
        _initdb(cfg, bin_dir, echo)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.touch()
    user = pwd.getpwnam(OS_USER)
    os.chown(log, user.pw_uid, user.pw_gid)
    echo(f"postgres: starting on {HOST}:{port} (log: {log})")
    run(
        [
            "runuser",
            "-u",
            OS_USER,
            "--",
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(log),
            "-o",
            f"-p {port}",
            "-w",
            "-t",
            str(int(timeout)),
            "start",
        ],
        what="pg_ctl start",
        log=log,
        timeout=timeout + 10,
    )
    wait_until(
        lambda: _select_one(port, "postgres"), what=f"PostgreSQL on {HOST}:{port}", timeout=timeout, log=log
    )
    _ensure_database(port, echo)
    echo(f"postgres: ready at {url(port)}")
    return entry(port)


def _ensure_database(port: int, echo: Echo) -> None:
    with _connect(port, "postgres") as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (PG_DATABASE,)).fetchone()
        if not exists:
            echo(f"postgres: creating database {PG_DATABASE!r}")
            conn.execute(f'create database "{PG_DATABASE}" owner "{PG_USER}"')


def down(cfg: StackConfig, echo: Echo, *, purge: bool = False) -> None:
    """Stop the server (``pg_ctl stop -m fast``) and wait until the postmaster is gone."""
    base, data, log = _dirs(cfg)
    pid, port = _pid_and_port(data)
    if pid is None:
        echo("postgres: not running")
    else:
        echo(f"postgres: stopping (pid {pid})")
        bin_dir = _bin_dir(echo)
        run(
            [
                "runuser",
                "-u",
                OS_USER,
                "--",
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "stop",
                "-m",
                "fast",
                "-w",
                "-t",
                "60",
            ],
            what="pg_ctl stop",
            log=log,
            timeout=75,
        )
        wait_gone(pid, what="postgres")
        echo("postgres: stopped")
    if purge and base.exists():
        echo(f"postgres: removing {base}")
        shutil.rmtree(base)


def status(cfg: StackConfig) -> dict[str, Any]:
    """Whether the server runs and answers ``select 1``, with its address and pid."""
    _, data, log = _dirs(cfg)
    pid, port = _pid_and_port(data)
    port = port if pid is not None and port is not None else cfg.pg_port
    result: dict[str, Any] = {
        "address": f"{HOST}:{port}",
        "url": url(port),
        "pid": pid,
        "running": pid is not None,
        "healthy": False,
        "log": str(log),
    }
    if pid is None:
        result["detail"] = "not running"
        return result
    try:
        result["healthy"] = _select_one(port)
        result["detail"] = "answers select 1"
    except Exception as err:  # noqa: BLE001 - reported, not raised: status is informational
        result["detail"] = f"does not answer: {type(err).__name__}: {err}"
    return result
