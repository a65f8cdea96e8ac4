"""The feature server's fast lookup path: precomputed plans, packed HMGETs, direct JSON.

``POST /get-online-features`` spends its time, for a plain request, in work that does not depend
on the entity values: resolving the feature references against the catalog, checking names and
join keys, working out the Redis hash fields and the response's column names. A
:class:`LookupPlan` does that once per request *shape* (the feature list or service, the entity
column names in request order, ``full_feature_names``) and :class:`PlanCache` keeps it. Serving
a request is then: serialize each entity key, send ONE ``HMGET`` per distinct entity key per
join-key set (views keyed by the same join keys share Feast's Redis hash, so their fields come
back in one reply), one pipelined round trip per master for the whole batch, decode the values
with decoders chosen per feature kind, and build the response JSON (orjson).

The plan path answers only what it can answer exactly as the SDK path does. Anything else (an
error of any kind, on-demand features, unequal entity columns, a join key value of the wrong
type) returns None, and the server runs the SDK path (:meth:`OnlineFeatureClient.get_online_features`),
which produces the answer and its error messages: the two paths' responses are JSON-equal
(``tests/online/test_serve_fast_path.py``; ``tests/online/test_serve_feast_parity.py`` compares
them with ``feast serve``).
"""

from __future__ import annotations

import base64
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from featurelake.errors import FeatureStoreError
from featurelake.jobs.online import FeatureCatalog, _feast_timestamp
from featurelake.lakehouse.online import ClusterClient, Command, OnlineView
from featurelake.lakehouse.online.cluster import resp_bulk
from featurelake.lakehouse.online.encoding import (
    decode_timestamp,
    decode_value,
    serialize_entity_key,
    timestamp_to_datetime,
)

_NO_TIME = "1970-01-01T00:00:00Z"
_UNPACK_D = struct.Struct("<d").unpack_from
_UNPACK_F = struct.Struct("<f").unpack_from
_PACK_Q = struct.Struct("<q").pack
_INT64 = (-(1 << 63), (1 << 63) - 1)
MAX_PLANS = 1024  # distinct request shapes kept; more clears the cache (bounded memory)
_TS_CACHE_MAX = 65_536
_MICRO = timedelta(microseconds=1)


def _generic(raw: bytes) -> Any:
    return decode_value(raw)[1]


def _decoder(kind: str) -> Callable[[bytes], Any]:
    """A decoder of one Feast ``Value`` of ``kind``: the common encodings inline, else the generic one."""
    if kind == "double":
        return lambda b: _UNPACK_D(b, 1)[0] if len(b) == 9 and b[0] == 0x29 else decode_value(b)[1]
    if kind == "float":
        return lambda b: _UNPACK_F(b, 1)[0] if len(b) == 5 and b[0] == 0x35 else decode_value(b)[1]
    if kind == "string":
        return lambda b: (
            b[2:].decode("utf8")
            if len(b) > 1 and b[0] == 0x12 and b[1] < 0x80 and len(b) == b[1] + 2
            else decode_value(b)[1]
        )
    if kind == "int64":
        return lambda b: b[1] if len(b) == 2 and b[0] == 0x20 else decode_value(b)[1]
    if kind == "bytes":
        return lambda b: _b64(decode_value(b)[1])
    if kind == "bytes_list":
        return lambda b: _b64_list(decode_value(b)[1])
    return _generic


def _b64(value: Any) -> Any:
    return base64.b64encode(value).decode() if isinstance(value, bytes) else value


def _b64_list(value: Any) -> Any:
    return [_b64(v) for v in value] if isinstance(value, list) else value


@dataclass(frozen=True)
class _ViewRead:
    """One view's slice of a group's HMGET reply."""

    name: str
    offset: int  # first field of this view in the reply; its timestamp is at offset + len(decoders)
    decoders: tuple[Callable[[bytes], Any], ...]
    ttl_us: int | None  # TTL in microseconds (None: forever)


@dataclass(frozen=True)
class _Group:
    """Views sharing one join-key set, hence one Redis hash per entity: one HMGET per entity key."""

    join_keys: tuple[tuple[str, str], ...]  # (name, kind), in the first view's order
    int64_prefix: bytes | None  # serialized key up to the value, for a single int64 join key
    fields_resp: bytes  # the HMGET's field arguments, in RESP
    nargs: int
    reads: tuple[_ViewRead, ...]


@dataclass(frozen=True)
class LookupPlan:
    """Everything about a request that does not depend on the entity values.

    Attributes:
        keys_out: entity columns echoed first (the request's project join keys, in request order).
        names: every response column name (``keys_out`` first).
        columns: per feature column (after ``keys_out``): (group index, view read index, feature index).
        groups: the HMGETs to send per entity row.
        views: the views read, in response order (``feature_view_metadata``).
        refs: ``(view, feature)`` per feature column (for the metrics).
        service: the feature service asked for (None: a feature list).
    """

    keys_out: tuple[str, ...]
    names: tuple[str, ...]
    columns: tuple[tuple[int, int, int], ...]
    groups: tuple[_Group, ...]
    views: tuple[str, ...]
    refs: tuple[tuple[str, str], ...]
    service: str | None


