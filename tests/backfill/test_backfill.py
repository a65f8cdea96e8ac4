"""The backfill job end to end: real Spark, real Delta on local disk, a SQLite registry.

Each test uses its own view of the fixture repo (or compares relative states), so the
module shares one lake and one set of demo data.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import pandas as pd
import pytest

from featurelake.errors import DefinitionError, LakehouseError, RegistryError, ValidationFailedError
from featurelake.jobs.backfill import BackfillOptions, run_backfill
from featurelake.lakehouse.transforms import TransformError
from featurelake.registry import Node

pytestmark = pytest.mark.spark

D1, D2 = date(2024, 1, 10), date(2024, 1, 14)


def _opts(view: str, start: date = D1, end: date = D2, **kw) -> BackfillOptions:
    return BackfillOptions(view=view, start=start, end=end, **kw)


def _raw_counts(spark, lake, start: date, end: date) -> pd.DataFrame:
    """Independent check of txn_count_1d: transactions per user per UTC day, straight from the raw table."""
    raw = lake.lakehouse.read(spark, "raw_transactions", columns=["user_id", "event_date"]).toPandas()
    raw = raw[(raw.event_date >= start) & (raw.event_date <= end)]
    return raw.groupby(["user_id", "event_date"]).size().rename("n").reset_index()


def test_backfill_commits_range_records_run_and_lineage(spark, lake):
    result = run_backfill(spark, lake.settings, _opts("user_counts"), actor="alice")
    table = "user_counts__v1"
    df = lake.lakehouse.read(spark, table).toPandas()

    # exactly the requested partitions, each row in the partition of event_timestamp - 1us
    assert sorted(df.event_date.unique()) == [D1 + timedelta(days=i) for i in range(5)]
    assert (df.event_timestamp - pd.Timedelta(microseconds=1)).dt.date.tolist() == df.event_date.tolist()
    # the 1-day count of day D equals the raw transactions of that user on D (when the user was active)
    want = _raw_counts(spark, lake, D1, D2)
    got = df[df.txn_count_1d > 0][["user_id", "event_date", "txn_count_1d"]]
    merged = want.merge(got, on=["user_id", "event_date"], how="outer")
    assert len(merged) == len(want) > 0
    assert (merged.n == merged.txn_count_1d).all()
    assert list(df.columns[:4]) == ["user_id", "event_timestamp", "created_timestamp", "event_date"]

    run = lake.registry.get_run(result.run_id)
    assert run.status == "succeeded" and run.actor == "alice"
    assert run.rows_out == len(df)
    # Only the source partitions the windows need: the 7-day window of D1 starts on D1 - 6 days.
    raw_days = lake.lakehouse.read(spark, "raw_transactions", columns=["event_date"]).toPandas().event_date
    needed = ((raw_days >= D1 - timedelta(days=6)) & (raw_days <= D2)).sum()
    assert run.rows_in == needed and 0 < needed < len(raw_days)
    assert run.params["start"] == D1.isoformat() and run.params["view"] == "user_counts"
    raw_version = lake.lakehouse.version("raw_transactions")
    assert [(i.table, i.version) for i in run.inputs] == [("raw_transactions", raw_version)]
    out_version = run.outputs[0].version
    assert run.outputs[0].table == table and out_version < lake.lakehouse.version(table)  # Z-order came after
    assert run.report["zorder_version"] == lake.lakehouse.version(table)
    assert lake.lakehouse.history(table)[0]["operation"] == "OPTIMIZE"

    edges = lake.registry.lineage(
        lake.settings.project,
        Node.data_source("raw_transactions", raw_version),
        direction="downstream",
        depth=2,
    )
    pairs = {(e.src.kind, e.dst.kind, e.dst.name, e.dst.version) for e in edges}
    assert ("data_source", "feature_view_version", "user_counts", "1.0") in pairs
    assert ("feature_view_version", "delta_output", table, str(out_version)) in pairs
    log = (lake.home / "runs" / result.run_id / "backfill.log").read_text()
    assert "chunk 1/1" in log and "committed days 2024-01-10..2024-01-14" in log


def test_rerun_gives_identical_contents_and_two_runs(spark, lake):
    table = "user_counts__v1"
    if not lake.lakehouse.exists(table):
        run_backfill(spark, lake.settings, _opts("user_counts"), actor="t")
    before = lake.rows(spark, table)
    version_before = lake.lakehouse.version(table)

    def succeeded() -> int:
        return len(
            lake.registry.list_runs(
                lake.settings.project, kind="backfill", target="user_counts", status="succeeded", limit=1000
            )
        )

    runs_before = succeeded()
    run_backfill(
        spark, lake.settings, _opts("user_counts", chunk_days=2), actor="t"
    )  # other chunking, same rows
    assert lake.lakehouse.version(table) > version_before
    assert lake.rows(spark, table) == before
    assert succeeded() == runs_before + 1  # each run is recorded, the rerun as its own


def test_missing_only_fills_the_gaps(spark, lake):
    table = "user_counts__v1"
    if not lake.lakehouse.exists(table):
        run_backfill(spark, lake.settings, _opts("user_counts"), actor="t")
    before = lake.lakehouse.read(spark, table).where(f"event_date between '{D1}' and '{D2}'")
    before_rows = sorted(tuple(r) for r in before.collect())
    result = run_backfill(
        spark,
        lake.settings,
        _opts("user_counts", D1 - timedelta(days=2), D2 + timedelta(days=3), missing_only=True),
        actor="t",
    )
    assert result.ranges == [
        (D1 - timedelta(days=2), D1 - timedelta(days=1)),
        (D2 + timedelta(days=1), D2 + timedelta(days=3)),
    ]
    assert [c["start"] for c in result.chunks] == [str(D1 - timedelta(days=2)), str(D2 + timedelta(days=1))]
    days = sorted(
        r.event_date for r in lake.lakehouse.read(spark, table, columns=["event_date"]).distinct().collect()
    )
    assert days == [D1 - timedelta(days=2) + timedelta(days=i) for i in range(10)]
    after = lake.lakehouse.read(spark, table).where(f"event_date between '{D1}' and '{D2}'")
    assert sorted(tuple(r) for r in after.collect()) == before_rows
    nothing = run_backfill(spark, lake.settings, _opts("user_counts", D1, D2, missing_only=True), actor="t")
    assert nothing.ranges == [] and nothing.rows_written == 0


def test_failing_expectation_commits_nothing_and_saves_report(spark, lake):
    table = "user_counts_strict__v1"
    run_backfill(spark, lake.settings, _opts("user_counts_strict", D1, D1), actor="t")  # one day: <= 60 rows
    version, rows = lake.lakehouse.version(table), lake.rows(spark, table)
    with pytest.raises(ValidationFailedError) as err:
        run_backfill(spark, lake.settings, _opts("user_counts_strict", D1, D2), actor="t")
    text = str(err.value)
    assert (
        "expect_table_row_count_to_be_between" in text
        and "max_value=60" in text
        and "Nothing was committed" in text
    )
    assert lake.lakehouse.version(table) == version and lake.rows(spark, table) == rows
    failed = lake.registry.list_runs(
        lake.settings.project, kind="backfill", target="user_counts_strict", status="failed"
    )
    assert len(failed) == 1 and "expect_table_row_count_to_be_between" in (failed[0].error or "")
    saved = json.loads((lake.home / "runs" / failed[0].run_id / "validation.json").read_text())
    bad = [r for r in saved["results"] if not r["success"]]
    assert [r["expectation"] for r in bad] == ["expect_table_row_count_to_be_between"]
    assert bad[0]["observed_value"] > 60
    assert not [t for t in lake.lakehouse.list_tables() if t.startswith("_staging")]


def test_task_crash_in_custom_transform_commits_nothing(spark, lake):
    with pytest.raises(TransformError) as err:
        run_backfill(spark, lake.settings, _opts("profile_crash", D1, D1), actor="t")
    assert "profile_crash" in str(err.value) and "crash_in_task" in str(err.value)
    assert "boom: corrupt user record" in str(err.value)
    assert err.value.__cause__ is not None
    assert not lake.lakehouse.exists("profile_crash__v1")
    failed = lake.registry.list_runs(lake.settings.project, target="profile_crash", status="failed")
    assert len(failed) == 1


# --------------------------------------------------------------------------- bad input


def test_unknown_view(spark, lake):
    with pytest.raises(RegistryError, match="'no_such_view'"):
        run_backfill(spark, lake.settings, _opts("no_such_view"), actor="t")


def test_start_after_end(spark, lake):
    with pytest.raises(DefinitionError, match="--start 2024-01-14 is after --end 2024-01-10"):
        run_backfill(spark, lake.settings, _opts("user_counts", D2, D1), actor="t")


def test_range_the_sources_do_not_cover_names_missing_partitions(spark, lake):
    # data starts 2024-01-01; the 7d windows of 2024-01-03 reach back to 2023-12-28
    with pytest.raises(LakehouseError) as err:
        run_backfill(
            spark, lake.settings, _opts("user_counts", date(2024, 1, 3), date(2024, 1, 4)), actor="t"
        )
    text = str(err.value)
    assert (
        "2023-12-28..2023-12-31" in text and "raw_transactions" in text and "2024-01-01..2024-02-09" in text
    )
    # ... and past the end of the data
    with pytest.raises(LakehouseError, match="2024-02-10..2024-02-11"):
        run_backfill(
            spark, lake.settings, _opts("user_counts", date(2024, 2, 8), date(2024, 2, 11)), actor="t"
        )
    assert not lake.registry.list_runs(lake.settings.project, target="user_counts", status="failed")


def test_transform_with_wrong_schema_shows_expected_vs_got(spark, lake):
    with pytest.raises(TransformError) as err:
        run_backfill(spark, lake.settings, _opts("profile_wrong_schema", D1, D1), actor="t")
    text = str(err.value)
    assert "missing ['home_country']" in text
    assert "user_id (expected bigint, got int)" in text
    assert (
        "Expected: user_id bigint, event_timestamp timestamp, account_age_days bigint, home_country string"
        in text
    )
    assert not lake.lakehouse.exists("profile_wrong_schema__v1")


def test_source_table_that_does_not_exist(spark, lake):
    with pytest.raises(LakehouseError, match="source table 'raw_nope', which does not exist"):
        run_backfill(spark, lake.settings, _opts("user_counts_nosource"), actor="t")


def test_archived_view_version_refuses(spark, lake):
    project = lake.settings.project
    lake.registry.set_status(project, "user_counts_archived", "1.0", "deprecated", reason="test", actor="t")
    lake.registry.set_status(project, "user_counts_archived", "1.0", "archived", reason="test", actor="t")
    with pytest.raises(RegistryError, match="archived"):
        run_backfill(spark, lake.settings, _opts("user_counts_archived"), actor="t")
    assert not lake.lakehouse.exists("user_counts_archived__v1")


def test_target_file_size_reaches_the_zorder_step(spark, lake):
    table = "user_counts__v1"
    run_backfill(spark, lake.settings, _opts("user_counts", target_file_mb=1), actor="t")
    optimize = next(h for h in lake.lakehouse.history(table) if h.get("operation") == "OPTIMIZE")
    assert str(optimize["operationParameters"]["targetSize"]) == str(1024 * 1024)


def test_target_file_size_below_one_mb_is_refused(spark, lake):
    with pytest.raises(DefinitionError, match="--target-file-mb 0 must be at least 1"):
        run_backfill(spark, lake.settings, _opts("user_counts", target_file_mb=0), actor="t")
