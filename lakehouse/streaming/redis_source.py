"""Redis Streams as a Spark 4 Python streaming data source, with committed offsets.

* An offset is ``{"id": "<ms>-<seq>"}``: every entry up to that stream id has been read
  (``"0-0"`` initially). A micro-batch from ``a`` to ``b`` reads the entries with ids in
  ``(a, b]`` (``XRANGE key (a b``), so a replayed batch reads exactly the same entries.
* ``latestOffset`` is the stream's last id, or, with ``max_entries_per_trigger``, the id of the
  last of at most that many entries after ``a``.
* ``commit(end)`` moves the consumer group ``group`` to ``end`` (``XGROUP SETID``; the group is
  created on first use): ``XINFO GROUPS`` then shows what the stream has committed and its lag.
  Spark's checkpoint stays the source of truth for where a restarted query resumes; the group
  is what operators and ``featurelake stream status`` read.
* Entries are JSON objects in field ``r`` (:mod:`featurelake.lakehouse.streaming.event_log`),
  decoded into the declared schema; an entry that does not decode fails the batch, naming its id.

A stream key lives on one master of the cluster, so each micro-batch is one read task.

Kafka is NOT this module: Spark's own Kafka source (``format("kafka")``) needs the
``spark-sql-kafka-0-10`` jars from Maven, which cannot be reached here. The streaming job
(``featurelake.jobs.stream``) builds that source when asked (``--source kafka``); it is written
and documented but not exercised by this repository's tests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition
from pyspark.sql.types import StructType

from featurelake.errors import LakehouseError

SOURCE_NAME = "featurelake_redis_stream"
_PAGE = 5000


@dataclass
class RedisStreamSpec:
    """Where the stream is and how to read it (one JSON option).

    Attributes:
        nodes: seed nodes ``host:port`` of the cluster.
        key: the stream key.
        group: the consumer group whose id records the committed offset.
        schema: the Spark schema of the events, as JSON (``StructType.json()``).
        password: AUTH password, if any.
        username: ACL user, if any.
        ssl: connect with TLS.
        ssl_ca_file: a private CA bundle (with ``ssl``).
        max_entries_per_trigger: entries per micro-batch at most (None: all available).
    """

    nodes: list[str]
    key: str
    group: str
    schema: str
    password: str | None = None
    username: str | None = None
    ssl: bool = False
    ssl_ca_file: str | None = None
    max_entries_per_trigger: int | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def to_option(self) -> str:
        """The spec as the ``spec`` option's text."""
        return json.dumps(asdict(self))

    @classmethod
    def from_option(cls, text: str) -> RedisStreamSpec:
        """Parse the ``spec`` option."""
        return cls(**json.loads(text))

    def client(self) -> Any:
        """A cluster client for the stream's nodes."""
        from featurelake.lakehouse.online.cluster import ClusterClient, RetryPolicy

        return ClusterClient(
            self.nodes,
            password=self.password,
            username=self.username,
            ssl=self.ssl,
            ssl_ca_file=self.ssl_ca_file,
            retry=RetryPolicy(max_attempts=40, backoff_initial=0.1, backoff_max=1.0, deadline_seconds=60),
        )


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class RedisStreamSource(DataSource):
    """``spark.readStream.format("featurelake_redis_stream")``: see the module docstring."""

    @classmethod
    def name(cls) -> str:
        return SOURCE_NAME

    def schema(self) -> StructType:
        return StructType.fromJson(json.loads(RedisStreamSpec.from_option(self.options["spec"]).schema))

    def streamReader(self, schema: StructType) -> RedisStreamReader:
        return RedisStreamReader(RedisStreamSpec.from_option(self.options["spec"]), schema)


