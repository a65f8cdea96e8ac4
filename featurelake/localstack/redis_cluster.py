"""A Redis cluster of 3 masters + 3 replicas on consecutive ports (default 7101..7106).

Each node keeps its cluster config (``nodes.conf``) under ``<stack>/redis/<port>/``; data is
not persisted (no AOF, no RDB, ``SHUTDOWN NOSAVE``). The cluster is created with
``redis-cli --cluster create`` only when every node is empty; restarted nodes rejoin from their
``nodes.conf``. Readiness means ``cluster_state:ok`` on every node AND every replica linked.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from featurelake.errors import NotInstalledError, ServiceUnavailableError

from .config import HOST, REDIS_NODE_COUNT, StackConfig
from .process import Echo, ensure_port_free, live_pid, run, spawn, stop_pid, wait_gone, wait_until

NAME = "redis"
NODE_TIMEOUT_MS = 2000


def _binaries(echo: Echo) -> tuple[str, str]:
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server and cli:
        return server, cli
    if shutil.which("apt-get") is None:
        raise NotInstalledError(
            "redis-server/redis-cli not found; install Redis 7 (Debian: redis-server redis-tools)"
        )
    echo("redis: redis-server missing, installing redis-server redis-tools with apt-get (~10 s)")
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-qq"], what="apt-get update", env=env, timeout=300)
    run(
        ["apt-get", "install", "-y", "-qq", "redis-server", "redis-tools"],
        what="apt-get install redis-server",
        env=env,
        timeout=600,
    )
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if not (server and cli):
        raise NotInstalledError(
            "apt-get installed redis-server but redis-server/redis-cli are still not on PATH"
        )
    return server, cli


def _node_dir(cfg: StackConfig, port: int) -> Path:
    return cfg.service_dir(NAME) / str(port)


def _pid_file(cfg: StackConfig, port: int) -> Path:
    return cfg.pids / f"redis-{port}.pid"


def _log(cfg: StackConfig, port: int) -> Path:
    return cfg.logs / f"redis-{port}.log"


def _node_pid(cfg: StackConfig, port: int) -> int | None:
    return live_pid(_pid_file(cfg, port), f":{port}")


def _client(port: int) -> Any:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # No retries: redis-py's default backoff turns SHUTDOWN and "is it up yet?" probes into multi-second waits.
    return redis.Redis(
        host=HOST,
        port=port,
        socket_timeout=3,
        socket_connect_timeout=2,
        decode_responses=True,
        retry=Retry(NoBackoff(), 0),
    )


def nodes(cfg: StackConfig) -> list[str]:
    """host:port of every node."""
    return [f"{HOST}:{p}" for p in cfg.redis_ports]


def entry(cfg: StackConfig) -> dict[str, Any]:
    """The ``stack.json`` entry."""
    return {"nodes": nodes(cfg)}


def _start_node(cfg: StackConfig, server: str, port: int) -> int:
    node_dir = _node_dir(cfg, port)
    node_dir.mkdir(parents=True, exist_ok=True)
    proc = spawn(
        [
            server,
            "--bind",
            HOST,
            "--port",
            str(port),
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            str(NODE_TIMEOUT_MS),
            "--appendonly",
            "no",
            "--save",
            "",
            "--dir",
            str(node_dir),
            "--daemonize",
            "no",
            "--logfile",
            "",
            "--protected-mode",
            "yes",
        ],
        log=_log(cfg, port),
        pid_file=_pid_file(cfg, port),
        cwd=node_dir,
    )
    return proc.pid


def _cluster_info(port: int) -> dict[str, str]:
    with _client(port) as client:
        raw = client.execute_command("CLUSTER", "INFO")
    text = raw if isinstance(raw, str) else raw.decode()
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def _topology(port: int) -> dict[str, Any]:
    """Masters with their slot counts, replicas and whether each replica's link is up."""
    with _client(port) as client:
        raw = client.execute_command("CLUSTER", "NODES")
    text = raw if isinstance(raw, str) else raw.decode()
    masters, replicas = [], []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 8:
            continue
        addr = parts[1].split("@")[0]
        flags = set(parts[2].split(","))
        connected = parts[7] == "connected" and "fail" not in flags and "fail?" not in flags
        if "master" in flags:
            slots = 0
            for spec in parts[8:]:
                if spec.startswith("["):
                    continue  # a slot being migrated/imported
                lo, _, hi = spec.partition("-")
                slots += int(hi or lo) - int(lo) + 1
            masters.append({"address": addr, "slots": slots, "connected": connected})
        elif "slave" in flags:
            replicas.append({"address": addr, "master_id": parts[3], "connected": connected})
    for rep in replicas:
        try:
            with _client(int(rep["address"].rsplit(":", 1)[1])) as client:
                rep["link_up"] = client.info("replication").get("master_link_status") == "up"
        except Exception:  # noqa: BLE001 - an unreachable replica is simply not linked
            rep["link_up"] = False
    return {"masters": masters, "replicas": replicas}


