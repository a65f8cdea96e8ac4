"""A Spark standalone master and one worker, from the pip-installed pyspark, on 127.0.0.1.

``spark-class`` execs the JVM, so the pid we record is the Java process. Readiness means the
master's web UI ``/json`` lists the worker as ALIVE. The worker's scratch folder and the
daemons' logs live under the stack folder; finished applications' folders are cleaned up.
"""

from __future__ import annotations

import json
import shutil
import sys
import urllib.request
from pathlib import Path
from typing import Any

from featurelake.errors import NotInstalledError

from .config import HOST, StackConfig
from .process import Echo, cmdline, ensure_port_free, live_pid, spawn, stop_pid, wait_until

NAME = "spark"
WORKER_CORES = 2
WORKER_MEMORY = "2g"
_MASTER_CLASS = "org.apache.spark.deploy.master.Master"
_WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


def _spark_home() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        raise NotInstalledError("pyspark is not installed; run `make install`")
    home = Path(spec.origin).parent
    if not (home / "bin" / "spark-class").exists():
        raise NotInstalledError(
            f"{home}/bin/spark-class is missing; reinstall pyspark (pip install -c requirements.lock pyspark)"
        )
    if shutil.which("java") is None:
        raise NotInstalledError("`java` not found; Spark needs Java 17: run `make java`")
    return home


def _paths(cfg: StackConfig) -> dict[str, Path]:
    return {
        "master_pid": cfg.pids / "spark-master.pid",
        "worker_pid": cfg.pids / "spark-worker.pid",
        "master_log": cfg.logs / "spark-master.log",
        "worker_log": cfg.logs / "spark-worker.log",
        "work": cfg.service_dir(NAME) / "work",
        "local": cfg.service_dir(NAME) / "local",
    }


def _arg_after(pid: int, flag: str) -> str | None:
    args = cmdline(pid).split()
    return args[args.index(flag) + 1] if flag in args and args.index(flag) + 1 < len(args) else None


def _ports(cfg: StackConfig, master_pid: int | None) -> tuple[int, int]:
    """(master port, web UI port) of the running master, else the configured ones."""
    if master_pid:
        port, web = _arg_after(master_pid, "--port"), _arg_after(master_pid, "--webui-port")
        if port and web and port.isdigit() and web.isdigit():
            return int(port), int(web)
    return cfg.spark_port, cfg.spark_web_port


def entry(port: int, web_port: int) -> dict[str, Any]:
    """The ``stack.json`` entry."""
    return {"master_url": f"spark://{HOST}:{port}", "web_url": f"http://{HOST}:{web_port}"}


def master_json(web_port: int) -> dict[str, Any]:
    """The master web UI's ``/json`` summary (workers, apps, status)."""
    with urllib.request.urlopen(f"http://{HOST}:{web_port}/json/", timeout=3) as resp:  # noqa: S310 - loopback
        return json.loads(resp.read())


def _alive_workers(web_port: int) -> list[dict[str, Any]]:
    return [w for w in master_json(web_port).get("workers", []) if w.get("state") == "ALIVE"]


def _env(cfg: StackConfig, paths: dict[str, Path]) -> dict[str, str]:
    return {
        "SPARK_LOCAL_IP": HOST,
        "SPARK_LOG_DIR": str(cfg.logs),
        "SPARK_LOCAL_DIRS": str(paths["local"]),
        "SPARK_WORKER_DIR": str(paths["work"]),
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        # Remove finished applications' folders after an hour so the work dir does not grow forever.
        "SPARK_WORKER_OPTS": "-Dspark.worker.cleanup.enabled=true -Dspark.worker.cleanup.appDataTtl=3600",
        # The master's REST submission server would take port 6066 for nothing: spark-submit uses 7077-style URLs.
        "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false",
        "TZ": "UTC",
    }


