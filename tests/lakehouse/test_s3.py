"""The same Delta tables on the stack's S3 server (moto_server): round trip, concurrency, outages."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest
from deltalake import DeltaTable

from featurelake.errors import LakehouseError
from featurelake.lakehouse.training import read_snapshot_arrow
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
    # optimize and snapshot reads move data files through delta-rs (its long-timeout profile)
    assert s3_lake.optimize("events", zorder_by=["user_id"])["version"] == 2
    assert read_snapshot_arrow(s3_lake, "events", 2).num_rows == len(expected)
    assert sorted_rows(s3_lake.read(spark, "events")) == expected


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


def _unreachable_lake(endpoint: str, bucket: str = "featurelake"):
    from featurelake.lakehouse import Lakehouse

    return Lakehouse(
        f"s3://{bucket}/nowhere",
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "x",
            "AWS_SECRET_ACCESS_KEY": "y",
            "AWS_REGION": "us-east-1",
        },
    )


def _assert_one_clean_line(message: str) -> None:
    assert "\x1b" not in message and "\u21b3" not in message and "\n" not in message, message


@pytest.mark.timeout(60)
def test_s3_endpoint_down_fails_fast_with_a_clear_error(spark, s3):
    down = _unreachable_lake("http://127.0.0.1:9", s3["bucket"])  # discard port: nothing listens
    with pytest.raises(
        LakehouseError, match=r"cannot open table 'events' under s3://.*endpoint http://127\.0\.0\.1:9"
    ) as err:
        down.read(spark, "events")
    _assert_one_clean_line(str(err.value))
    assert "did not answer (Connection refused" in str(err.value)
    assert "check storage.s3.endpoint_url" in str(err.value)
    with pytest.raises(LakehouseError, match=r"did not answer \(Connection refused.*featurelake services up"):
        down.write(events_df(spark, event_rows(10)), "events", partition_by=["event_date"])


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """An S3 endpoint that accepts TCP connections and never answers (a hung server)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.2)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, name="silent-s3", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in accepted:
            conn.close()
        server.close()


# Each operation gets its own bound: with the old 120 s request timeout each one hung for minutes.
@pytest.mark.timeout(30)
@pytest.mark.parametrize("operation", ["read", "write", "list_tables"])
def test_silent_s3_endpoint_fails_within_seconds_naming_the_timeout(spark, silent_endpoint, operation):
    lake = _unreachable_lake(silent_endpoint)
    with pytest.raises(LakehouseError) as err:
        if operation == "read":
            lake.read(spark, "events")
        elif operation == "write":
            lake.write(events_df(spark, event_rows(10)), "events", partition_by=["event_date"])
        else:
            lake.list_tables()
    message = str(err.value)
    _assert_one_clean_line(message)
    assert f"the S3 endpoint {silent_endpoint} did not answer (timed out" in message
    assert "check storage.s3.endpoint_url" in message
