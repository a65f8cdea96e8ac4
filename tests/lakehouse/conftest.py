"""Fixtures for the lakehouse tests: small event frames, a local lake and an S3 lake."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

START = date(2024, 1, 1)


def event_rows(
    n: int, *, days: int = 5, start: date = START, seed: int = 7, id_offset: int = 0
) -> list[tuple]:
    """Rows (user_id, amount, merchant, event_timestamp, event_date) with microsecond timestamps."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        day = start + timedelta(days=i % days)
        ts = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
            seconds=rng.randrange(86_400), microseconds=rng.randrange(1_000_000)
        )
        amount = None if i % 17 == 0 else round(rng.uniform(-50, 500), 2)
        merchant = None if i % 23 == 0 else rng.choice(["acme", "globex", "initech", "umbrella café"])
        rows.append((id_offset + i, amount, merchant, ts.replace(tzinfo=None), day))
    return rows


SCHEMA = "user_id long, amount double, merchant string, event_timestamp timestamp, event_date date"


def events_df(spark: Any, rows: list[tuple], *, partitions: int = 2) -> Any:
    return spark.createDataFrame(rows, SCHEMA).repartition(partitions)


def sorted_rows(df: Any) -> list[tuple]:
    return sorted(
        tuple(r)
        for r in df.select("user_id", "amount", "merchant", "event_timestamp", "event_date").collect()
    )


@pytest.fixture
def lake(tmp_path: Path) -> Any:
    from featurelake.lakehouse import Lakehouse

    return Lakehouse(str(tmp_path / "lake"))


def s3_storage_options(s3: dict[str, Any]) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": s3["endpoint_url"],
        "AWS_ACCESS_KEY_ID": s3["access_key_id"],
        "AWS_SECRET_ACCESS_KEY": s3["secret_access_key"],
        "AWS_REGION": s3["region"],
        "AWS_ALLOW_HTTP": "true",
    }


@pytest.fixture
def s3_lake(s3: dict[str, Any]) -> Iterator[Any]:
    """A Lakehouse under a fresh prefix of the stack's S3 bucket (removed afterwards)."""
    import boto3

    from featurelake.lakehouse import Lakehouse

    prefix = f"tests/lakehouse-{uuid.uuid4().hex[:10]}"
    yield Lakehouse(f"s3://{s3['bucket']}/{prefix}", s3_storage_options(s3))
    client = boto3.client(
        "s3",
        endpoint_url=s3["endpoint_url"],
        aws_access_key_id=s3["access_key_id"],
        aws_secret_access_key=s3["secret_access_key"],
        region_name=s3["region"],
    )
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=s3["bucket"], Prefix=prefix):
        keys += [{"Key": o["Key"]} for o in page.get("Contents", [])]
    for i in range(0, len(keys), 1000):
        client.delete_objects(Bucket=s3["bucket"], Delete={"Objects": keys[i : i + 1000]})