def up(cfg: StackConfig, echo: Echo, *, timeout: float = 90) -> dict[str, Any]:
    """Start the master and one worker and wait until the master lists the worker ALIVE.

    Returns:
        The ``stack.json`` entry.

    Raises:
        ConfigError: a port is taken by another process.
        NotInstalledError: pyspark or java is missing.
        ServiceUnavailableError: the master or worker did not come up within ``timeout``.
    """
    paths = _paths(cfg)
    master_pid = live_pid(paths["master_pid"], _MASTER_CLASS)
    worker_pid = live_pid(paths["worker_pid"], _WORKER_CLASS)
    port, web_port = _ports(cfg, master_pid)
    if master_pid and worker_pid:
        workers = wait_until(
            lambda: _alive_workers(web_port),
            what="a Spark worker to register as ALIVE",
            timeout=timeout,
            log=paths["worker_log"],
            pid=worker_pid,
        )
        echo(
            f"spark: already running (master pid {master_pid}, worker pid {worker_pid}, "
            f"{len(workers)} worker alive) at spark://{HOST}:{port}"
        )
        return entry(port, web_port)
    home = _spark_home()
    env = _env(cfg, paths)
    for p in (paths["work"], paths["local"]):
        p.mkdir(parents=True, exist_ok=True)
    spark_class = str(home / "bin" / "spark-class")
    if master_pid is None:
        ensure_port_free(port, what="the Spark master", env_var="FEATURELAKE_SPARK_PORT")
        ensure_port_free(web_port, what="the Spark master web UI", env_var="FEATURELAKE_SPARK_WEB_PORT")
        echo(
            f"spark: starting master on spark://{HOST}:{port}, web UI http://{HOST}:{web_port} "
            f"(log: {paths['master_log']})"
        )
        proc = spawn(
            [spark_class, _MASTER_CLASS, "--host", HOST, "--port", str(port), "--webui-port", str(web_port)],
            log=paths["master_log"],
            pid_file=paths["master_pid"],
            env=env,
            cwd=cfg.root,
        )
        master_pid = proc.pid
        wait_until(
            lambda: master_json(web_port).get("status") == "ALIVE",
            what="the Spark master",
            timeout=timeout,
            log=paths["master_log"],
            pid=master_pid,
        )
    if worker_pid is None:
        worker_web = web_port + 1
        ensure_port_free(worker_web, what="the Spark worker web UI", env_var="FEATURELAKE_SPARK_WEB_PORT")
        echo(f"spark: starting worker ({WORKER_CORES} cores, {WORKER_MEMORY}) (log: {paths['worker_log']})")
        proc = spawn(
            [
                spark_class,
                _WORKER_CLASS,
                f"spark://{HOST}:{port}",
                "--host",
                HOST,
                "--cores",
                str(WORKER_CORES),
                "--memory",
                WORKER_MEMORY,
                "--webui-port",
                str(worker_web),
                "--work-dir",
                str(paths["work"]),
            ],
            log=paths["worker_log"],
            pid_file=paths["worker_pid"],
            env=env,
            cwd=cfg.root,
        )
        worker_pid = proc.pid
    echo("spark: waiting for the worker to register as ALIVE")
    wait_until(
        lambda: _alive_workers(web_port),
        what="a Spark worker to register as ALIVE",
        timeout=timeout,
        log=paths["worker_log"],
        pid=worker_pid,
    )
    echo(f"spark: ready at spark://{HOST}:{port}")
    return entry(port, web_port)


def down(cfg: StackConfig, echo: Echo, *, purge: bool = False) -> None:
    """Stop the worker, then the master, and wait until both processes are gone."""
    paths = _paths(cfg)
    stopped = False
    for role, cls in (("worker", _WORKER_CLASS), ("master", _MASTER_CLASS)):
        pid = live_pid(paths[f"{role}_pid"], cls)
        if pid is not None:
            stopped = True
            echo(f"spark: stopping {role} (pid {pid})")
            stop_pid(pid, what=f"Spark {role}")
        paths[f"{role}_pid"].unlink(missing_ok=True)
    echo("spark: stopped" if stopped else "spark: not running")
    if purge and cfg.service_dir(NAME).exists():
        echo(f"spark: removing {cfg.service_dir(NAME)}")
        shutil.rmtree(cfg.service_dir(NAME))


def status(cfg: StackConfig) -> dict[str, Any]:
    """Whether master and worker run and how many workers the master sees ALIVE."""
    paths = _paths(cfg)
    master_pid = live_pid(paths["master_pid"], _MASTER_CLASS)
    worker_pid = live_pid(paths["worker_pid"], _WORKER_CLASS)
    port, web_port = _ports(cfg, master_pid)
    result: dict[str, Any] = {
        "address": f"{HOST}:{port}",
        "master_url": f"spark://{HOST}:{port}",
        "web_url": f"http://{HOST}:{web_port}",
        "pid": master_pid,
        "pids": {"master": master_pid, "worker": worker_pid},
        "running": bool(master_pid and worker_pid),
        "healthy": False,
        "log": str(paths["master_log"]),
    }
    if master_pid is None:
        result["detail"] = "master not running" + ("" if worker_pid else ", worker not running")
        return result
    try:
        alive = _alive_workers(web_port)
    except Exception as err:  # noqa: BLE001 - reported, not raised
        result["detail"] = f"master does not answer: {type(err).__name__}: {err}"
        return result
    result["workers_alive"] = len(alive)
    result["cores"] = sum(int(w.get("cores", 0)) for w in alive)
    result["healthy"] = len(alive) >= 1 and worker_pid is not None
    result["detail"] = f"{len(alive)} worker(s) ALIVE, {result['cores']} cores" + (
        "" if worker_pid else "; worker process not running"
    )
    return result