def build_plan(
    catalog: FeatureCatalog,
    *,
    features: Sequence[str] | None,
    feature_service: str | None,
    full_feature_names: bool,
    entity_names: Sequence[str],
) -> LookupPlan | None:
    """The plan of a request shape, or None when the SDK path must answer it.

    None for: an error of any kind (the SDK path words it), on-demand features, a join key the
    requested views need that the request does not give.
    """
    try:
        refs = catalog.resolve(features=features, feature_service=feature_service)
    except FeatureStoreError:
        return None
    names = [f"{v}__{f}" if full_feature_names else f for v, f in refs]
    if len(set(names)) != len(names) or any(v not in catalog.views for v, _ in refs):
        return None  # a name collision (an error) or on-demand features
    needed: dict[str, list[str]] = {}
    for view, feat in refs:
        if feat not in needed.setdefault(view, []):
            needed[view].append(feat)
    project_keys = {k for v in catalog.views.values() for k in v.join_key_names}
    join_keys = {k for v in needed for k in catalog.views[v].join_key_names}
    if not join_keys <= set(entity_names):
        return None  # the SDK path names the missing key (and any misspelt one)
    keys_out = tuple(k for k in entity_names if k in project_keys)
    groups: dict[tuple[tuple[str, str], ...], list[OnlineView]] = {}
    for name in needed:
        view = catalog.views[name]
        groups.setdefault(tuple(sorted(view.join_keys)), []).append(view)
    built: list[_Group] = []
    where: dict[tuple[str, str], tuple[int, int, int]] = {}
    for gi, views in enumerate(groups.values()):
        fields: list[bytes] = []
        reads = []
        for ri, view in enumerate(views):
            feats = needed[view.name]
            for fi, feat in enumerate(feats):
                where[(view.name, feat)] = (gi, ri, fi)
            ttl = view.ttl
            reads.append(
                _ViewRead(
                    name=view.name,
                    offset=len(fields),
                    decoders=tuple(_decoder(view.kind_of(f)) for f in feats),
                    ttl_us=None if ttl is None or ttl.total_seconds() <= 0 else ttl // _MICRO,
                )
            )
            fields += [view.field(f) for f in feats] + [view.ts_field]
        keys = views[0].join_keys
        prefix = None
        if len(keys) == 1 and keys[0][1] == "int64":
            prefix = serialize_entity_key(keys, [0])[:-8]
        built.append(
            _Group(
                join_keys=keys,
                int64_prefix=prefix,
                fields_resp=b"".join(resp_bulk(f) for f in fields),
                nargs=2 + len(fields),
                reads=tuple(reads),
            )
        )
    ordered = [(v, f) for v in needed for f in needed[v]]
    return LookupPlan(
        keys_out=keys_out,
        names=(*keys_out, *(f"{v}__{f}" if full_feature_names else f for v, f in ordered)),
        columns=tuple(where[r] for r in ordered),
        groups=tuple(built),
        views=tuple(needed),
        refs=tuple(ordered),
        service=feature_service,
    )


class PlanCache:
    """Plans per request shape for one catalog; a new catalog (registry change) starts a new cache."""

    def __init__(self) -> None:
        self._catalog: FeatureCatalog | None = None
        self._plans: dict[tuple[Any, ...], LookupPlan | None] = {}
        self._lock = threading.Lock()
        self.built = 0  # plans built (for tests and profiling)

    def get(
        self,
        catalog: FeatureCatalog,
        *,
        features: Sequence[str] | None,
        feature_service: str | None,
        full_feature_names: bool,
        entity_names: Sequence[str],
    ) -> LookupPlan | None:
        """The cached plan of this shape (built on first use), or None (the SDK path answers)."""
        key = (
            tuple(features) if features else None,
            feature_service,
            full_feature_names,
            tuple(entity_names),
        )
        if self._catalog is not catalog:
            with self._lock:
                self._catalog, self._plans = catalog, {}
        try:
            return self._plans[key]
        except KeyError:
            pass
        plan = build_plan(
            catalog,
            features=features,
            feature_service=feature_service,
            full_feature_names=full_feature_names,
            entity_names=entity_names,
        )
        with self._lock:
            if len(self._plans) >= MAX_PLANS:
                self._plans = {}
            self._plans[key] = plan
            self.built += 1
        return plan


