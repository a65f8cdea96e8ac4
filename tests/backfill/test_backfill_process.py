"""The backfill as a process: spark-submit, SIGKILL mid-run, the standalone cluster, the CLI, Postgres."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from featurelake.jobs.backfill import BackfillOptions, run_backfill, staging_table_name
from tests.backfill.lakes import Lake, make_lake

REPO_ROOT = Path(__file__).resolve().parents[2]
JOB = REPO_ROOT / "jobs" / "backfill.py"
SPARK_SUBMIT = Path(sys.executable).parent / "spark-submit"
D1, D2 = date(2024, 1, 10), date(2024, 1, 14)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEATURELAKE_")}
    env.update(
        PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable, GX_ANALYTICS_ENABLED="false"
    )
    return env


def _submit(lake: Lake, *args: str, master: str | None = None) -> list[str]:
    cmd = [str(SPARK_SUBMIT), "--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.ui.enabled=false"]
    if master:
        cmd += ["--master", master, "--total-executor-cores", "1", "--executor-memory", "1g"]
    return [*cmd, str(JOB), "--config", str(lake.config), *args]


def _newest_run_dir(lake: Lake, known: set[str]) -> Path | None:
    runs = lake.home / "runs"
    if not runs.exists():
        return None
    fresh = [p for p in runs.iterdir() if p.name not in known]
    return fresh[0] if fresh else None


@pytest.mark.spark
@pytest.mark.slow
def test_killed_backfill_leaves_table_unchanged_and_rerun_completes(spark, lake):
    table = "user_counts__v1"
    run_backfill(spark, lake.settings, BackfillOptions(view="user_counts", start=D1, end=D2), actor="t")
    version, rows = lake.lakehouse.version(table), lake.rows(spark, table)
    wide = (D1 - timedelta(days=3), D2 + timedelta(days=3))
    known = {p.name for p in (lake.home / "runs").iterdir()}
    args = [
        "--view",
        "user_counts",
        "--start",
        str(wide[0]),
        "--end",
        str(wide[1]),
        "--chunk-days",
        "1",
        "--lease-seconds",
        "3",
    ]
    proc = subprocess.Popen(
        _submit(lake, *args),
        env=_env(),
        cwd=REPO_ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        staged = False
        while time.monotonic() < deadline and proc.poll() is None:
            run = _newest_run_dir(lake, known)
            log = run / "backfill.log" if run else None
            if log and log.exists() and "chunk 2/" in log.read_text():  # writing has started
                staged = True
                break
            time.sleep(0.2)
        assert staged, f"the job did not start staging (exit code {proc.poll()})"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)

    assert lake.lakehouse.version(table) == version
    assert lake.rows(spark, table) == rows
    time.sleep(4)  # the lease (3 s) expires without a heartbeat
    killed = lake.registry.list_runs(lake.settings.project, target="user_counts", limit=1)[0]
    assert killed.run_id == run.name and killed.status == "abandoned"
    stale = Path(lake.settings.storage_root) / staging_table_name(table, killed.run_id)
    assert stale.is_dir(), "the killed run should have left its private staging folder behind"

    done = run_backfill(
        spark, lake.settings, BackfillOptions(view="user_counts", start=wide[0], end=wide[1]), actor="t"
    )
    assert lake.registry.get_run(done.run_id).status == "succeeded"
    assert not stale.exists(), "the next run sweeps the staging folder of the dead run"
    days = {
        r.event_date for r in lake.lakehouse.read(spark, table, columns=["event_date"]).distinct().collect()
    }
    assert days == {wide[0] + timedelta(days=i) for i in range(11)}
    inner = lake.lakehouse.read(spark, table).where(f"event_date between '{D1}' and '{D2}'")
    assert sorted(tuple(r) for r in inner.collect()) == rows


@pytest.mark.spark
@pytest.mark.cluster
@pytest.mark.slow
def test_standalone_cluster_and_local_mode_produce_identical_tables(spark, lake, spark_master):
    table = "user_counts__v1"
    local = subprocess.run(
        _submit(lake, "--view", "user_counts", "--start", str(D1), "--end", str(D2), "--chunk-days", "2"),
        env=_env(),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert local.returncode == 0, local.stderr[-3000:]
    # Progress per date chunk on the terminal, as the job log has it (spark-submit's PythonRunner
    # merges the driver's stderr into its stdout).
    terminal = local.stdout + local.stderr
    for i, (lo, hi) in enumerate(
        [(D1, D1 + timedelta(days=1)), (D1 + timedelta(days=2), D1 + timedelta(days=3)), (D2, D2)], 1
    ):
        assert f"chunk {i}/3: days {lo}..{hi} computed" in terminal, terminal[-3000:]
    local_rows, local_version = lake.rows(spark, table), lake.lakehouse.version(table)
    on_cluster = subprocess.run(
        _submit(lake, "--view", "user_counts", "--start", str(D1), "--end", str(D2), master=spark_master),
        env=_env(),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert on_cluster.returncode == 0, on_cluster.stderr[-3000:]
    assert lake.lakehouse.version(table) > local_version
    assert lake.rows(spark, table) == local_rows and len(local_rows) > 0
    masters = [
        r.params["spark_master"]
        for r in lake.registry.list_runs(
            lake.settings.project, target="user_counts", status="succeeded", limit=2
        )
    ]
    assert masters[0] == spark_master and masters[1].startswith("local")  # spark-submit's default: local[*]


@pytest.mark.spark
def test_cli_failing_expectation_exits_non_zero_and_prints_report(spark, lake, capsys):
    from featurelake.cli.main import main

    table = "user_counts_strict__v1"
    with pytest.raises(SystemExit) as exit_:
        main(
            [
                "--config",
                str(lake.config),
                "backfill",
                "--view",
                "user_counts_strict",
                "--start",
                str(D1),
                "--end",
                str(D2),
            ]
        )
    assert exit_.value.code == 4  # the data failed a check
    err = capsys.readouterr().err
    assert (
        "expect_table_row_count_to_be_between" in err
        and "Nothing was committed" in err
        and "validation.json" in err
    )
    assert not lake.lakehouse.exists(table)


@pytest.fixture(scope="module")
def pg_lake(tmp_path_factory: pytest.TempPathFactory, pg_url: str, lake: Lake) -> Iterator[Lake]:
    name = f"fl_backfill_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    lk = make_lake(
        tmp_path_factory.mktemp("pglake"), registry_url=url, with_data=Path(lake.settings.storage_root)
    )
    yield lk
    lk.registry.dispose()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.mark.spark
@pytest.mark.postgres
def test_backfill_with_postgres_registry(spark, pg_lake):
    assert pg_lake.settings.registry_url.startswith("postgresql")
    result = run_backfill(
        spark, pg_lake.settings, BackfillOptions(view="user_counts", start=D1, end=D1), actor="pg"
    )
    run = pg_lake.registry.get_run(result.run_id)
    assert run.status == "succeeded" and run.rows_out == result.rows_written > 0
    assert [(o.table, o.version) for o in run.outputs] == [("user_counts__v1", result.outputs[0]["version"])]
    from featurelake.registry import Node

    up = pg_lake.registry.lineage(
        pg_lake.settings.project,
        Node.feature_view_version("user_counts", "1.0"),
        direction="upstream",
        depth=1,
    )
    assert {(e.src.kind, e.src.name) for e in up} == {("data_source", "raw_transactions")}


@pytest.mark.spark
def test_table_commands_accept_a_feature_view_name(spark, lake, capsys):
    """`featurelake table describe VIEW` resolves the view's current table through the registry."""
    import json

    from featurelake.cli.main import main

    main(
        [
            "--config",
            str(lake.config),
            "backfill",
            "--view",
            "user_counts",
            "--start",
            str(D1),
            "--end",
            str(D2),
        ]
    )
    capsys.readouterr()
    expected = lake.registry.get_view_version("bftest", "user_counts").table_name
    main(["--config", str(lake.config), "table", "describe", "user_counts", "--output", "json"])
    by_view = json.loads(capsys.readouterr().out)
    main(["--config", str(lake.config), "table", "describe", expected, "--output", "json"])
    by_table = json.loads(capsys.readouterr().out)
    assert by_view["name"] == expected
    assert by_view == by_table
    with pytest.raises(SystemExit) as exit_:
        main(["--config", str(lake.config), "table", "describe", "no_such_view_or_table"])
    assert exit_.value.code == 2  # bad input
    err = capsys.readouterr().err
    assert "no_such_view_or_table" in err and "does not exist" in err and "neither a feature view" in err
