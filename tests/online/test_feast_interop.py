"""Our writer against Feast's own Redis online store, on the stack's Redis cluster."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
import redis
from feast.infra.online_stores.redis import RedisOnlineStore
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value

from featurelake.jobs.online import online_view_from_feast
from featurelake.lakehouse.online import ClusterClient, OnlineWriter
from featurelake.lakehouse.online.encoding import redis_key, to_epoch_micros
from tests.online.helpers import feast_store, unique_project

pytestmark = pytest.mark.redis

NOW = datetime.now(UTC).replace(microsecond=123456)


def _rows(n: int):
    for i in range(n):
        yield (
            i,
            NOW - timedelta(minutes=i),
            {
                "conv_rate": None if i % 5 == 0 else i / 7,
                "trips": i * 3 - 10,
                "city": f"city-{i}é",
                "active": i % 2 == 0,
                "score": float(i) + 0.5,
            },
        )


def _hgetall(nodes: list[str], key: bytes) -> dict[bytes, bytes]:
    host, _, port = nodes[0].rpartition(":")
    rc = redis.RedisCluster(host=host, port=int(port))
    try:
        return rc.hgetall(key)
    finally:
        rc.close()


def test_bytes_equal_feast_online_write_batch(tmp_path, redis_nodes) -> None:
    feast_project, our_project = unique_project(), unique_project()
    store, stats_view, _ = feast_store(tmp_path, feast_project, redis_nodes)
    rows = list(_rows(20))
    data = []
    for i, ts, feats in rows:
        values = {
            "conv_rate": Value() if feats["conv_rate"] is None else Value(double_val=feats["conv_rate"]),
            "trips": Value(int64_val=feats["trips"]),
            "city": Value(string_val=feats["city"]),
            "active": Value(bool_val=feats["active"]),
            "score": Value(float_val=feats["score"]),
        }
        data.append(
            (EntityKey(join_keys=["driver_id"], entity_values=[Value(int64_val=i)]), values, ts, None)
        )
    RedisOnlineStore().online_write_batch(store.config, stats_view, data, None)

    view = online_view_from_feast(stats_view)
    client = ClusterClient(redis_nodes)
    OnlineWriter(client, project=our_project, view=view).write_rows(
        ([i], to_epoch_micros(ts), [feats[f] for f in view.feature_names]) for i, ts, feats in rows
    )
    for i, _, _ in rows:
        feast_key = RedisOnlineStore()._generate_redis_keys_for_entities(store.config, [data[i][0]])[0]
        our_key = redis_key(our_project, view.join_keys, [i])
        assert feast_key[: -len(feast_project)] == our_key[: -len(our_project)]
        theirs, ours = _hgetall(redis_nodes, feast_key), _hgetall(redis_nodes, our_key)
        assert theirs, f"Feast wrote nothing for entity {i}"
        assert ours == theirs


def _feast_value(feature: str, value) -> Value:
    kind = {"conv_rate": "double_val", "trips": "int64_val", "city": "string_val", "active": "bool_val"}
    return Value() if value is None else Value(**{kind.get(feature, "float_val"): value})


def test_arrow_path_bytes_equal_feast_online_write_batch(tmp_path, redis_nodes) -> None:
    """The executors' path (``write_arrow``: columns encoded with numpy, commands packed as RESP)
    writes exactly what Feast writes, nulls of every type included, across several rounds."""
    import pyarrow as pa

    feast_project, our_project = unique_project(), unique_project()
    store, stats_view, _ = feast_store(tmp_path, feast_project, redis_nodes)
    features = ("conv_rate", "trips", "city", "active", "score")
    rows = []
    for i, ts, feats in _rows(23):
        null = features[i % 6] if i % 6 < len(features) else None  # each type null on some rows
        rows.append((i, ts, {f: None if f == null else v for f, v in feats.items()}))
    data = [
        (
            EntityKey(join_keys=["driver_id"], entity_values=[Value(int64_val=i)]),
            {f: _feast_value(f, v) for f, v in feats.items()},
            ts,
            None,
        )
        for i, ts, feats in rows
    ]
    RedisOnlineStore().online_write_batch(store.config, stats_view, data, None)

    view = online_view_from_feast(stats_view)
    table = pa.table(
        {
            "driver_id": pa.array([i for i, _, _ in rows], pa.int64()),
            "event_timestamp": pa.array([ts for _, ts, _ in rows], pa.timestamp("us", tz="UTC")),
            "conv_rate": pa.array([f["conv_rate"] for _, _, f in rows], pa.float64()),
            "trips": pa.array([f["trips"] for _, _, f in rows], pa.int64()),
            "city": pa.array([f["city"] for _, _, f in rows], pa.string()),
            "active": pa.array([f["active"] for _, _, f in rows], pa.bool_()),
            "score": pa.array([f["score"] for _, _, f in rows], pa.float32()),
        }
    )
    assert [kind for _, kind in view.features] == ["double", "int64", "string", "bool", "float"]
    writer = OnlineWriter(ClusterClient(redis_nodes), project=our_project, view=view, batch_size=5)
    try:
        assert writer.write_arrow(table).written == len(rows)
    finally:
        writer.close()
    for i, _, _ in rows:
        feast_key = RedisOnlineStore()._generate_redis_keys_for_entities(store.config, [data[i][0]])[0]
        our_key = redis_key(our_project, view.join_keys, [i])
        assert feast_key[: -len(feast_project)] == our_key[: -len(our_project)]
        theirs, ours = _hgetall(redis_nodes, feast_key), _hgetall(redis_nodes, our_key)
        assert theirs, f"Feast wrote nothing for entity {i}"
        assert ours == theirs, f"entity {i}"


def test_feast_get_online_features_reads_what_we_wrote(tmp_path, redis_nodes) -> None:
    project = unique_project()
    store, stats_view, profile_view = feast_store(tmp_path, project, redis_nodes)
    stats, profile = online_view_from_feast(stats_view), online_view_from_feast(profile_view)
    client = ClusterClient(redis_nodes)
    rows = list(_rows(10))
    OnlineWriter(client, project=project, view=stats).write_rows(
        ([i], to_epoch_micros(ts), [f[n] for n in stats.feature_names]) for i, ts, f in rows
    )
    OnlineWriter(client, project=project, view=profile).write_rows(
        ([i], to_epoch_micros(NOW), [4.5 - i / 10, f"car{i}"]) for i, _, _ in rows
    )
    result = store.get_online_features(
        features=[
            "driver_stats:conv_rate",
            "driver_stats:trips",
            "driver_stats:city",
            "driver_stats:active",
            "driver_profile:rating",
            "driver_profile:vehicle",
        ],
        entity_rows=[{"driver_id": i} for i, _, _ in rows] + [{"driver_id": 999}],
    ).to_dict()
    for pos, (i, _, f) in enumerate(rows):
        expected_conv = f["conv_rate"]
        got_conv = result["conv_rate"][pos]
        assert (
            (got_conv is None or (isinstance(got_conv, float) and math.isnan(got_conv)))
            if expected_conv is None
            else got_conv == expected_conv
        )
        assert result["trips"][pos] == f["trips"]
        assert result["city"][pos] == f["city"]
        assert result["active"][pos] == f["active"]
        assert result["rating"][pos] == 4.5 - i / 10
        assert result["vehicle"][pos] == f"car{i}"
    assert result["trips"][-1] is None and result["vehicle"][-1] is None