class _Timestamps:
    """Raw ``_ts`` bytes -> (event time in epoch microseconds, Feast's RFC 3339 text), memoized."""

    def __init__(self) -> None:
        self._seen: dict[bytes, tuple[int, str]] = {}

    def get(self, raw: bytes) -> tuple[int, str]:
        hit = self._seen.get(raw)
        if hit is None:
            seconds, nanos = decode_timestamp(raw) or (0, 0)
            when = timestamp_to_datetime(seconds, nanos)
            hit = (seconds * 1_000_000 + nanos // 1000, _feast_timestamp(when))
            if len(self._seen) >= _TS_CACHE_MAX:
                self._seen = {}
            self._seen[raw] = hit
        return hit


_TIMESTAMPS = _Timestamps()


def _decode_view(
    read: _ViewRead, replies: list[list[bytes | None]], now_us: int
) -> tuple[list[list[Any]], list[list[str]], list[str]]:
    """One view's columns from its rows' HMGET replies: (values, statuses) per feature, and stamps.

    Column by column: when every row has a fresh timestamp and every value is stored and
    non-null (the common case) a column is one ``map`` of its decoder; otherwise value by value.
    """
    n, nf, off, ttl = len(replies), len(read.decoders), read.offset, read.ttl_us
    ts_at = off + nf
    ts_get = _TIMESTAMPS.get
    stamps: list[str] = []
    state: list[str | None] = []  # per row: None (readable), NOT_FOUND or OUTSIDE_MAX_AGE
    oldest = None if ttl is None else now_us - ttl
    for reply in replies:
        raw_ts = reply[ts_at]
        if raw_ts is None:
            stamps.append(_NO_TIME)
            state.append("NOT_FOUND")
            continue
        when, text = ts_get(raw_ts)
        stamps.append(text)
        state.append("OUTSIDE_MAX_AGE" if oldest is not None and when < oldest else None)
    all_readable = state.count(None) == n
    values: list[list[Any]] = []
    statuses: list[list[str]] = []
    for i, decode in enumerate(read.decoders):
        raws = [reply[off + i] for reply in replies]
        if all_readable and None not in raws and b"" not in raws:
            col = list(map(decode, raws))
            if None not in col:  # a kind featurelake does not model decodes as None: NULL_VALUE
                values.append(col)
                statuses.append(["PRESENT"] * n)
                continue
        col, st = [], []
        for raw, row_state in zip(raws, state, strict=True):
            if raw is None:
                col.append(None)
                st.append("NOT_FOUND")
            elif row_state is not None:
                col.append(None)
                st.append(row_state)
            else:
                value = decode(raw) if raw else None
                col.append(value)
                st.append("PRESENT" if value is not None else "NULL_VALUE")
        values.append(col)
        statuses.append(st)
    return values, statuses, stamps


@dataclass
class LookupResult:
    """A served request: the response document and per-(view, status) value counts for the metrics."""

    document: dict[str, Any]
    counts: dict[tuple[str, str], int]


def serve_plan(
    plan: LookupPlan,
    client: ClusterClient,
    project: bytes,
    entities: dict[str, list[Any]],
    n: int,
    *,
    include_feature_view_version_metadata: bool,
) -> LookupResult | None:
    """Read and shape one request with ``plan``; None when a key value needs the SDK path's error.

    Raises:
        ServiceUnavailableError: the cluster did not answer within the retry policy.
    """
    commands: list[Command] = []
    row_cmd: list[list[int]] = []  # per group: command index per row
    for group in plan.groups:
        index_of_key: dict[bytes, int] = {}
        per_row: list[int] = []
        head = b"*%d\r\n$5\r\nHMGET\r\n" % group.nargs
        if group.int64_prefix is not None:
            values = entities[group.join_keys[0][0]]
            keys = []
            for v in values:
                if v.__class__ is not int or not _INT64[0] <= v <= _INT64[1]:
                    return None  # the SDK path names the bad value
                keys.append(group.int64_prefix + _PACK_Q(v) + project)
        else:
            columns = [entities[k] for k, _ in group.join_keys]
            try:
                keys = [
                    serialize_entity_key(group.join_keys, vals) + project
                    for vals in zip(*columns, strict=True)
                ]
            except TypeError:
                return None
        for key in keys:
            idx = index_of_key.get(key)
            if idx is None:
                idx = index_of_key[key] = len(commands)
                commands.append(Command(key=key, args=(), packed=head + resp_bulk(key) + group.fields_resp))
            per_row.append(idx)
        row_cmd.append(per_row)
    replies = client.execute(commands)
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    now_us = time.time_ns() // 1000
    # per group, per view read: (values per feature, statuses per feature, stamps)
    decoded = [
        [_decode_view(read, [replies[i] for i in per_row], now_us) for read in group.reads]
        for group, per_row in zip(plan.groups, row_cmd, strict=True)
    ]
    results: list[dict[str, Any]] = []
    present = ["PRESENT"] * n
    no_time = [_NO_TIME] * n
    for key in plan.keys_out:
        results.append({"values": entities[key], "statuses": present, "event_timestamps": no_time})
    counts: dict[tuple[str, str], int] = {}
    for (gi, ri, fi), (view, _) in zip(plan.columns, plan.refs, strict=True):
        vals, stats, stamps = decoded[gi][ri]
        col_stats = stats[fi]
        results.append({"values": vals[fi], "statuses": col_stats, "event_timestamps": stamps})
        for status in ("PRESENT", "NULL_VALUE", "NOT_FOUND", "OUTSIDE_MAX_AGE"):
            c = col_stats.count(status)
            if c:
                counts[(view, status)] = counts.get((view, status), 0) + c
    metadata: dict[str, Any] = {"feature_names": list(plan.names)}
    if include_feature_view_version_metadata:
        metadata["feature_view_metadata"] = [{"name": v} for v in plan.views]
    return LookupResult({"results": results, "metadata": metadata}, counts)
