"""An S3-compatible server: ``moto_server`` as a separate process on 127.0.0.1 (default :59000).

A separate process, not moto's in-process ThreadedMotoServer (which hung delta-rs); it honours
If-None-Match, so concurrent delta-rs commits are safe. Its data lives in memory: it is lost
when the server stops. The bucket ``featurelake`` is created on every start.
"""

from __future__ import annotations

import sys
import urllib.request
from pathlib import Path
from typing import Any

from featurelake.errors import NotInstalledError

from .config import HOST, S3_ACCESS_KEY, S3_BUCKET, S3_REGION, S3_SECRET_KEY, StackConfig
from .process import Echo, ensure_port_free, live_pid, spawn, stop_pid, wait_until

NAME = "s3"
_MARKER = "moto_server"


def _paths(cfg: StackConfig) -> tuple[Path, Path]:
    return cfg.pids / "s3.pid", cfg.logs / "s3.log"


def endpoint(port: int) -> str:
    return f"http://{HOST}:{port}"


def _port_from_cmdline(pid: int, default: int) -> int:
    from .process import cmdline

    args = cmdline(pid).split()
    if "-p" in args and args.index("-p") + 1 < len(args) and args[args.index("-p") + 1].isdigit():
        return int(args[args.index("-p") + 1])
    return default


def entry(port: int) -> dict[str, Any]:
    """The ``stack.json`` entry."""
    return {
        "endpoint_url": endpoint(port),
        "bucket": S3_BUCKET,
        "access_key_id": S3_ACCESS_KEY,
        "secret_access_key": S3_SECRET_KEY,
        "region": S3_REGION,
    }


def client(port: int) -> Any:
    """A boto3 S3 client for the server on ``port`` (short timeouts, no retries)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint(port),
        aws_access_key_id=S3_ACCESS_KEY,
        aws_secret_access_key=S3_SECRET_KEY,
        region_name=S3_REGION,
        config=Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 1}),
    )


def _answers(port: int) -> bool:
    with urllib.request.urlopen(f"{endpoint(port)}/", timeout=2) as resp:  # noqa: S310 - our loopback URL
        return resp.status == 200


def _bucket_exists(port: int) -> bool:
    names = {b["Name"] for b in client(port).list_buckets().get("Buckets", [])}
    return S3_BUCKET in names


def _ensure_bucket(port: int, echo: Echo) -> None:
    if not _bucket_exists(port):
        echo(f"s3: creating bucket {S3_BUCKET!r}")
        client(port).create_bucket(Bucket=S3_BUCKET)


def up(cfg: StackConfig, echo: Echo, *, timeout: float = 60) -> dict[str, Any]:
    """Start moto_server, wait until it answers, and create the bucket.

    Returns:
        The ``stack.json`` entry.

    Raises:
        ConfigError: the port is taken by another process.
        NotInstalledError: moto_server is not installed in this environment.
        ServiceUnavailableError: it did not answer within ``timeout``.
    """
    pid_file, log = _paths(cfg)
    pid = live_pid(pid_file, _MARKER)
    if pid is not None:
        port = _port_from_cmdline(pid, cfg.s3_port)
        wait_until(
            lambda: _answers(port), what=f"moto_server on {HOST}:{port}", timeout=timeout, log=log, pid=pid
        )
        _ensure_bucket(port, echo)
        echo(f"s3: already running (pid {pid}) at {endpoint(port)}")
        return entry(port)
    port = cfg.s3_port
    ensure_port_free(port, what="the S3 server (moto_server)", env_var="FEATURELAKE_S3_PORT")
    exe = Path(sys.executable).parent / "moto_server"
    if not exe.exists():
        raise NotInstalledError(f"{exe} not found; install the dev extra: .venv/bin/pip install -e '.[dev]'")
    echo(f"s3: starting moto_server on {HOST}:{port} (log: {log})")
    proc = spawn([str(exe), "-H", HOST, "-p", str(port)], log=log, pid_file=pid_file, cwd=cfg.root)
    wait_until(
        lambda: _answers(port), what=f"moto_server on {HOST}:{port}", timeout=timeout, log=log, pid=proc.pid
    )
    _ensure_bucket(port, echo)
    echo(f"s3: ready at {endpoint(port)}, bucket {S3_BUCKET!r}")
    return entry(port)


def down(cfg: StackConfig, echo: Echo, *, purge: bool = False) -> None:
    """Stop moto_server by its pid file and wait until it is gone (its data is in memory)."""
    pid_file, _ = _paths(cfg)
    pid = live_pid(pid_file, _MARKER)
    if pid is None:
        echo("s3: not running")
    else:
        echo(f"s3: stopping moto_server (pid {pid})")
        stop_pid(pid, what="moto_server")
        echo("s3: stopped")
    pid_file.unlink(missing_ok=True)


def status(cfg: StackConfig) -> dict[str, Any]:
    """Whether moto_server runs and the bucket exists."""
    pid_file, log = _paths(cfg)
    pid = live_pid(pid_file, _MARKER)
    port = _port_from_cmdline(pid, cfg.s3_port) if pid else cfg.s3_port
    result: dict[str, Any] = {
        "address": f"{HOST}:{port}",
        "endpoint_url": endpoint(port),
        "bucket": S3_BUCKET,
        "pid": pid,
        "running": pid is not None,
        "healthy": False,
        "log": str(log),
    }
    if pid is None:
        result["detail"] = "not running"
        return result
    try:
        exists = _bucket_exists(port)
        result["healthy"] = exists
        result["detail"] = f"bucket {S3_BUCKET!r} exists" if exists else f"bucket {S3_BUCKET!r} is missing"
    except Exception as err:  # noqa: BLE001 - reported, not raised
        result["detail"] = f"does not answer: {type(err).__name__}: {err}"
    return result
