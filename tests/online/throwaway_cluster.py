"""A private 6-node Redis cluster (3 masters + 3 replicas) for tests that kill nodes.

Runs on 127.0.0.1 ports 7201-7206 (never the shared stack's 7101-7106) in a temporary
folder, with cluster-node-timeout 2000 ms so a replica takes over ~2-4 s after its master dies.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import redis

PORTS = list(range(7201, 7207))


def _free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (redis.exceptions.RedisError, OSError):
            pass
        time.sleep(0.1)
    raise TimeoutError(f"throwaway Redis cluster: {what} not reached within {timeout}s")


class ThrowawayCluster:
    """Start, inspect, kill and restart nodes of a private cluster."""

    def __init__(self, root: Path, ports: list[int] = PORTS):
        self.root = root
        self.ports = ports
        self.procs: dict[int, subprocess.Popen] = {}

    @property
    def nodes(self) -> list[str]:
        return [f"127.0.0.1:{p}" for p in self.ports]

    def start_node(self, port: int) -> None:
        d = self.root / str(port)
        d.mkdir(parents=True, exist_ok=True)
        self.procs[port] = subprocess.Popen(  # noqa: S603 - fixed argv
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "2000",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(d),
                "--daemonize",
                "no",
                "--logfile",
                "redis.log",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait(lambda: redis.Redis(port=port, socket_timeout=0.5).ping(), 10, f"node {port} up")

    def start(self) -> None:
        busy = [p for p in self.ports if not _free(p)]
        if busy:
            raise RuntimeError(f"ports {busy} are in use; another throwaway cluster may still be running")
        for port in self.ports:
            self.start_node(port)
        subprocess.run(  # noqa: S603
            [
                shutil.which("redis-cli") or "redis-cli",
                "--cluster",
                "create",
                *self.nodes,
                "--cluster-replicas",
                "1",
                "--cluster-yes",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )
        self.wait_healthy()

    def wait_healthy(self, timeout: float = 30) -> None:
        def ok() -> bool:
            for port in self.live_ports():
                r = redis.Redis(port=port, socket_timeout=0.5)
                if r.cluster("info").get("cluster_state") != "ok":
                    return False
            masters = self.masters()
            links = 0
            for port in self.live_ports():
                info = redis.Redis(port=port, socket_timeout=0.5).info("replication")
                if info.get("role") == "slave" and info.get("master_link_status") == "up":
                    links += 1
            return len(masters) == 3 and links >= len(self.live_ports()) - 3

        _wait(ok, timeout, "cluster_state ok with replicas linked")

    def live_ports(self) -> list[int]:
        return [p for p, proc in self.procs.items() if proc.poll() is None]

    def masters(self) -> list[int]:
        out = []
        for port in self.live_ports():
            if redis.Redis(port=port, socket_timeout=0.5).info("replication").get("role") == "master":
                out.append(port)
        return out

    def master_of_slot(self, slot: int) -> int:
        r = redis.Redis(port=self.live_ports()[0], socket_timeout=0.5)
        for start, end, master, *_ in r.execute_command("CLUSTER", "SLOTS"):
            if start <= slot <= end:
                return int(master[1])
        raise LookupError(slot)

    def replica_of(self, master: int) -> int:
        """The port of ``master``'s (first) replica."""
        info = redis.Redis(port=master, socket_timeout=0.5).info("replication")
        return int(info["slave0"]["port"])

    def pause(self, port: int) -> None:
        """Freeze a node (SIGSTOP): it neither answers nor acknowledges replication."""
        self.procs[port].send_signal(signal.SIGSTOP)

    def resume(self, port: int) -> None:
        self.procs[port].send_signal(signal.SIGCONT)

    def kill(self, port: int) -> None:
        proc = self.procs[port]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)
        self.procs.clear()


@contextmanager
def throwaway_cluster(root: Path):
    """Start a private cluster under ``root``; kill every node afterwards."""
    cluster = ThrowawayCluster(root)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        if os.environ.get("FEATURELAKE_KEEP_THROWAWAY") is None:
            shutil.rmtree(root, ignore_errors=True)