class RedisStreamReader(DataSourceStreamReader):
    """Plans micro-batches as stream id ranges; one task reads a range with paged ``XRANGE``."""

    def __init__(self, spec: RedisStreamSpec, schema: StructType):
        self.spec = spec
        self.schema = schema
        self._client: Any = None

    def _c(self) -> Any:
        if self._client is None:
            self._client = self.spec.client()
        return self._client

    def _run(self, *args: bytes) -> Any:
        from featurelake.lakehouse.online.cluster import Command

        key = self.spec.key.encode()
        (reply,) = self._c().execute([Command(key, args)])
        if isinstance(reply, Exception):
            raise LakehouseError(f"Redis stream {self.spec.key!r}: {reply}")
        return reply

    def initialOffset(self) -> dict:
        return {"id": "0-0"}

    def latestOffset(self, start: dict | None = None, limit: Any = None) -> dict:
        key = self.spec.key.encode()
        cap = self.spec.max_entries_per_trigger
        if start is not None and cap:
            rows = self._run(
                b"XRANGE", key, b"(" + str(start["id"]).encode(), b"+", b"COUNT", str(cap).encode()
            )
            return {"id": rows[-1][0].decode()} if rows else dict(start)
        rows = self._run(b"XREVRANGE", key, b"+", b"-", b"COUNT", b"1")
        if rows:
            return {"id": rows[0][0].decode()}
        return dict(start) if start is not None else {"id": "0-0"}

    def reportLatestOffset(self) -> dict | None:
        rows = self._run(b"XREVRANGE", self.spec.key.encode(), b"+", b"-", b"COUNT", b"1")
        return {"id": rows[0][0].decode()} if rows else None

    def partitions(self, start: dict, end: dict) -> Sequence[InputPartition]:
        if _id_key(str(end["id"])) <= _id_key(str(start["id"])):
            return []
        return [InputPartition((str(start["id"]), str(end["id"])))]

    def read(self, partition: InputPartition) -> Iterator[tuple]:
        import pyarrow as pa
        from pyspark.sql.pandas.types import to_arrow_schema

        from featurelake.lakehouse.online.cluster import Command
        from featurelake.lakehouse.streaming.event_log import FIELD, decode_value

        first, last = partition.value
        arrow = to_arrow_schema(self.schema, timezone="UTC")
        fields = [(f.name, f.type) for f in arrow]
        key = self.spec.key.encode()
        lower = b"(" + first.encode()
        client = self.spec.client()
        try:
            while True:
                (rows,) = client.execute(
                    [Command(key, (b"XRANGE", key, lower, last.encode(), b"COUNT", str(_PAGE).encode()))]
                )
                if isinstance(rows, Exception):
                    raise LakehouseError(f"Redis stream {self.spec.key!r}: {rows}")
                for entry_id, kv in rows:
                    payload = dict(zip(kv[::2], kv[1::2], strict=True)).get(FIELD)
                    try:
                        event = json.loads(payload)
                        yield tuple(decode_value(event.get(name), t) for name, t in fields)
                    except (TypeError, ValueError, pa.ArrowException) as err:
                        raise LakehouseError(
                            f"entry {entry_id.decode()} of Redis stream {self.spec.key!r} is not an event of "
                            f"schema {[n for n, _ in fields]}: {err}; remove it with XDEL"
                        ) from err
                if len(rows) < _PAGE:
                    return
                lower = b"(" + rows[-1][0]
        finally:
            client.close()

    def commit(self, end: dict) -> None:
        key = self.spec.key.encode()
        group = self.spec.group.encode()
        end_id = str(end["id"]).encode()
        from featurelake.lakehouse.online.cluster import Command

        replies = self._c().execute([Command(key, (b"XGROUP", b"SETID", key, group, end_id))])
        if isinstance(replies[0], Exception) and "NOGROUP" in str(replies[0]):
            self._c().execute([Command(key, (b"XGROUP", b"CREATE", key, group, end_id, b"MKSTREAM"))])

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def register(spark: Any) -> None:
    """Register the source with a Spark session (idempotent)."""
    spark.dataSource.register(RedisStreamSource)
