"""A private 6-node Redis cluster (3 masters + 3 replicas) for tests that kill nodes.

Runs on 127.0.0.1 ports 7201-7206 (never the shared stack's 7101-7106) in a temporary
folder, with cluster-node-timeout 2000 ms so a replica takes over ~2-4 s after its master dies.

Optionally like production (ElastiCache): ``password=`` sets ``requirepass`` and ``masterauth``
on every node, and ``tls=True`` serves TLS only (``--port 0``; client, replication and cluster
bus links all TLS) with a throwaway CA and a server certificate for 127.0.0.1/localhost made
with the ``openssl`` CLI; :attr:`ThrowawayCluster.ca_file` is the CA bundle clients must trust.
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
_SERVER_EXT = """basicConstraints = CA:FALSE
keyUsage = digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
"""


def make_test_ca(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 and localhost, valid for 2 days.

    Returns:
        ``(ca_file, cert_file, key_file)``, PEM files in ``folder``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    openssl = shutil.which("openssl") or "openssl"
    ca, ca_key = folder / "ca.pem", folder / "ca.key"
    cert, key, csr, ext = (
        folder / "server.pem",
        folder / "server.key",
        folder / "server.csr",
        folder / "server.ext",
    )
    ext.write_text(_SERVER_EXT)
    steps = [
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            ca_key,
            "-out",
            ca,
            "-days",
            "2",
        ]
        + ["-subj", "/CN=featurelake throwaway test CA"],
        [openssl, "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr]
        + ["-subj", "/CN=127.0.0.1"],
        [openssl, "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert]
        + ["-days", "2", "-extfile", ext],
    ]
    for argv in steps:
        subprocess.run([str(a) for a in argv], check=True, capture_output=True, timeout=60)  # noqa: S603
    return ca, cert, key


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
    """Start, inspect, kill and restart nodes of a private cluster.

    Args:
        root: folder for the nodes' files (and the TLS certificates).
        ports: the nodes' ports (client port; the cluster bus is port + 10000).
        password: AUTH password of every node (``requirepass`` and ``masterauth``); None: none.
        tls: serve TLS only, with certificates from :func:`make_test_ca`.
    """

    def __init__(
        self, root: Path, ports: list[int] = PORTS, *, password: str | None = None, tls: bool = False
    ):
        self.root = root
        self.ports = ports
        self.password = password
        self.tls = tls
        self.procs: dict[int, subprocess.Popen] = {}
        self.ca_file: Path | None = None
        self._cert: tuple[Path, Path] | None = None

    @property
    def nodes(self) -> list[str]:
        return [f"127.0.0.1:{p}" for p in self.ports]

    def client(self, port: int) -> redis.Redis:
        """A plain (non-cluster) redis-py client of one node, with this cluster's AUTH and TLS."""
        extra: dict = {"ssl": True, "ssl_ca_certs": str(self.ca_file)} if self.tls else {}
        return redis.Redis(port=port, password=self.password, socket_timeout=0.5, **extra)

    def _server_args(self, port: int) -> list[str]:
        args: list[str] = []
        if self.password is not None:
            args += ["--requirepass", self.password, "--masterauth", self.password]
        if self.tls:
            if self._cert is None:
                self.ca_file, *cert = make_test_ca(self.root / "tls")
                self._cert = (cert[0], cert[1])
            args += [
                "--port",
                "0",
                "--tls-port",
                str(port),
                "--tls-cluster",
                "yes",
                "--tls-replication",
                "yes",
            ]
            args += ["--tls-cert-file", str(self._cert[0]), "--tls-key-file", str(self._cert[1])]
            args += ["--tls-ca-cert-file", str(self.ca_file), "--tls-auth-clients", "no"]
        else:
            args += ["--port", str(port)]
        return args

    def _cli_args(self) -> list[str]:
        args = [shutil.which("redis-cli") or "redis-cli"]
        if self.password is not None:
            args += ["-a", self.password, "--no-auth-warning"]
        if self.tls:
            args += ["--tls", "--cacert", str(self.ca_file)]
        return args

    def start_node(self, port: int) -> None:
        d = self.root / str(port)
        d.mkdir(parents=True, exist_ok=True)
        self.procs[port] = subprocess.Popen(  # noqa: S603 - fixed argv
            [
                shutil.which("redis-server") or "redis-server",
                *self._server_args(port),
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
        _wait(lambda: self.client(port).ping(), 10, f"node {port} up")

    def start(self) -> None:
        busy = [p for p in self.ports if not _free(p)]
        if busy:
            raise RuntimeError(f"ports {busy} are in use; another throwaway cluster may still be running")
        for port in self.ports:
            self.start_node(port)
        subprocess.run(  # noqa: S603
            [
                *self._cli_args(),
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
                r = self.client(port)
                if r.cluster("info").get("cluster_state") != "ok":
                    return False
            masters = self.masters()
            links = 0
            for port in self.live_ports():
                info = self.client(port).info("replication")
                if info.get("role") == "slave" and info.get("master_link_status") == "up":
                    links += 1
            return len(masters) == 3 and links >= len(self.live_ports()) - 3

        _wait(ok, timeout, "cluster_state ok with replicas linked")

    def live_ports(self) -> list[int]:
        return [p for p, proc in self.procs.items() if proc.poll() is None]

    def masters(self) -> list[int]:
        out = []
        for port in self.live_ports():
            if self.client(port).info("replication").get("role") == "master":
                out.append(port)
        return out

    def master_of_slot(self, slot: int) -> int:
        r = self.client(self.live_ports()[0])
        for start, end, master, *_ in r.execute_command("CLUSTER", "SLOTS"):
            if start <= slot <= end:
                return int(master[1])
        raise LookupError(slot)

    def replica_of(self, master: int) -> int:
        """The port of ``master``'s (first) replica."""
        info = self.client(master).info("replication")
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
def throwaway_cluster(root: Path, *, password: str | None = None, tls: bool = False):
    """Start a private cluster under ``root``; kill every node afterwards.

    Args:
        root: folder for the nodes' files.
        password: AUTH password of every node (None: none).
        tls: serve TLS only (the CA to trust is ``cluster.ca_file``).
    """
    cluster = ThrowawayCluster(root, password=password, tls=tls)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        if os.environ.get("FEATURELAKE_KEEP_THROWAWAY") is None:
            shutil.rmtree(root, ignore_errors=True)
