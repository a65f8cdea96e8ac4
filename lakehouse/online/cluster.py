"""A small Redis Cluster client: slot routing, one pipelined round trip per node, retries.

Why not ``redis.cluster.RedisCluster``: its pipeline sends to one node after another and
retries per command; featurelake needs (a) every node's pipeline sent before any reply is
read (one round trip per node, in parallel, for online reads), (b) EVALSHA routed by key with
NOSCRIPT handled per node, and (c) a bounded retry loop with backoff that survives a master
failover (connection errors, MOVED, CLUSTERDOWN while the replica is promoted) and then
fails with a clear error. Commands passed to :meth:`ClusterClient.execute` must be idempotent
(featurelake's writes are newer-wins compare-and-set, so replaying them is safe).

A client may be shared by threads: connections are per thread, the slot map is shared.
"""

from __future__ import annotations

import random
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.connection import Connection, SSLConnection
from redis.crc import key_slot
from redis.exceptions import (
    AskError,
    AuthenticationError,
    BusyLoadingError,
    ClusterDownError,
    MasterDownError,
    MovedError,
    NoScriptError,
    ReadOnlyError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from featurelake.errors import ConfigError, ServiceUnavailableError

SLOTS = 16384
WAIT_TIMEOUT_MS = 1000  # how long a master waits for its replicas to confirm a pipeline
_RETRYABLE = (BusyLoadingError, ClusterDownError, MasterDownError, TryAgainError, ReadOnlyError)
_NET_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)
_ASKING = b"*1\r\n$6\r\nASKING\r\n"


def resp_bulk(value: bytes) -> bytes:
    """One RESP bulk string (``$len CRLF value CRLF``)."""
    return b"$%d\r\n%s\r\n" % (len(value), value)


def resp_command(*args: bytes) -> bytes:
    """A whole command in RESP form."""
    return b"*%d\r\n" % len(args) + b"".join(resp_bulk(a) for a in args)


