"""Newer-wins writes of feature rows into a Redis cluster, in Feast's format.

Each entity row becomes one ``EVALSHA`` of :data:`NEWER_WINS_LUA` on the master that owns
the key: the script parses the stored ``_ts:<view>`` protobuf Timestamp and writes the row
(timestamp and feature fields, plus an optional expiry) only if the row's event time is the
same or newer.

Expiry: every view of an entity shares one hash (Feast's layout), so one expiry. A write with
a key TTL only ever extends the hash's expiry to at least that TTL (``EXPIRE`` when the time
left is shorter, or the hash had none), never shortens it, so a view with a short TTL cannot
evict the fresh values of a view with a longer one; a write without a key TTL leaves the
expiry as it is (as Feast does). The hash thus lives until the longest TTL among the views
writing it has passed since their last write. Check and write happen atomically inside Redis, so concurrent writers of
overlapping windows always end with the newest value; replaying a batch after a failover is
harmless. (Feast reads every ``_ts`` first and then writes: a race between two writers can
leave an older value.) An equal timestamp overwrites, so re-materializing a corrected row
for the same event time takes effect.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featurelake.errors import LakehouseError
from featurelake.lakehouse.online.cluster import ClusterClient, Command, resp_bulk
from featurelake.lakehouse.online.encoding import (
    encode_column,
    encode_timestamp_column,
    encode_timestamp_micros,
    entity_key_column,
    serialize_entity_key,
    value_encoder,
)
from featurelake.lakehouse.online.layout import OnlineView

if TYPE_CHECKING:
    import pyarrow as pa

NEWER_WINS_LUA = r"""
local function ts_of(b)
  local secs, nanos, i, n = 0, 0, 1, #b
  while i <= n do
    local tag = string.byte(b, i); i = i + 1
    local v, mult, c = 0, 1, 0
    repeat
      c = string.byte(b, i); i = i + 1
      v = v + (c % 128) * mult
      mult = mult * 128
    until c < 128
    if tag == 8 then secs = v elseif tag == 16 then nanos = v end
  end
  if secs >= 9223372036854775808 then secs = secs - 18446744073709551616 end
  return secs, nanos
end
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then
  local os, on = ts_of(old)
  local ns, nn = ts_of(ARGV[2])
  if ns < os or (ns == os and nn < on) then return 0 end
