"""Refuse before the expensive part: bad backfill, materialize and training-set requests fail before
Spark starts, with the documented exit code, and change nothing; dry runs write nothing; two
backfills of overlapping days of one view cannot run at once.

Each CLI case runs ``featurelake`` in a subprocess that reports whether a SparkContext was ever
created, so "before Spark" is checked, not assumed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from featurelake.errors import RunConflictError
from tests.backfill.lakes import Lake

# Runs the CLI in-process (so the same interpreter can tell whether Spark started) and prints
# the exit code and whether a SparkContext exists on stdout's last line.
_PROBE = """
import json, sys
from featurelake.cli.main import main
code = 0
try:
    main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
spark = "pyspark" in sys.modules and __import__("pyspark").SparkContext._active_spark_context is not None
print(json.dumps({"code": code, "spark_started": spark}))
"""


def _cli(lake: Lake, *args: str) -> tuple[int, bool, str, str]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, "--config", str(lake.config), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["code"], result["spark_started"], out.stdout, out.stderr


def _state(lake: Lake, table: str = "user_counts__v1") -> tuple[int | None, int]:
    version = lake.lakehouse.version(table) if lake.lakehouse.exists(table) else None
    return version, len(lake.registry.list_runs(lake.settings.project, limit=1000))


TOMORROW = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()

BAD_BACKFILLS = [
    (
        ["--view", "user_counts", "--start", "2024-01-10", "--end", "2024-01-05"],
        2,
        "is after --end 2024-01-05",
    ),
    (
        ["--view", "user_counts", "--start", "2024-01-10", "--end", "2024-01-12", "--chunk-days", "0"],
        2,
        "--chunk-days 0",
    ),
    (
        ["--view", "user_counts", "--start", "2024-01-10", "--end", "2024-01-12", "--target-file-mb", "-3"],
        2,
        "--target-file-mb -3",
    ),
    (["--view", "no_such_view", "--start", "2024-01-10", "--end", "2024-01-12"], 2, "no_such_view"),
    (["--view", "user_counts", "--version", "9", "--start", "2024-01-10", "--end", "2024-01-12"], 2, "9"),
    (["--view", "user_counts", "--start", "2099-01-01", "--end", "2099-01-03"], 2, "2099-01-01"),
    (["--view", "user_counts", "--start", "2024-01-10", "--end", TOMORROW], 2, TOMORROW),
    (["--view", "user_counts", "--start", "2024-13-01", "--end", "2024-01-12"], 2, "2024-13-01"),
    (
        ["--view", "user_counts_archived", "--start", "2024-01-10", "--end", "2024-01-12"],
        2,
        "user_counts_archived",
    ),
]


@pytest.mark.parametrize(
    ("args", "code", "named"), BAD_BACKFILLS, ids=[" ".join(a[2:]) for a, _, _ in BAD_BACKFILLS]
)
def test_bad_backfill_is_refused_before_spark(lake: Lake, args: list[str], code: int, named: str) -> None:
    if "user_counts_archived" in args:
        reg, project = lake.registry, lake.settings.project
        if reg.get_view_version(project, "user_counts_archived", "1.0").status != "archived":
            reg.set_status(project, "user_counts_archived", "1.0", "deprecated", reason="t", actor="t")
            reg.set_status(project, "user_counts_archived", "1.0", "archived", reason="t", actor="t")
    before = _state(lake)
    got, spark_started, _, err = _cli(lake, "backfill", *args)
    assert got == code, err
    assert named in err, err
    assert len([line for line in err.splitlines() if line.strip()]) <= 3, err  # one red line, not a traceback
    assert not spark_started
    assert _state(lake) == before


def test_future_days_need_allow_future_and_name_the_first_one(lake: Lake) -> None:
    today = datetime.now(UTC).date()
    code, _, _, err = _cli(
        lake,
        "backfill",
        "--view",
        "user_counts",
        "--start",
        (today - timedelta(days=2)).isoformat(),
        "--end",
        (today + timedelta(days=5)).isoformat(),
    )
    assert code == 2
    assert f"day {today + timedelta(days=1)} is after today" in err and "--allow-future" in err


def test_backfill_dry_run_reports_reads_and_writes_nothing(lake: Lake) -> None:
    before = _state(lake)
    code, spark_started, out, err = _cli(
        lake,
        "backfill",
        "--view",
        "user_counts",
        "--start",
        "2024-01-10",
        "--end",
        "2024-01-14",
        "--dry-run",
        "--output",
        "json",
    )
    assert code == 0, err
    assert not spark_started
    report = json.loads(out.strip().rsplit("\n", 1)[0])  # the probe's own line comes last
    assert report["dry_run"] is True
    assert report["ranges_to_compute"] == [["2024-01-10", "2024-01-14"]]
    assert report["days_to_compute"] == 5
    assert report["writes"]["table"] == "user_counts__v1"
    (source,) = report["sources"]
    assert source["table"] == "raw_transactions" and source["version"] == lake.lakehouse.version(
        "raw_transactions"
    )
    assert source["partitions"] and source["partitions"][0][1] == "2024-01-14"
    assert _state(lake) == before


def test_missing_sqlite_registry_is_refused_and_not_created(lake: Lake, tmp_path: Path) -> None:
    typo = tmp_path / "typo" / "registry.db"
    config = tmp_path / "featurelake.yaml"
    data = json.loads(json.dumps(__import__("yaml").safe_load(lake.config.read_text())))
    data["registry"] = {"url": f"sqlite:///{typo}"}
    config.write_text(__import__("yaml").safe_dump(data))
    for args in (
        ["registry", "list"],
        ["backfill", "--view", "user_counts", "--start", "2024-01-10", "--end", "2024-01-12"],
    ):
        out = subprocess.run(
            [sys.executable, "-m", "featurelake.cli.main", "--config", str(config), *args],
            capture_output=True,
            text=True,
        )
        assert out.returncode == 2, out.stderr
        assert str(typo) in out.stderr and "featurelake apply" in out.stderr
    plan = subprocess.run(
        [sys.executable, "-m", "featurelake.cli.main", "--config", str(config), "plan"],
        capture_output=True,
        text=True,
    )
    assert plan.returncode == 0, plan.stderr
    assert "user_counts" in plan.stdout
    assert not typo.parent.exists(), "a command other than apply/registry init created the registry folder"
    init = subprocess.run(
        [sys.executable, "-m", "featurelake.cli.main", "--config", str(config), "registry", "init"],
        capture_output=True,
        text=True,
    )
    assert init.returncode == 0, init.stderr
    assert typo.is_file()


def test_overlapping_runs_of_one_view_are_refused_disjoint_ones_pass(lake: Lake) -> None:
    reg, project = lake.registry, lake.settings.project
    first = reg.start_run(
        project, "backfill", {"view": "v_lease"}, "a", exclusive_span=("2024-01-10", "2024-01-20")
    )
    with pytest.raises(RunConflictError) as err:
        reg.start_run(
            project, "backfill", {"view": "v_lease"}, "b", exclusive_span=("2024-01-20", "2024-01-25")
        )
    assert first in str(err.value) and "2024-01-10..2024-01-20" in str(err.value)
    disjoint = reg.start_run(
        project, "backfill", {"view": "v_lease"}, "b", exclusive_span=("2024-01-21", "2024-01-25")
    )
    other_view = reg.start_run(
        project, "backfill", {"view": "v_other"}, "c", exclusive_span=("2024-01-10", "2024-01-20")
    )
    # a dead run is cancelled by prefix: its days are free at once
    assert reg.cancel_run(first[:8], actor="oncall", reason="killed") == first
    again = reg.start_run(
        project, "backfill", {"view": "v_lease"}, "d", exclusive_span=("2024-01-10", "2024-01-20")
    )
    # an expired lease frees the days too
    expired = reg.start_run(
        project,
        "backfill",
        {"view": "v_exp"},
        "e",
        exclusive_span=("2024-01-01", "2024-01-02"),
        lease=timedelta(seconds=-1),
    )
    reg.start_run(project, "backfill", {"view": "v_exp"}, "f", exclusive_span=("2024-01-01", "2024-01-02"))
    cancelled = next(r for r in reg.list_runs(project, limit=100) if r.run_id == first)
    assert cancelled.status == "failed" and "cancelled by oncall: killed" in (cancelled.error or "")
    for run_id in (disjoint, other_view, again, expired):
        assert run_id
    assert any(a.action == "run.cancel" for a in reg.audit(project=project, limit=50))


def test_cancel_run_cli(lake: Lake) -> None:
    reg, project = lake.registry, lake.settings.project
    run_id = reg.start_run(
        project, "backfill", {"view": "v_cli"}, "a", exclusive_span=("2024-02-01", "2024-02-02")
    )
    code, _, out, err = _cli(lake, "registry", "cancel-run", run_id[:10], "--reason", "node lost")
    assert code == 0, err
    assert run_id in out
    code, _, _, err = _cli(lake, "registry", "cancel-run", run_id[:10])
    assert code == 2 and "already finished" in err
    code, _, _, err = _cli(lake, "registry", "cancel-run", "zzzzzzzz")
    assert code == 2 and "zzzzzzzz" in err


@pytest.mark.spark
@pytest.mark.slow
def test_two_identical_backfills_one_refused_at_once(lake: Lake) -> None:
    """Two real backfill processes of the same days: one computes, the other exits 5 naming it."""
    args = ["backfill", "--view", "user_counts", "--start", "2024-01-20", "--end", "2024-01-21"]
    cmd = [sys.executable, "-m", "featurelake.cli.main", "--config", str(lake.config), *args]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # wait until the first run is registered as running, then start the second
    deadline = datetime.now(UTC) + timedelta(minutes=3)
    while not lake.registry.list_runs(
        lake.settings.project, kind="backfill", status="running", target="user_counts"
    ):
        assert first.poll() is None, first.communicate()
        assert datetime.now(UTC) < deadline, "the first backfill never registered its run"
        __import__("time").sleep(0.2)
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    assert second.returncode == 5, second.stderr
    assert "overlaps run" in second.stderr and "still running" in second.stderr
    # (disjoint spans of one view pass: test_overlapping_runs_of_one_view_are_refused_disjoint_ones_pass)


def test_backfill_held_by_a_live_run_is_refused_before_spark(lake: Lake) -> None:
    """The overlap check runs before Spark starts: a refused run costs no JVM and writes nothing."""
    reg, project = lake.registry, lake.settings.project
    holder = reg.start_run(
        project, "backfill", {"view": "user_counts"}, "a", exclusive_span=("2024-01-18", "2024-01-19")
    )
    try:
        before = _state(lake)
        args = ["backfill", "--view", "user_counts", "--start", "2024-01-19", "--end", "2024-01-21"]
        code, spark_started, _, err = _cli(lake, *args)
        assert code == 5, err
        assert holder in err and "still running" in err
        assert not spark_started
        assert _state(lake) == before
        # a dry run only plans: it is not refused
        code, spark_started, out, err = _cli(lake, *args, "--dry-run")
        assert code == 0 and not spark_started, err
    finally:
        reg.cancel_run(holder, actor="test", reason="done")


def test_materialize_dry_run_and_unknown_view_refused_before_spark(lake: Lake) -> None:
    before = _state(lake)
    code, spark_started, _, err = _cli(lake, "materialize", "--view", "nope", "--incremental")
    assert code == 2 and "nope" in err and not spark_started
    code, spark_started, _, err = _cli(
        lake, "materialize", "--view", "user_counts", "--start", "2024-02-01", "--end", "2024-01-01"
    )
    assert code == 2 and not spark_started
    assert _state(lake) == before


def test_training_set_bad_request_refused_before_spark(lake: Lake, tmp_path: Path) -> None:
    before = _state(lake)
    cases = [
        (["--service", "no_service", "--entities", str(tmp_path), "--name", "ts"], "no_service"),
        (
            ["--service", "no_service", "--entities", str(tmp_path / "missing.parquet"), "--name", "ts"],
            "missing.parquet",
        ),
        (["--service", "no_service:vx", "--entities", str(tmp_path), "--name", "ts"], "vx"),
        (["--service", "no_service", "--entities", str(tmp_path), "--name", "bad name!"], "bad name!"),
    ]
    for args, named in cases:
        code, spark_started, _, err = _cli(lake, "training-set", "create", *args)
        assert code == 2, (args, err)
        assert named in err, (args, err)
        assert not spark_started, args
    assert _state(lake) == before
