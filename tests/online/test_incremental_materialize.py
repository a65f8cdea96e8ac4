"""`materialize --incremental` follows the Delta log: late rows, corrections, Z-order, log gaps.

One view and table for the module; the tests run in file order, each one incremental run after
one more commit. Expected files and rows come from the table itself (``Lakehouse.files`` of the
version the run read, the write's ``WriteInfo``), never from the code under test.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from featurelake.config.settings import load_settings_from_dict
from featurelake.jobs.materialize import materialize_view
from featurelake.lakehouse.online import ClusterClient, FeatureStatus, OnlineReader, ViewRequest
from featurelake.lakehouse.tables import Lakehouse
from featurelake.registry.writer import open_registry
from tests.online.helpers import unique_project, user_activity_definitions

pytestmark = [pytest.mark.spark, pytest.mark.redis]

D0 = datetime(2026, 3, 1, tzinfo=UTC)
END = D0 + timedelta(days=10)
USERS = 20
SCHEMA = (
    "user_id long, event_timestamp timestamp, created_timestamp timestamp, event_date date, "
    "clicks long, country string"
)


def _ts(day: int) -> datetime:
    return D0 + timedelta(days=day, hours=12)


def _rows(day: int, users, clicks=lambda u, d: u * 100 + d) -> list[tuple]:
    ts = _ts(day)
    return [(u, ts, ts, ts.date(), clicks(u, day), f"c{day}") for u in users]


class World:
    def __init__(self, spark, settings, registry, lh, project, table, view):
        self.spark, self.settings, self.registry, self.lh = spark, settings, registry, lh
        self.project, self.table, self.view = project, table, view

    def write(self, rows, **kwargs):
        return self.lh.write(self.spark.createDataFrame(rows, SCHEMA).repartition(2), self.table, **kwargs)

    def materialize(self, **kwargs):
        kwargs.setdefault("incremental", True)
        return materialize_view(
            self.spark,
            settings=self.settings,
            registry=self.registry,
            lakehouse=self.lh,
            view="user_activity",
            actor="t",
            end=END,
            **kwargs,
        )

    def online(self, users):
        return OnlineReader(ClusterClient(self.settings.online.nodes), project=self.project).read(
            [ViewRequest(self.view, ("clicks",))], [{"user_id": u} for u in users], now=END
        )[0]


@pytest.fixture(scope="module")
def world(spark, tmp_path_factory, redis_nodes):
    from featurelake.jobs.online import online_view_from_registry

    home = tmp_path_factory.mktemp("incremental")
    project = unique_project()
    settings = load_settings_from_dict(
        {"project": project, "home": str(home), "online": {"nodes": redis_nodes}}, environ={}
    )
    registry = open_registry(settings.registry_url)
    registry.apply_definitions(
        project,
        user_activity_definitions(),
        actor="test",
    )
    vv = registry.get_view_version(project, "user_activity")
    lh = Lakehouse(settings.storage_root)
    w = World(spark, settings, registry, lh, project, vv.table_name, online_view_from_registry(vv))
    w.write([r for day in range(4) for r in _rows(day, range(USERS))], partition_by=["event_date"])
    yield w
    registry.dispose()


def _report(w: World, result) -> dict:
    return w.registry.get_run(result.run_id).report


def test_first_incremental_run_reads_the_whole_table(world):
    w = world
    first = w.materialize()
    files = w.lh.files(w.table, version=first.delta_version)
    assert (first.mode, first.from_version, first.fallback) == ("full", None, first.fallback)
    assert "no earlier incremental or full run" in first.fallback
    assert first.files_read == len(files) and first.rows_read == sum(f.num_records for f in files)
    assert first.written == USERS
    report = _report(w, first)
    assert (report["mode"], report["to_version"], report["files_read"]) == ("full", 0, len(files))
    assert w.online(range(USERS)).values == [u * 100 + 3 for u in range(USERS)]
    assert w.registry.get_watermark(w.project, "user_activity", 1, "materialize") == END


def test_late_row_in_an_old_partition_is_materialized(world):
    w = world
    late_user = 999
    # a backfill of day 1 (well before the watermark) that adds an entity with an OLD event time
    info = w.write(_rows(1, [*range(USERS), late_user]), replace_range=(_ts(1).date(), _ts(1).date()))
    assert _ts(1) < w.registry.get_watermark(w.project, "user_activity", 1, "materialize")
    before = w.online([late_user])
    assert before.statuses == [FeatureStatus.NOT_FOUND]

    run = w.materialize()
    assert (run.mode, run.from_version, run.delta_version) == ("changes", info.version - 1, info.version)
    changed = w.lh.files(w.table, version=info.version, date_range=(_ts(1).date(), _ts(1).date()))
    assert run.files_read == len(changed) == info.files_added
    assert run.rows_read == info.rows == USERS + 1
    assert run.files_read < len(w.lh.files(w.table, version=info.version))
    report = _report(w, run)
    assert (report["mode"], report["from_version"], report["to_version"]) == (
        "changes",
        info.version - 1,
        info.version,
    )
    assert (report["files_read"], report["rows_read"]) == (info.files_added, info.rows)
    got = w.online([late_user, 0])
    assert got.statuses == [FeatureStatus.PRESENT, FeatureStatus.PRESENT]
    assert got.values == [late_user * 100 + 1, 3]  # user 0 keeps its newer day-3 value
    assert run.written == 1 and run.skipped_older == USERS  # older rows never overwrite newer ones


def test_optimize_only_commit_reads_nothing(world):
    w = world
    before = w.lh.version(w.table)
    after = w.lh.optimize(w.table, zorder_by=["user_id"])["version"]
    assert after == before + 1
    run = w.materialize()
    assert (run.mode, run.from_version, run.delta_version) == ("changes", before, after)
    assert (run.files_read, run.rows_read, run.written, run.skipped_older) == (0, 0, 0, 0)


def test_corrected_value_then_zorder_is_materialized(world):
    w = world
    day = _ts(3).date()
    since = w.lh.version(w.table)
    # same (entity, event_timestamp) as online, corrected values; then the usual post-backfill Z-order
    w.write(_rows(3, range(USERS), clicks=lambda u, d: -u - 1), replace_range=(day, day))
    final = w.lh.optimize(w.table, zorder_by=["user_id"])["version"]
    run = w.materialize()
    assert (run.mode, run.from_version, run.delta_version) == ("changes", since, final)
    changed = w.lh.files(w.table, version=final, date_range=(day, day))
    assert run.files_read == len(changed) and run.rows_read == sum(f.num_records for f in changed) == USERS
    assert run.written == USERS
    assert w.online(range(USERS)).values == [-u - 1 for u in range(USERS)]


def test_window_runs_do_not_move_the_incremental_baseline(world):
    w = world
    since = w.lh.version(w.table)
    late = w.write(_rows(0, [555]))  # an append to day 0
    window = w.materialize(incremental=False, start=_ts(2))
    assert window.mode == "window" and window.files_read > 0
    run = w.materialize()
    assert (run.mode, run.from_version) == ("changes", since)  # not the window run's version
    assert run.files_read == late.files_added
    assert w.online([555]).statuses == [FeatureStatus.PRESENT]


def test_cli_shows_mode_and_versions(world, monkeypatch):
    from featurelake.cli.main import cli

    w = world
    since = w.lh.version(w.table)
    w.write(_rows(2, [777]))
    monkeypatch.delenv("FEATURELAKE_CONFIG", raising=False)
    env = {
        "FEATURELAKE_HOME": str(w.settings.home),
        "FEATURELAKE_PROJECT": w.project,
        "FEATURELAKE_ONLINE_NODES": ",".join(w.settings.online.nodes),
        "FEATURELAKE_SPARK_MASTER": "local[2]",
    }
    args = ["materialize", "--view", "user_activity", "--incremental", "--end", END.isoformat()]
    result = CliRunner().invoke(cli, [*args, "--output", "json"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (got,) = json.loads(result.stdout)  # progress lines go to stderr
    assert (got["mode"], got["from_version"], got["delta_version"]) == ("changes", since, since + 1)
    assert got["written"] == 1
    w.write(_rows(2, [778]))
    text = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
    assert text.exit_code == 0, text.output
    assert f"[changes, local] Delta {w.table} {since + 1}->{since + 2}: 1 files / 1 rows read" in text.stdout
    assert "materialize user_activity: changes read" in text.stderr  # progress, one line per step


def test_missing_log_falls_back_to_a_full_read(world):
    from deltalake import DeltaTable

    w = world
    w.write(_rows(2, [888]))
    latest = w.lh.version(w.table)
    DeltaTable(w.lh.table_uri(w.table)).create_checkpoint()
    os.remove(os.path.join(w.lh.storage.table_path(w.table), "_delta_log", f"{latest:020d}.json"))
    run = w.materialize()
    files = w.lh.files(w.table, version=latest)
    assert run.mode == "full" and f"commit file for version {latest} is gone" in run.fallback
    assert run.files_read == len(files) and run.rows_read == sum(f.num_records for f in files)
    assert w.online([888]).statuses == [FeatureStatus.PRESENT]
    assert _report(w, run)["fallback"] == run.fallback
