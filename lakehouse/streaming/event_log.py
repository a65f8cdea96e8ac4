"""A view's event log: a Redis Stream of raw events that the streaming job folds in.

Layout: one stream per view, key ``featurelake:events:{<project>:<view>}`` (the hash tag puts
the whole stream on one master of the cluster). Each entry has one field ``r``: the event as a
JSON object, timestamps as ISO-8601 UTC text with microseconds. Entry ids are Redis' own
(``<ms>-<seq>``), so the log's order is the order of arrival; the streaming source reads it by
id ranges and records the last id it committed in a consumer group (``XGROUP SETID``), which
is what ``XINFO GROUPS`` reports the lag from.

Writers (``featurelake push``, ``POST /push``) validate rows against the view's source schema
first (:func:`conform_rows`): every problem names its column, and nothing is appended when one
row is bad. An append is one pipelined round of ``XADD``s to the stream's master, acknowledged
by ``replica_acks`` replicas (``WAIT``); a failover in the middle re-sends the round, so a
pushed event can reach the log twice then (at-least-once into the log; exactly-once applies
from the log on).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from featurelake.errors import ConfigError

FIELD = b"r"


class InvalidEventsError(ConfigError):
    """Pushed rows do not fit the view's event schema; nothing was appended.

    Attributes:
        problems: one message per bad column, each naming it.
    """

    def __init__(self, view: str, problems: list[str]):
        self.view = view
        self.problems = problems
        super().__init__(
            f"rows pushed to view {view!r} were refused, nothing was written: " + "; ".join(problems)
        )


def event_log_key(project: str, view: str) -> str:
    """The Redis Stream key of a view's event log (hash-tagged: one slot, one master)."""
    return f"featurelake:events:{{{project}:{view}}}"


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


def encode_rows(table: pa.Table) -> list[bytes]:
    """One JSON payload per row of an already conformed table."""
    return [json.dumps({k: _iso(v) for k, v in row.items()}).encode() for row in table.to_pylist()]


def decode_value(value: Any, arrow_type: pa.DataType) -> Any:
    """A JSON value back into the Python value Spark expects for ``arrow_type``."""
    if value is None:
        return None
    if pa.types.is_timestamp(arrow_type):
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)
    if pa.types.is_date(arrow_type):
        return date.fromisoformat(str(value))
    if pa.types.is_floating(arrow_type):
        return float(value)
    return value


def conform_rows(view: str, table: pa.Table, schema: pa.Schema, *, required: Sequence[str]) -> pa.Table:
    """Check and cast pushed rows to the view's event schema, collecting every problem.

    Args:
        view: the view (for messages).
        table: the rows as pushed (columns by name; extra columns are refused).
        schema: the event schema (the view's source table columns the stream reads).
        required: columns that must be present and non-null in every row (join keys, event time).

    Returns:
        The rows with exactly ``schema``'s columns and types (missing optional columns as null).

    Raises:
        InvalidEventsError: naming each missing, unknown, null or mistyped column.
    """
    problems: list[str] = []
    names = set(table.column_names)
    for col in required:
        if col not in names:
            problems.append(f"column {col!r} is missing; it is required (a join key or the event time)")
    unknown = sorted(names - set(schema.names))
    if unknown:
        problems.append(f"column(s) {unknown} are not in the view's event schema {schema.names}; drop them")
    if table.num_rows == 0:
        problems.append("no rows given; push at least one row")
    arrays = []
    for field in schema:
        if field.name not in names:
            arrays.append(pa.nulls(table.num_rows, field.type))
            continue
        col = table.column(field.name)
        try:
            if pa.types.is_timestamp(field.type) and (
                pa.types.is_string(col.type) or pa.types.is_large_string(col.type)
            ):
                col = _parse_times(col, field.type)
            elif (
                pa.types.is_timestamp(field.type) and pa.types.is_timestamp(col.type) and col.type.tz is None
            ):
                col = pc.assume_timezone(col, "UTC").cast(field.type)
            elif (pa.types.is_integer(field.type) or pa.types.is_floating(field.type)) and (
                pa.types.is_boolean(col.type) or pa.types.is_string(col.type)
            ):
                raise pa.ArrowInvalid(f"{col.type} is not a number")
            col = col.cast(field.type, safe=True)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as err:
            problems.append(
                f"column {field.name!r} has type {table.column(field.name).type}, expected {field.type} "
                f"({str(err).splitlines()[0][:120]}); send {field.type} values"
            )
            arrays.append(pa.nulls(table.num_rows, field.type))
            continue
        if field.name in required and col.null_count:
            first = next(i for i, v in enumerate(col.is_null().to_pylist()) if v)
            problems.append(
                f"column {field.name!r} is null in {col.null_count} row(s) (first: row {first}); give a value"
            )
        arrays.append(col)
    if problems:
        raise InvalidEventsError(view, problems)
    return pa.Table.from_arrays(arrays, schema=schema)


def _parse_times(col: pa.ChunkedArray | pa.Array, target: pa.DataType) -> pa.Array:
    values = []
    for i, v in enumerate(col.to_pylist()):
        if v is None:
            values.append(None)
            continue
        try:
            ts = datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"row {i}: {v!r} is not an ISO-8601 timestamp like 2026-01-31T12:00:00Z"
            ) from None
        values.append(ts if ts.tzinfo else ts.replace(tzinfo=UTC))
    return pa.array(values, type=pa.timestamp("us", tz="UTC")).cast(target)


def append_events(client: Any, key: str, payloads: Sequence[bytes], *, replica_acks: int = 1) -> list[str]:
    """Append payloads to the stream ``key`` in one pipelined round; returns the entry ids.

    Args:
        client: a :class:`featurelake.lakehouse.online.cluster.ClusterClient`.
        key: the stream (:func:`event_log_key`).
        payloads: JSON payloads (:func:`encode_rows`).
        replica_acks: replicas that must confirm the round (Redis ``WAIT``).

    Raises:
        ServiceUnavailableError: the stream's master did not accept the round through retries.
    """
    from featurelake.lakehouse.online.cluster import Command

    k = key.encode()
    replies = client.execute(
        [Command(k, (b"XADD", k, b"*", FIELD, p)) for p in payloads], replica_acks=replica_acks
    )
    out = []
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
        out.append(reply.decode() if isinstance(reply, bytes) else str(reply))
    return out


def stream_info(client: Any, key: str, group: str | None = None) -> dict[str, Any]:
    """Length and last id of a view's event log, and a consumer group's committed id and lag.

    Returns:
        ``{"length", "last_id", "committed_id", "lag"}`` (the last two None without the group).
    """
    from featurelake.lakehouse.online.cluster import Command

    k = key.encode()
    length, last = client.execute(
        [Command(k, (b"XLEN", k)), Command(k, (b"XREVRANGE", k, b"+", b"-", b"COUNT", b"1"))]
    )
    info: dict[str, Any] = {
        "length": int(length),
        "last_id": last[0][0].decode() if last else None,
        "committed_id": None,
        "lag": None,
    }
    if group:
        (groups,) = client.execute([Command(k, (b"XINFO", b"GROUPS", k))])
        for g in groups if not isinstance(groups, Exception) else []:
            fields = {g[i].decode(): g[i + 1] for i in range(0, len(g), 2)}
            if fields.get("name") == group.encode():
                raw = fields.get("last-delivered-id")
                info["committed_id"] = raw.decode() if isinstance(raw, bytes) else raw
                info["lag"] = fields.get("lag")
    return info