def _ready(cfg: StackConfig) -> dict[str, Any] | None:
    """The topology once every node says cluster_state:ok and 3 replicas are linked; else None."""
    for port in cfg.redis_ports:
        if _cluster_info(port).get("cluster_state") != "ok":
            return None
    topo = _topology(cfg.redis_base_port)
    masters_ok = len(topo["masters"]) == 3 and sum(m["slots"] for m in topo["masters"]) == 16384
    replicas_ok = len(topo["replicas"]) == 3 and all(
        r["link_up"] and r["connected"] for r in topo["replicas"]
    )
    return topo if masters_ok and replicas_ok else None


def up(cfg: StackConfig, echo: Echo, *, timeout: float = 60) -> dict[str, Any]:
    """Start the 6 nodes, create the cluster if they are empty, and wait for it to be healthy.

    Returns:
        The ``stack.json`` entry.

    Raises:
        ConfigError: a node's port is taken by another process.
        ServiceUnavailableError: the cluster did not become healthy within ``timeout``.
    """
    running = {p: _node_pid(cfg, p) for p in cfg.redis_ports}
    if all(running.values()) and _ready(cfg):
        echo(f"redis: already running, cluster ok ({HOST}:{cfg.redis_ports[0]}..{cfg.redis_ports[-1]})")
        return entry(cfg)
    missing = [p for p, pid in running.items() if not pid]
    for port in missing:
        ensure_port_free(port, what=f"Redis node {port}", env_var="FEATURELAKE_REDIS_BASE_PORT")
        ensure_port_free(
            port + 10000, what=f"the cluster bus of Redis node {port}", env_var="FEATURELAKE_REDIS_BASE_PORT"
        )
    server, cli = _binaries(echo) if missing else ("", shutil.which("redis-cli") or "redis-cli")
    started = {}
    for port in missing:
        echo(f"redis: starting node {HOST}:{port} (log: {_log(cfg, port)})")
        started[port] = _start_node(cfg, server, port)
    for port, pid in started.items():
        wait_until(
            lambda port=port: _client(port).ping(),
            what=f"Redis node {HOST}:{port}",
            timeout=timeout,
            log=_log(cfg, port),
            pid=pid,
        )
    infos = {p: _cluster_info(p) for p in cfg.redis_ports}
    empty = [
        p
        for p, info in infos.items()
        if info.get("cluster_known_nodes") == "1" and info.get("cluster_slots_assigned") == "0"
    ]
    if len(empty) == REDIS_NODE_COUNT:
        echo(f"redis: creating the cluster (3 masters + 3 replicas) on {', '.join(nodes(cfg))}")
        run(
            [cli, "--cluster", "create", *nodes(cfg), "--cluster-replicas", "1", "--cluster-yes"],
            what="redis-cli --cluster create",
            log=_log(cfg, cfg.redis_base_port),
            timeout=60,
        )
    elif empty:
        raise ServiceUnavailableError(
            f"Redis nodes {', '.join(map(str, empty))} are empty but the others already form a cluster; "
            "run `featurelake services down --purge --only redis` and `services up` to re-create it"
        )
    else:
        echo("redis: nodes rejoin their existing cluster (nodes.conf)")
    echo("redis: waiting for cluster_state:ok and 3 linked replicas")
    topo = wait_until(
        lambda: _ready(cfg),
        what="the Redis cluster (cluster_state:ok, 3 replicas linked)",
        timeout=timeout,
        log=_log(cfg, cfg.redis_base_port),
    )
    echo(f"redis: ready, {len(topo['masters'])} masters + {len(topo['replicas'])} replicas")
    return entry(cfg)