@dataclass(frozen=True)
class Command:
    """One Redis command routed by ``key`` (``args`` is the full command, name first)."""

    key: bytes
    args: tuple[Any, ...]
    script: str | None = None  # Lua source, when args is an EVALSHA of it
    packed: bytes | None = None  # the command already in RESP form (then args is informational)


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep retrying a batch through failovers and topology changes."""

    max_attempts: int = 12
    backoff_initial: float = 0.05
    backoff_max: float = 1.0
    deadline_seconds: float = 30.0


@dataclass
class _Pending:
    index: int
    command: Command
    node: str | None = None  # forced target (ASK / MOVED), else routed by slot
    asking: bool = False


@dataclass
class _State:
    slots: list[str] = field(default_factory=list)  # slot -> "host:port" of its master
    replicas: dict[str, int] | None = None  # master -> replicas online (ROLE), read when first needed


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _ssl_cause(err: BaseException) -> BaseException | None:
    """The :mod:`ssl` error behind a redis-py connection error, if any."""
    seen: BaseException | None = err
    for _ in range(5):
        if seen is None or isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def parse_nodes(nodes: Sequence[str]) -> list[tuple[str, int]]:
    """``["host:port", ...]`` -> ``[(host, port), ...]``.

    Raises:
        ConfigError: empty list or a node that is not ``host:port``.
    """
    if not nodes:
        raise ConfigError(
            "no Redis cluster nodes configured; set online.nodes in featurelake.yaml or "
            "FEATURELAKE_ONLINE_NODES=127.0.0.1:7101,... (or run `featurelake services up`)"
        )
    out = []
    for node in nodes:
        host, _, port = str(node).rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(f"Redis node {node!r} is not host:port (e.g. 127.0.0.1:7101)")
        out.append((host, int(port)))
    return out


class ClusterClient:
    """Routes commands to the masters of a Redis Cluster and retries them through failovers.

    Args:
        nodes: seed nodes as ``host:port``; any reachable one yields the topology.
        password: AUTH password, if the cluster has one.
        username: Redis 6+ ACL user for ``password`` (None: the default user).
        ssl: connect with TLS, verifying the server certificate and host name.
        ssl_ca_file: PEM CA bundle to trust besides the system CAs (a private CA); needs ``ssl``.
        credentials_from: where ``password``/``username`` came from, for error messages (None:
            featurelake.yaml's ``online.password_env``/``online.username_env``).
        socket_timeout: seconds to wait for a reply before treating the node as down.
        connect_timeout: seconds to wait for a TCP connection.
        retry: retry policy for :meth:`execute`.
    """

    def __init__(
        self,
        nodes: Sequence[str],
        *,
        password: str | None = None,
        username: str | None = None,
        ssl: bool = False,
        ssl_ca_file: str | None = None,
        credentials_from: str | None = None,
        socket_timeout: float = 2.0,
        connect_timeout: float = 1.0,
        retry: RetryPolicy | None = None,
    ):
        self._seeds = [f"{h}:{p}" for h, p in parse_nodes(nodes)]
        if ssl_ca_file and not ssl:
            raise ConfigError(
                f"online.ssl_ca_file is {ssl_ca_file!r} but online.ssl is false; set online.ssl: true or remove it"
            )
        self._password = password
        self._username = username
        self._ssl = ssl
        self._ssl_ca_file = ssl_ca_file
        self._credentials_from = credentials_from
        self._socket_timeout = socket_timeout
        self._connect_timeout = connect_timeout
        self.retry = retry or RetryPolicy()
        self._state = _State()
        self._known: list[str] = list(self._seeds)
        self._local = threading.local()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ connections
    def _conn(self, node: str) -> Connection:
        conns: dict[str, Connection] | None = getattr(self._local, "conns", None)
        if conns is None:
            conns = self._local.conns = {}
        conn = conns.get(node)
        if conn is None:
            host, _, port = node.rpartition(":")
            common: dict[str, Any] = {
                "host": host,
                "port": int(port),
                "username": self._username,
                "password": self._password,
                "socket_timeout": self._socket_timeout,
                "socket_connect_timeout": self._connect_timeout,
                "decode_responses": False,
            }
            if self._ssl:
                conn = SSLConnection(ssl_ca_certs=self._ssl_ca_file, ssl_cert_reqs="required", **common)
            else:
                conn = Connection(**common)
            conns[node] = conn
        return conn

    def close(self) -> None:
        """Close this thread's connections."""
        for conn in getattr(self._local, "conns", {}).values():
            conn.disconnect()
        self._local.conns = {}

    # ------------------------------------------------------------------ topology
    def refresh(self) -> None:
        """Read the slot map (CLUSTER SLOTS) from the first node that answers.

        Raises:
            ServiceUnavailableError: no node answered, or the cluster does not cover all slots.
        """
        errors: list[str] = []
        for node in dict.fromkeys(self._known + self._seeds):
            conn = self._conn(node)
            try:
                conn.send_command("CLUSTER", "SLOTS")
                reply = conn.read_response()
            except _NET_ERRORS as err:
                conn.disconnect()
                self._raise_if_misconfigured(node, err)
                errors.append(f"{node}: {err}")
                continue
            except ResponseError as err:
                errors.append(f"{node}: {err}")
                continue
            slots = [""] * SLOTS
            known: list[str] = []
            for start, end, master, *replicas in reply:
                host = _text(master[0]) or node.rpartition(":")[0]
                addr = f"{host}:{int(master[1])}"
                slots[int(start) : int(end) + 1] = [addr] * (int(end) - int(start) + 1)
                known.append(addr)
                for r in replicas:
                    rhost = _text(r[0])
                    known.append(f"{rhost or host}:{int(r[1])}")
            if "" in slots:
                errors.append(f"{node}: {slots.count('')} hash slots are not served (cluster_state not ok)")
                continue
            with self._lock:
                self._state = _State(slots=slots)
                self._known = list(dict.fromkeys(known + self._known))
            return
        raise ServiceUnavailableError(
            "the Redis cluster at "
            + ",".join(self._seeds)
            + " is unavailable ("
            + "; ".join(errors[-6:])
            + "); "
            + self._tls_hint(errors)
            + "start it (`featurelake services up`) or fix online.nodes"
        )

    def _raise_if_misconfigured(self, node: str, err: Exception) -> None:
        """Raise a :class:`ConfigError` for failures that retrying cannot fix (AUTH, TLS trust)."""
        text = str(err)
        if isinstance(err, AuthenticationError):
            who = f"user {self._username!r} with " if self._username else ""
            if self._credentials_from is not None:
                raise ConfigError(
                    f"Redis node {node} refused {who}the credentials ({text}); fix password= (and username=) "
                    f"in {self._credentials_from}"
                ) from None
            if self._password is None:
                raise ConfigError(
                    f"Redis node {node} requires a password ({text}); set online.password_env to the name of "
                    "the environment variable holding the cluster's AUTH token, and export it"
                ) from None
            raise ConfigError(
                f"Redis node {node} refused {who}the password ({text}); export the cluster's AUTH token in the "
                "environment variable that online.password_env names"
                + (" (and check online.username_env)" if self._username else "")
            ) from None
        if isinstance(_ssl_cause(err), ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in text:
            trusted = (
                f"online.ssl_ca_file {self._ssl_ca_file!r} did not sign it"
                if self._ssl_ca_file
                else "no online.ssl_ca_file is set and the system CAs do not trust it"
            )
            raise ConfigError(
                f"the TLS certificate of Redis node {node} is not trusted ({text}): {trusted}; set online.ssl_ca_file "
                "to the PEM bundle of the CA that signed the cluster's certificate (ElastiCache needs none), "
                "and make online.nodes use a host name the certificate names"
            ) from None

    def _tls_hint(self, errors: list[str]) -> str:
        text = " ".join(errors).lower()
        if not self._ssl and ("closed by server" in text or "reset by peer" in text):
            return "if the cluster requires TLS, set online.ssl: true; otherwise "
        if self._ssl and ("wrong version number" in text or "record layer failure" in text or "ssl" in text):
            return "if the cluster does not use TLS, set online.ssl: false; otherwise "
        return ""

    def _replicas_online(self) -> dict[str, int]:
        """How many healthy replicas each master streams to right now.

        A replica counts when its master lists it in ``ROLE`` (replication link online) and the
        cluster does not flag it ``fail``/``fail?`` in ``CLUSTER NODES`` (a hung replica stops
        being waited for once the cluster notices, after cluster-node-timeout). CLUSTER SLOTS
        is not used: it omits a replica until it has acknowledged a replication offset, which
        on a quiet new cluster is never. A master that does not answer, or refuses ``ROLE``,
        counts 0 (its writes fail and refresh the topology anyway).
        """
        state = self._state
        if state.replicas is not None:
            return state.replicas
        masters = list(dict.fromkeys(state.slots))
        failed: set[str] = set()
        for node in masters:
            conn = self._conn(node)
            try:
                conn.send_command("CLUSTER", "NODES")
                text = conn.read_response()
            except _NET_ERRORS:
                conn.disconnect()
                continue
            except ResponseError:
                continue
            for line in _text(text).splitlines():
                parts = line.split()
                if len(parts) > 2 and "fail" in parts[2]:
                    failed.add(parts[1].split("@")[0])
            break
        counts: dict[str, int] = {}
        for node in masters:
            conn = self._conn(node)
            try:
                conn.send_command("ROLE")
                reply = conn.read_response()
            except _NET_ERRORS:
                conn.disconnect()
                counts[node] = 0
                continue
            except ResponseError:
                counts[node] = 0
                continue
            listed = reply[2] if reply and reply[0] in (b"master", "master") else []
            counts[node] = sum(
                1 for r in listed if f"{_text(r[0]) or node.rpartition(':')[0]}:{int(r[1])}" not in failed
            )
        state.replicas = counts
        return counts

    def masters(self) -> list[str]:
        """The current masters (``host:port``), refreshing the slot map if needed."""
        if not self._state.slots:
            self.refresh()
        return list(dict.fromkeys(self._state.slots))

    def node_for(self, key: bytes) -> str:
        """The master serving ``key``'s hash slot."""
        if not self._state.slots:
            self.refresh()
        return self._state.slots[key_slot(key)]

    def scan_node(self, node: str, *, match: bytes, count: int = 1000) -> Iterator[bytes]:
        """Every key of one master that matches the glob ``match`` (Redis ``SCAN``, in batches).

        A key present for the whole scan is returned at least once (Redis' SCAN guarantee).

        Raises:
            ServiceUnavailableError: the node stopped answering.
        """
        conn = self._conn(node)
        cursor: bytes | int = b"0"
        while True:
            try:
                conn.send_command("SCAN", cursor, "MATCH", match, "COUNT", count)
                cursor, keys = conn.read_response()
            except _NET_ERRORS as err:
                conn.disconnect()
                raise ServiceUnavailableError(f"Redis node {node} stopped answering SCAN: {err}") from err
            yield from keys
            if cursor in (b"0", 0, "0"):
                return

    # ------------------------------------------------------------------ execution
    def execute(self, commands: Sequence[Command], *, replica_acks: int = 0) -> list[Any]:
        """Run ``commands`` with one pipelined round trip per master; retry what failed.

        Each master's pipeline is sent before any reply is read. Commands that fail with a
        connection error, MOVED/ASK, CLUSTERDOWN, TRYAGAIN, LOADING or READONLY are retried
        with exponential backoff and a refreshed slot map; NOSCRIPT loads the script on that
        node and retries. Other error replies are returned in place, as exceptions.

        With ``replica_acks`` > 0 (for idempotent writes), each master's pipeline ends in
        ``WAIT`` for that many of its replicas (at most as many as it has). Redis replicates
        asynchronously: a write a master acknowledged but had not yet sent to its replica is
        lost when that master dies and the replica is promoted. So a node's whole pipeline is
        only done once its replicas confirm it; if the master dies first, or fewer replicas
        confirm within the wait, the whole pipeline is sent again (to the promoted replica).

        Returns:
            One reply per command, in order.

        Raises:
            ServiceUnavailableError: the commands did not succeed within the retry policy.
        """
        results: list[Any] = [None] * len(commands)
        pending = [_Pending(i, c) for i, c in enumerate(commands)]
        attempt = 0
        start = time.monotonic()
        delay = self.retry.backoff_initial
        last_error: str = ""
        while pending:
            retry: list[_Pending] = pending
            topology_ok = bool(self._state.slots)
            if not topology_ok:
                try:
                    self.refresh()
                    topology_ok = True
                except ServiceUnavailableError as err:
                    last_error = str(err)
            if topology_ok:
                retry, need_refresh, last = self._round(pending, results, replica_acks)
                last_error = last or last_error
                if not retry:
                    break
                if need_refresh:
                    with self._lock:
                        self._state = _State()
            pending = self._backoff_or_fail(retry, attempt, start, delay, last_error)
            attempt += 1
            delay = min(delay * 2, self.retry.backoff_max)
        return results

    def _backoff_or_fail(
        self, retry: list[_Pending], attempt: int, start: float, delay: float, last_error: str
    ) -> list[_Pending]:
        elapsed = time.monotonic() - start
        if attempt + 1 >= self.retry.max_attempts or elapsed + delay > self.retry.deadline_seconds:
            if "confirmed within" in last_error:
                fix = (
                    "check that each master's replicas are up and replicating (`redis-cli -p PORT role`), or set "
                    "online.replica_acks: 0 to stop waiting for them"
                )
            else:
                fix = "check that every hash slot has a live master (`redis-cli -p PORT cluster info`) or fix online.nodes"
            raise ServiceUnavailableError(
                f"Redis cluster at {','.join(self._seeds)}: {len(retry)} command(s) still failing after "
                f"{attempt + 1} attempts in {elapsed:.1f}s (last error: {last_error}); {fix}"
            )
        time.sleep(delay * (0.5 + random.random() / 2))  # noqa: S311 - jitter, not crypto
        return retry

    def _round(
        self, pending: list[_Pending], results: list[Any], replica_acks: int = 0
    ) -> tuple[list[_Pending], bool, str]:
        by_node: dict[str, list[_Pending]] = {}
        slots = self._state.slots
        replicas = self._replicas_online() if replica_acks else {}
        for p in pending:
            node = p.node or slots[key_slot(p.command.key)]
            by_node.setdefault(node, []).append(p)
        retry: list[_Pending] = []
        need_refresh = False
        last_error = ""
        sent: list[tuple[str, Connection, list[_Pending], int]] = []
        for node, items in by_node.items():
            conn = self._conn(node)
            chunks: list[bytes] = []
            for p in items:
                if p.asking:
                    chunks.append(_ASKING)
                if p.command.packed is not None:
                    chunks.append(p.command.packed)
                else:
                    chunks.extend(conn.pack_command(*p.command.args))
            acks = min(replica_acks, replicas.get(node, 0))
            if acks:
                chunks.extend(conn.pack_command("WAIT", acks, WAIT_TIMEOUT_MS))
            try:
                conn.send_packed_command([b"".join(chunks)])
                sent.append((node, conn, items, acks))
            except _NET_ERRORS as err:
                conn.disconnect()
                retry.extend(_Pending(p.index, p.command) for p in items)
                need_refresh = True
                last_error = f"{node}: {err}"
        to_load: set[tuple[str, str]] = set()
        wait_refused = ""
        for node, conn, items, acks in sent:
            node_retry_from = len(retry)
            failed_at: int | None = None
            for pos, p in enumerate(items):
                try:
                    if p.asking:
                        conn.read_response()
                    results[p.index] = conn.read_response()
                except MovedError as err:
                    retry.append(_Pending(p.index, p.command))
                    need_refresh = True
                    last_error = f"{node}: MOVED {err}"
                except AskError as err:
                    retry.append(_Pending(p.index, p.command, node=f"{err.host}:{err.port}", asking=True))
                    last_error = f"{node}: ASK {err}"
                except NoScriptError:
                    if p.command.script is not None:
                        to_load.add((node, p.command.script))
                    retry.append(_Pending(p.index, p.command))
                    last_error = f"{node}: NOSCRIPT"
                except _RETRYABLE as err:
                    retry.append(_Pending(p.index, p.command))
                    need_refresh = True
                    last_error = f"{node}: {type(err).__name__} {err}"
                except ResponseError as err:
                    results[p.index] = err
                except _NET_ERRORS as err:
                    conn.disconnect()
                    failed_at = pos
                    need_refresh = True
                    last_error = f"{node}: {err}"
                    break
            if failed_at is not None:
                retry.extend(_Pending(p.index, p.command) for p in items[failed_at:])
            if acks and failed_at is None:
                try:
                    confirmed = int(conn.read_response())
                except _NET_ERRORS as err:
                    conn.disconnect()
                    confirmed = -1
                    last_error = f"{node}: {err} while waiting for replicas"
                except ResponseError as err:
                    wait_refused = f"{node}: {err}"
                    continue
                if confirmed < acks:
                    if confirmed >= 0:
                        last_error = (
                            f"{node}: {confirmed} of {acks} replica(s) confirmed within {WAIT_TIMEOUT_MS} ms"
                        )
                    failed_at = 0
            if acks and failed_at is not None:
                # Replies already read are not durable yet: send this node's whole pipeline again.
                del retry[node_retry_from:]
                retry.extend(_Pending(p.index, p.command) for p in items)
                need_refresh = True
        if wait_refused:  # every reply is read, so the connections are idle; the job fails fast
            raise ConfigError(
                f"the Redis cluster refused WAIT ({wait_refused}), so writes cannot wait for replicas; "
                "set online.replica_acks: 0"
            )
        for node, script in to_load:  # after every reply is read: the connections are idle again
            self._load_script(node, script)
        return retry, need_refresh, last_error

    def _load_script(self, node: str, script: str) -> None:
        conn = self._conn(node)
        try:
            conn.send_command("SCRIPT", "LOAD", script)
            conn.read_response()
        except _NET_ERRORS:
            conn.disconnect()
