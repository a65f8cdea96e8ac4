"""The same Delta tables on the stack's S3 server (moto_server): round trip, concurrency, outages."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest
from deltalake import DeltaTable

from featurelake.errors import LakehouseError
from tests.lakehouse.conftest import event_rows, events_df, sorted_rows

pytestmark = [pytest.mark.spark, pytest.mark.s3]


def test_round_trip_on_s3(spark, s3_lake):
    rows = event_rows(2000, days=3)
    info = s3_lake.write(events_df(spark, rows), "events", partition_by=["event_date"])
    assert info.version == 0 and info.rows == 2000
    assert sorted_rows(s3_lake.read(spark, "events")) == sorted(rows)
    fresh = event_rows(300, days=1, start=date(2024, 1, 2), seed=11, id_offset=70_000)
    s3_lake.write(events_df(spark, fresh), "events", replace_range=(date(2024, 1, 2), date(2024, 1, 2)))
    expected = sorted([r for r in rows if r[4] != date(2024, 1, 2)] + fresh)
    assert sorted_rows(s3_lake.read(spark, "events")) == expected
    assert sorted_rows(s3_lake.read(spark, "events", version=0)) == sorted(rows)
    dt = DeltaTable(s3_lake.table_uri("events"), storage_options=s3_lake.storage.delta_options())
    assert dt.version() == 1 and dt.to_pyarrow_table().num_rows == len(expected)


def test_four_concurrent_appenders_lose_no_rows(spark, s3_lake):
    s3_lake.write(events_df(spark, event_rows(100, days=2)), "conc", partition_by=["event_date"])
    batches = [event_rows(250, days=2, seed=s, id_offset=(s + 1) * 100_000) for s in range(4)]

    def append(rows):
        return s3_lake.write(events_df(spark, rows), "conc")

    with ThreadPoolExecutor(max_workers=4) as pool:
        infos = list(pool.map(append, batches))
    assert sorted(i.version for i in infos) == [1, 2, 3, 4]  # four distinct commits, none lost
    expected = sorted(event_rows(100, days=2) + [r for b in batches for r in b])
    assert sorted_rows(s3_lake.read(spark, "conc")) == expected


@pytest.mark.timeout(60)
def test_s3_endpoint_down_fails_fast_with_a_clear_error(spark, s3):
    from lakehouse import Lakehouse

    down = Lakehouse(
        f"s3://{s3['bucket']}/nowhere",
        {
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # discard port: nothing listens
            "AWS_ACCESS_KEY_ID": "x",
            "AWS_SECRET_ACCESS_KEY": "y",
            "AWS_REGION": "us-east-1",
        },
    )
    with pytest.raises(
        LakehouseError, match=r"cannot open table 'events' under s3://.*endpoint http://127\.0\.0\.1:9"
    ):
        down.read(spark, "events")
    with pytest.raises(LakehouseError, match=r"check that the storage endpoint is up"):
        down.write(events_df(spark, event_rows(10)), "events", partition_by=["event_date"])
