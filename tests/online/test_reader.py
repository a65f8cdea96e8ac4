"""Reads: statuses under TTL, newer-wins writes, bad input, a cluster that is down."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from featurelake.errors import ServiceUnavailableError
from featurelake.jobs.online import FeatureCatalog, OnlineFeatureClient
from featurelake.lakehouse.online import (
    ClusterClient,
    FeatureStatus,
    InvalidRequestError,
    OnlineReader,
    OnlineView,
    OnlineWriter,
    ViewRequest,
)
from featurelake.lakehouse.online.encoding import to_epoch_micros
from tests.online.helpers import unique_project

pytestmark = pytest.mark.redis

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
VIEW = OnlineView(
    "acct", (("account_id", "int64"),), (("balance", "double"), ("tier", "string")), ttl=timedelta(hours=1)
)


def test_statuses_under_ttl(redis_nodes) -> None:
    project = unique_project()
    client = ClusterClient(redis_nodes)
    w = OnlineWriter(client, project=project, view=VIEW)
    w.write_rows(
        [
            ([1], to_epoch_micros(NOW - timedelta(minutes=5)), [10.0, "gold"]),
            ([2], to_epoch_micros(NOW - timedelta(hours=2)), [20.0, "silver"]),  # older than the TTL
            ([3], to_epoch_micros(NOW - timedelta(minutes=1)), [None, "bronze"]),
        ]
    )
    cols = OnlineReader(client, project=project).read(
        [ViewRequest(VIEW, ("balance", "tier"))], [{"account_id": i} for i in (1, 2, 3, 4)], now=NOW
    )
    balance, tier = cols
    assert balance.values == [10.0, None, None, None]
    assert balance.statuses == [
        FeatureStatus.PRESENT,
        FeatureStatus.OUTSIDE_MAX_AGE,
        FeatureStatus.NULL_VALUE,
        FeatureStatus.NOT_FOUND,
    ]
    assert tier.values == ["gold", None, "bronze", None]
    assert tier.event_timestamps[0] == NOW - timedelta(minutes=5)
    # The same data read "earlier" is inside the TTL.
    early = OnlineReader(client, project=project).read(
        [ViewRequest(VIEW, ("tier",))], [{"account_id": 2}], now=NOW - timedelta(hours=1, minutes=30)
    )
    assert early[0].values == ["silver"] and early[0].statuses == [FeatureStatus.PRESENT]


def test_older_row_never_overwrites_newer(redis_nodes) -> None:
    project = unique_project()
    client = ClusterClient(redis_nodes)
    w = OnlineWriter(client, project=project, view=VIEW)
    t = to_epoch_micros(NOW)
    assert w.write_rows([([1], t, [1.0, "new"])]).written == 1
    stats = w.write_rows([([1], t - 1, [0.0, "old"])])
    assert (stats.written, stats.skipped_older) == (0, 1)
    assert w.write_rows([([1], t, [2.0, "same-time"])]).written == 1  # equal time: a correction wins
    col = OnlineReader(client, project=project).read(
        [ViewRequest(VIEW, ("tier",))], [{"account_id": 1}], now=NOW
    )[0]
    assert col.values == ["same-time"]


def test_concurrent_writers_end_with_newest(redis_nodes) -> None:
    """Two writers race over the same 300 keys with interleaved timestamps: the max always wins."""
    project = unique_project()
    base = to_epoch_micros(NOW)
    n = 300

    def run(offset: int) -> None:
        w = OnlineWriter(ClusterClient(redis_nodes), project=project, view=VIEW, batch_size=50)
        for rnd in range(6):
            ts = rnd * 2 + offset  # writer 0 writes even, writer 1 odd "versions"
            w.write_rows(([i], base + ts, [float(ts), f"v{ts}"]) for i in range(n))

    threads = [threading.Thread(target=run, args=(o,)) for o in (1, 0)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cols = OnlineReader(ClusterClient(redis_nodes), project=project).read(
        [ViewRequest(VIEW, ("balance",))], [{"account_id": i} for i in range(n)], now=NOW
    )
    assert cols[0].values == [11.0] * n  # the newest of both writers (round 5, writer 1)


def test_bad_input_is_named(redis_nodes) -> None:
    catalog = FeatureCatalog(project=unique_project(), views={"acct": VIEW}, statuses={"acct": "active"})
    sdk = OnlineFeatureClient.connect(catalog, redis_nodes)
    with pytest.raises(InvalidRequestError, match=r"unknown entity key name\(s\) \['acount_id'\]"):
        sdk.get_online_features(features=["acct:balance"], entity_rows=[{"acount_id": 1}])
    with pytest.raises(InvalidRequestError, match=r"'account_id' must be an integer.*'1'"):
        sdk.get_online_features(features=["acct:balance"], entity_rows=[{"account_id": "1"}])
    with pytest.raises(InvalidRequestError, match="no feature 'balanse'"):
        sdk.get_online_features(features=["acct:balanse"], entity_rows=[{"account_id": 1}])
    with pytest.raises(InvalidRequestError, match="not 'view:feature'"):
        sdk.get_online_features(features=["balance"], entity_rows=[{"account_id": 1}])
    archived = FeatureCatalog(project=catalog.project, views={"acct": VIEW}, statuses={"acct": "archived"})
    with pytest.raises(InvalidRequestError, match="'acct' is archived"):
        OnlineFeatureClient(archived, sdk.client).get_online_features(
            features=["acct:balance"], entity_rows=[{"account_id": 1}]
        )


@pytest.mark.timeout(60)  # a hang fails the test; no wall-clock assertion
def test_cluster_down_fails_with_clear_error() -> None:
    catalog = FeatureCatalog(project="p", views={"acct": VIEW})
    with pytest.raises(ServiceUnavailableError, match=r"127\.0\.0\.1:7299.*unavailable"):
        OnlineFeatureClient.connect(catalog, ["127.0.0.1:7299"])