def down(cfg: StackConfig, echo: Echo, *, purge: bool = False) -> None:
    """``SHUTDOWN NOSAVE`` every node and wait until each process is gone."""
    pids = {p: pid for p in cfg.redis_ports if (pid := _node_pid(cfg, p)) is not None}
    for port, pid in pids.items():
        echo(f"redis: stopping node {port} (pid {pid})")
        try:
            with _client(port) as client:
                # NOW: do not wait up to shutdown-timeout (10 s) for replicas to catch up on data we drop anyway.
                client.execute_command("SHUTDOWN", "NOSAVE", "NOW")
        except Exception:  # noqa: BLE001 - redis-py raises as the connection drops; the wait decides
            pass
    for port, pid in pids.items():
        try:
            wait_gone(pid, what=f"Redis node {port}", timeout=15)
        except ServiceUnavailableError:
            stop_pid(pid, what=f"Redis node {port}")
        _pid_file(cfg, port).unlink(missing_ok=True)
    echo("redis: stopped" if pids else "redis: not running")
    if purge and cfg.service_dir(NAME).exists():
        echo(f"redis: removing {cfg.service_dir(NAME)}")
        shutil.rmtree(cfg.service_dir(NAME))


def status(cfg: StackConfig) -> dict[str, Any]:
    """cluster_state, node count, masters/slots and linked replicas."""
    pids = {str(p): _node_pid(cfg, p) for p in cfg.redis_ports}
    alive = [p for p, pid in pids.items() if pid]
    result: dict[str, Any] = {
        "address": ",".join(nodes(cfg)),
        "nodes": nodes(cfg),
        "pid": pids[str(cfg.redis_base_port)],
        "pids": pids,
        "running": len(alive) == REDIS_NODE_COUNT,
        "healthy": False,
        "log": str(_log(cfg, cfg.redis_base_port)),
    }
    if not alive:
        result["detail"] = "not running"
        return result
    try:
        info = _cluster_info(int(alive[0]))
        topo = _topology(int(alive[0]))
    except Exception as err:  # noqa: BLE001 - reported, not raised
        result["detail"] = f"does not answer: {type(err).__name__}: {err}"
        return result
    linked = sum(1 for r in topo["replicas"] if r["link_up"] and r["connected"])
    result.update(
        cluster_state=info.get("cluster_state"),
        node_count=int(info.get("cluster_known_nodes", 0)),
        masters=len(topo["masters"]),
        slots_covered=sum(m["slots"] for m in topo["masters"]),
        replicas=len(topo["replicas"]),
        replicas_linked=linked,
    )
    result["healthy"] = (
        result["running"]
        and info.get("cluster_state") == "ok"
        and result["node_count"] == REDIS_NODE_COUNT
        and result["masters"] == 3
        and result["slots_covered"] == 16384
        and linked == 3
    )
    result["detail"] = (
        f"cluster_state:{info.get('cluster_state')}, {result['node_count']} nodes, {result['masters']} masters, "
        f"{linked}/{len(topo['replicas'])} replicas linked, {len(alive)}/{REDIS_NODE_COUNT} processes"
    )
    return result
