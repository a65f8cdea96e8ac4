"""A private 6-node Redis cluster (3 masters + 3 replicas) for tests that kill nodes.

Runs on 127.0.0.1 ports 7201-7206 (never the shared stack's 7101-7106) in a temporary
folder, with cluster-node-timeout 2000 ms so a replica takes over ~2-4 s after its master dies.

Optionally like production (ElastiCache): ``password=`` sets ``requirepass`` and ``masterauth``
on every node, and ``tls=True`` serves TLS only (``--port 0``; client, replication and cluster
bus links all TLS) with a throwaway CA and a server certificate for 127.0.0.1/localhost made
with ``cryptography``; :attr:`ThrowawayCluster.ca_file` is the CA bundle clients must trust.
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


def make_test_ca(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 and localhost, valid for 2 days.

    Made with the ``cryptography`` package (pinned in requirements.lock), so no ``openssl``
    binary is needed on the machine.

    Returns:
        ``(ca_file, cert_file, key_file)``, PEM files in ``folder``.
    """
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)

    def key_pem(key: rsa.RSAPrivateKey) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "featurelake throwaway test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca, cert, key = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(key_pem(server_key))
    key.chmod(0o600)
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
        node_timeout_ms: cluster-node-timeout (how long before an unresponsive node is flagged).
    """

    def __init__(
        self,
        root: Path,
        ports: list[int] = PORTS,
        *,
        password: str | None = None,
        tls: bool = False,
        node_timeout_ms: int = 2000,
    ):
        self.root = root
        self.node_timeout_ms = node_timeout_ms
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
                str(self.node_timeout_ms),
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

    def wait_streaming(self, master: int, timeout: float = 30) -> int:
        """Wait until ``master`` streams to a replica that is online from the master's side.

        A replica reports ``master_link_status:up`` before its master lists it in ``ROLE``
        (the master puts it online on its first ``REPLCONF ACK``), so tests that rely on the
        replica acknowledging writes wait for the master's view, not the replica's.

        Returns:
            The port of the first replica ``ROLE`` lists.
        """
        found: list[int] = []

        def streaming() -> bool:
            role = self.client(master).execute_command("ROLE")
            found[:] = [int(r[1]) for r in role[2]]
            return bool(found)

        _wait(streaming, timeout, f"master {master} streaming to a replica")
        return found[0]

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
def throwaway_cluster(
    root: Path, *, password: str | None = None, tls: bool = False, node_timeout_ms: int = 2000
):
    """Start a private cluster under ``root``; kill every node afterwards.

    Args:
        root: folder for the nodes' files.
        password: AUTH password of every node (None: none).
        tls: serve TLS only (the CA to trust is ``cluster.ca_file``).
        node_timeout_ms: cluster-node-timeout of every node.
    """
    cluster = ThrowawayCluster(root, password=password, tls=tls, node_timeout_ms=node_timeout_ms)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        if os.environ.get("FEATURELAKE_KEEP_THROWAWAY") is None:
            shutil.rmtree(root, ignore_errors=True)
