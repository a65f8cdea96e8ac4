"""Changed files between two Delta versions, from the log: appends, replace_range, Z-order, gaps."""

from __future__ import annotations

import json
import os
import shutil
from datetime import timedelta
from urllib.parse import unquote

import pytest
from deltalake import DeltaTable

from featurelake.errors import LakehouseError
from featurelake.lakehouse.changes import ChangesUnavailable, changed_files, table_id
from tests.lakehouse.conftest import START, event_rows, events_df, sorted_rows

pytestmark = pytest.mark.spark

DAY2 = START + timedelta(days=1)


def _paths(files) -> set[str]:
    return {f.path for f in files}


def _log_adds(lake, name: str, version: int) -> list[dict]:
    """The add actions of one commit, read straight from the commit file (the test's own oracle)."""
    path = os.path.join(lake.storage.table_path(name), "_delta_log", f"{version:020d}.json")
    with open(path) as fh:
        return [a["add"] for a in map(json.loads, fh) if "add" in a]


def _history(spark, lake, name: str = "ev") -> dict[str, int]:
    """v0: 3 days; v1: append to every day; v2: replace DAY2; v3: Z-order (dataChange=false)."""
    base = event_rows(300, days=3)
    versions = {"create": lake.write(events_df(spark, base), name, partition_by=["event_date"]).version}
    more = event_rows(60, days=3, seed=3, id_offset=10_000)
    versions["append"] = lake.write(events_df(spark, more), name).version
    fixed = event_rows(40, days=1, start=DAY2, seed=5, id_offset=20_000)
    versions["replace"] = lake.write(events_df(spark, fixed), name, replace_range=(DAY2, DAY2)).version
    versions["zorder"] = lake.optimize(name, zorder_by=["user_id"])["version"]
    return versions


def test_changes_follow_the_log(spark, lake):
    v = _history(spark, lake)
    assert list(v.values()) == [0, 1, 2, 3]
    # the append: exactly the files its commit added (all still live at version 1)
    appended = changed_files(lake, "ev", since_version=0, to_version=1)
    table_path = lake.storage.table_path("ev")
    added_paths = {unquote(a["path"]) for a in _log_adds(lake, "ev", 1)}
    assert added_paths and {os.path.relpath(p, table_path) for p in appended.paths} == added_paths
    assert appended.rows == sum(json.loads(a["stats"])["numRecords"] for a in _log_adds(lake, "ev", 1))
    assert _paths(appended.files) == _paths(lake.files("ev", version=1)) - _paths(lake.files("ev", version=0))

    # the replace_range: the replaced day's new files; the append's files on DAY2 are gone
    replaced = changed_files(lake, "ev", since_version=1, to_version=2)
    assert _paths(replaced.files) == _paths(lake.files("ev", version=2, date_range=(DAY2, DAY2)))
    assert replaced.rows == 40

    # Z-order alone changes nothing
    zorder = changed_files(lake, "ev", since_version=2, to_version=3)
    assert zorder.files == [] and zorder.commits == 1
    assert changed_files(lake, "ev", since_version=3, to_version=3).files == []

    # replace then Z-order: the rewritten DAY2 files inherit the change, other days do not
    both = changed_files(lake, "ev", since_version=1, to_version=3)
    assert _paths(both.files) == _paths(lake.files("ev", version=3, date_range=(DAY2, DAY2)))
    assert both.rows == 40 and both.to_version == 3 and both.from_version == 1

    # since the first version: the append touched every day and Z-order merged its files with the
    # version-0 files of each day, so every live file holds a row committed after version 0
    assert _paths(changed_files(lake, "ev", since_version=0, to_version=3).files) == _paths(
        lake.files("ev", version=3)
    )


def test_read_only_the_changed_files(spark, lake):
    _history(spark, lake)
    changes = changed_files(lake, "ev", since_version=1, to_version=2)
    got = sorted_rows(lake.read(spark, "ev", version=2, files=changes.paths))
    assert got == sorted(event_rows(40, days=1, start=DAY2, seed=5, id_offset=20_000))
    assert lake.read(spark, "ev", version=2, files=[]).count() == 0
    with pytest.raises(LakehouseError, match=r"are not live data files of table 'ev' at version 0"):
        lake.read(spark, "ev", version=0, files=changes.paths)


def test_missing_log_or_unknown_version_cannot_compute(spark, lake):
    _history(spark, lake)
    DeltaTable(lake.table_uri("ev")).create_checkpoint()  # version 3 stays loadable without the JSONs
    os.remove(os.path.join(lake.storage.table_path("ev"), "_delta_log", f"{2:020d}.json"))
    with pytest.raises(ChangesUnavailable, match=r"commit file for version 2 is gone") as err:
        changed_files(lake, "ev", since_version=0, to_version=3)
    assert (err.value.from_version, err.value.to_version) == (0, 3)
    assert "read the table in full at version 3" in str(err.value)
    assert changed_files(lake, "ev", since_version=2, to_version=3).files == []  # the rest is readable
    with pytest.raises(ChangesUnavailable, match=r"version 5 is not a version of the table before 3"):
        changed_files(lake, "ev", since_version=5, to_version=3)
    with pytest.raises(ChangesUnavailable, match=r"re-created"):
        changed_files(lake, "ev", since_version=2, to_version=3, table_id="not-this-table")
    assert table_id(lake, "ev") == table_id(lake, "ev", version=3)


def test_recreated_table_has_a_new_id(spark, lake):
    lake.write(events_df(spark, event_rows(20, days=1)), "ev", partition_by=["event_date"])
    old = table_id(lake, "ev")
    shutil.rmtree(lake.storage.table_path("ev"))
    lake.write(events_df(spark, event_rows(20, days=1)), "ev", partition_by=["event_date"])
    lake.write(events_df(spark, event_rows(5, days=1, id_offset=100)), "ev")
    with pytest.raises(ChangesUnavailable, match="re-created"):
        changed_files(lake, "ev", since_version=0, to_version=1, table_id=old)


@pytest.mark.s3
def test_changes_on_s3(spark, s3_lake, s3):
    import boto3

    _history(spark, s3_lake)
    both = changed_files(s3_lake, "ev", since_version=1, to_version=3)
    assert _paths(both.files) == _paths(s3_lake.files("ev", version=3, date_range=(DAY2, DAY2)))
    assert sorted_rows(s3_lake.read(spark, "ev", version=3, files=both.paths)) == sorted(
        event_rows(40, days=1, start=DAY2, seed=5, id_offset=20_000)
    )
    DeltaTable(s3_lake.table_uri("ev"), storage_options=s3_lake.storage.delta_options()).create_checkpoint()
    bucket, _, prefix = s3_lake.storage.table_path("ev").partition("/")
    boto3.client(
        "s3",
        endpoint_url=s3["endpoint_url"],
        aws_access_key_id=s3["access_key_id"],
        aws_secret_access_key=s3["secret_access_key"],
        region_name=s3["region"],
    ).delete_object(Bucket=bucket, Key=f"{prefix}/_delta_log/{1:020d}.json")
    with pytest.raises(ChangesUnavailable, match=r"commit file for version 1 is gone"):
        changed_files(s3_lake, "ev", since_version=0, to_version=3)