end
local ttl = tonumber(ARGV[3])
local left = 0
if ttl > 0 then left = redis.call('TTL', KEYS[1]) end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2], unpack(ARGV, 4))
if ttl > 0 and left < ttl then redis.call('EXPIRE', KEYS[1], ttl) end
return 1
"""
NEWER_WINS_SHA = hashlib.sha1(NEWER_WINS_LUA.encode()).hexdigest()  # noqa: S324 - Redis script id


@dataclass
class WriteStats:
    """What a write did: rows written, rows skipped because Redis held a newer value."""

    written: int = 0
    skipped_older: int = 0

    def __add__(self, other: WriteStats) -> WriteStats:
        return WriteStats(self.written + other.written, self.skipped_older + other.skipped_older)


class OnlineWriter:
    """Writes one view's rows into the cluster, newer-wins, pipelined per master.

    Args:
        client: the cluster client (its retry policy decides how long failovers may take).
        project: the Feast project name (suffix of every key).
        view: the view's online layout.
        key_ttl_seconds: keep every written key at least this many seconds (extending, never
            shortening, its expiry); None: leave the expiry as it is.
        batch_size: rows per pipelined round (per batch, one round trip per master).
        replica_acks: a round is done only when this many replicas of each master confirmed
            it (Redis ``WAIT``), so a master dying right after acknowledging loses nothing;
            0 trusts the master's acknowledgement alone.
    """

    def __init__(
        self,
        client: ClusterClient,
        *,
        project: str,
        view: OnlineView,
        key_ttl_seconds: int | None = None,
        batch_size: int = 2000,
        replica_acks: int = 1,
    ):
        self.client = client
        self.project = project.encode("utf8")
        self.view = view
        self.ttl_arg = str(int(key_ttl_seconds or 0)).encode()
        self.batch_size = batch_size
        self.replica_acks = replica_acks
        self._ts_field = view.ts_field
        self._fields = [view.field(f) for f in view.feature_names]
        self._encoders = [value_encoder(kind) for _, kind in view.features]
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="featurelake-redis-io")

    def _command(self, key_values: Sequence[Any], micros: int, values: Sequence[Any]) -> Command:
        key = serialize_entity_key(self.view.join_keys, key_values) + self.project
        args: list[Any] = [
            "EVALSHA",
            NEWER_WINS_SHA,
            1,
            key,
            self._ts_field,
            encode_timestamp_micros(micros),
            self.ttl_arg,
        ]
        for fld, enc, value in zip(self._fields, self._encoders, values, strict=True):
            args.append(fld)
            args.append(enc(value))
        return Command(key=key, args=tuple(args), script=NEWER_WINS_LUA)

    def commands_from_columns(
        self, keys: list[bytes], timestamps: list[bytes], feature_values: Sequence[list[bytes]]
    ) -> list[Command]:
        """Commands from pre-encoded columns (entity keys without project, Timestamp bytes, Value bytes).

        Each command is packed in RESP form here (field names and constants once per batch).
        """
        proj, fields = self.project, self._fields
        n_args = 7 + 2 * len(fields)
        head = (
            b"*%d\r\n" % n_args + resp_bulk(b"EVALSHA") + resp_bulk(NEWER_WINS_SHA.encode()) + resp_bulk(b"1")
        )
        ts_field, ttl = resp_bulk(self._ts_field), resp_bulk(self.ttl_arg)
        # One bytes object per row holding every "field value" pair (RESP bulk strings, the field
        # name's part encoded once per column): the hot loop of materialization, so no per-value calls.
        tail = [b""] * len(keys)
        for fld, col in zip(fields, feature_values, strict=True):
            pre = resp_bulk(fld)
            tail = [b"%s%s$%d\r\n%s\r\n" % (t, pre, len(v), v) for t, v in zip(tail, col, strict=True)]
        out = []
        lua, sha = NEWER_WINS_LUA, NEWER_WINS_SHA
        for key, ts, row in zip(keys, timestamps, tail, strict=True):
            full = key + proj
            packed = b"%s$%d\r\n%s\r\n%s$%d\r\n%s\r\n%s%s" % (
                head,
                len(full),
                full,
                ts_field,
                len(ts),
                ts,
                ttl,
                row,
            )
            out.append(Command(full, ("EVALSHA", sha, 1, full), lua, packed))
        return out

    def write_rows(self, rows: Iterable[tuple[Sequence[Any], int, Sequence[Any]]]) -> WriteStats:
        """Write ``(join key values, event time in epoch microseconds, feature values)`` rows.

        Feature values follow ``view.features``' order; join key values follow ``view.join_keys``.

        Returns:
            Rows written and rows skipped because Redis already held a newer event time.

        Raises:
            TypeError: a join key value does not match its kind (names the key and value).
            ServiceUnavailableError: the cluster did not accept the writes within the retry policy.
            LakehouseError: Redis rejected a write (e.g. the key holds a non-hash value).
        """
        stats = WriteStats()
        batch: list[Command] = []
        for key_values, micros, values in rows:
            batch.append(self._command(key_values, micros, values))
            if len(batch) >= self.batch_size:
                stats += self._flush(batch)
                batch = []
        if batch:
            stats += self._flush(batch)
        return stats

    def _flush(self, batch: list[Command]) -> WriteStats:
        replies = self.client.execute(batch, replica_acks=self.replica_acks)
        stats = WriteStats()
        for cmd, reply in zip(batch, replies, strict=True):
            if isinstance(reply, Exception):
                raise LakehouseError(
                    f"Redis refused the write of key {cmd.key!r} for view {self.view.name!r}: {reply}; "
                    "another application may use the same key with a different type: use a separate "
                    "cluster or project name"
                )
            if reply == 1:
                stats.written += 1
            else:
                stats.skipped_older += 1
        return stats

    def write_arrow(
        self, batch: pa.RecordBatch | pa.Table, *, timestamp_column: str = "event_timestamp"
    ) -> WriteStats:
        """Write an Arrow batch whose columns include the join keys, the timestamp and the features.

        Columns are encoded with numpy where possible (the bytes equal :meth:`write_rows`').

        Raises:
            LakehouseError: a needed column is missing, or a join key or timestamp is null.
        """
        import numpy as np

        view = self.view
        _check_columns(batch, view, timestamp_column)
        key_cols = [_column_values(batch.column(k), kind) for k, kind in view.join_keys]
        micros = _micros(batch.column(timestamp_column))
        if None in micros or any(None in col for col in key_cols):
            bad = next(
                i for i in range(batch.num_rows) if micros[i] is None or any(c[i] is None for c in key_cols)
            )
            raise LakehouseError(
                f"row {bad} of view {view.name!r} has a null join key or {timestamp_column!r} "
                f"({dict(zip(view.join_key_names, [c[bad] for c in key_cols], strict=True))}); fix the feature table"
            )
        keys = entity_key_column(view.join_keys, key_cols)
        stamps = encode_timestamp_column(np.asarray(micros, dtype=np.int64))
        values = [encode_column(kind, _as_arrow_values(batch.column(f), kind)) for f, kind in view.features]
        stats = WriteStats()
        pending: Future[WriteStats] | None = None
        # Pack the next round while the previous one is on the wire (socket waits release the GIL).
        for lo in range(0, len(keys), self.batch_size):
            hi = lo + self.batch_size
            commands = self.commands_from_columns(keys[lo:hi], stamps[lo:hi], [v[lo:hi] for v in values])
            if pending is not None:
                stats += pending.result()
            pending = self._io.submit(self._flush, commands)
        if pending is not None:
            stats += pending.result()
        return stats

    def close(self) -> None:
        """Stop the background I/O thread and close its connections."""
        self._io.submit(self.client.close).result()
        self._io.shutdown(wait=True)


def _check_columns(batch: pa.RecordBatch | pa.Table, view: OnlineView, timestamp_column: str) -> None:
    names = set(batch.schema.names)
    needed = [*view.join_key_names, timestamp_column, *view.feature_names]
    missing = [c for c in needed if c not in names]
    if missing:
        raise LakehouseError(
            f"cannot write view {view.name!r} online: columns {missing} are missing from the data "
            f"(present: {sorted(names)}); check the view's feature table layout"
        )


def _as_arrow_values(column: Any, kind: str) -> Any:
    import pyarrow as pa

    if kind == "unix_timestamp" and pa.types.is_timestamp(column.type):
        return pa.array(_column_values(column, kind), pa.int64())
    if isinstance(column, pa.ChunkedArray):
        return column.combine_chunks()
    return column


def _micros(column: pa.Array | pa.ChunkedArray) -> list[int | None]:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_timestamp(column.type):
        if column.type.tz is None:
            column = pc.assume_timezone(column, "UTC")
        column = pc.cast(column, pa.timestamp("us", tz="UTC"))
        return pc.cast(column, pa.int64()).to_pylist()
    if pa.types.is_date(column.type):
        return [
            None if v is None else v * 86_400_000_000
            for v in pc.cast(column, pa.date32()).cast(pa.int32()).to_pylist()
        ]
    raise LakehouseError(f"timestamp column has type {column.type}; it must be a timestamp")


def _column_values(column: pa.Array | pa.ChunkedArray, kind: str) -> list[Any]:
    import pyarrow as pa
    import pyarrow.compute as pc

    if kind == "unix_timestamp" and pa.types.is_timestamp(column.type):
        return pc.cast(
            pc.cast(column, pa.timestamp("s", tz="UTC") if column.type.tz else pa.timestamp("s")), pa.int64()
        ).to_pylist()
    return column.to_pylist()


def arrow_rows(
    batch: pa.RecordBatch | pa.Table, view: OnlineView, *, timestamp_column: str = "event_timestamp"
) -> Iterator[tuple[list[Any], int, list[Any]]]:
    """Iterate an Arrow batch as ``(key values, event micros, feature values)`` rows.

    Raises:
        LakehouseError: a needed column is missing, or a row has a null join key or timestamp.
    """
    _check_columns(batch, view, timestamp_column)
    keys = [_column_values(batch.column(k), kind) for k, kind in view.join_keys]
    times = _micros(batch.column(timestamp_column))
    feats = [_column_values(batch.column(f), kind) for f, kind in view.features]
    for i in range(batch.num_rows):
        key_values = [col[i] for col in keys]
        if times[i] is None or any(v is None for v in key_values):
            raise LakehouseError(
                f"row {i} of view {view.name!r} has a null join key or {timestamp_column!r} "
                f"({dict(zip(view.join_key_names, key_values, strict=True))}); fix the feature table"
            )
        yield key_values, times[i], [col[i] for col in feats]
