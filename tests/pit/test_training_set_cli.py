"""`featurelake training-set create | reproduce | show | list | export`, in process (shares the Spark session)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd
import pytest
from click.testing import CliRunner

from featurelake.cli.main import cli

pytestmark = pytest.mark.spark


@pytest.fixture
def run_cli(world, monkeypatch):
    env = {
        "FEATURELAKE_HOME": str(world.root / "home"),
        "FEATURELAKE_PROJECT": "pit",
        "FEATURELAKE_STORAGE_ROOT": str(world.root / "lake"),
        "FEATURELAKE_REGISTRY_URL": f"sqlite:///{world.root / 'registry.db'}",
        "FEATURELAKE_SPARK_MASTER": "local[2]",
    }
    monkeypatch.delenv("FEATURELAKE_CONFIG", raising=False)

    def run(*args: str) -> dict | list:
        result = CliRunner().invoke(cli, [*args, "--output", "json"], env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    return run


def test_create_show_list_reproduce_export(world, run_cli, tmp_path):
    labels = pd.DataFrame(
        {
            "row_id": [1, 2, 3],
            "user_id": [1, 2, 1],
            "merchant_id": ["a", "a", "b"],
            "event_timestamp": pd.to_datetime(
                ["2026-01-02 12:00", "2026-01-03 00:00", "2026-01-04 00:00"], utc=True
            ),
        }
    )
    world.lakehouse.write(world.spark.createDataFrame(labels), "labels")

    created = run_cli(
        "training-set", "create", "--service", "fraud:v2", "--entities", "labels", "--name", "cli_set"
    )
    assert created["rows"] == 3 and created["version"] == 1
    shown = run_cli("training-set", "show", "cli_set")
    assert shown["entity_source"] == {"table": "labels", "version": world.lakehouse.version("labels")}
    assert shown["checksum"] == created["checksum"] and shown["service"] == "fraud:v2"
    listed = run_cli("training-set", "list")
    assert [(r["name"], r["version"]) for r in listed] == [("cli_set", 1)]
    world.write_users(
        [
            (
                1,
                pd.Timestamp("2026-01-02 06:00", tz="UTC").to_pydatetime(),
                pd.Timestamp("2026-01-05", tz="UTC").to_pydatetime(),
                1.0,
                1,
            )
        ]
    )
    repro = run_cli("training-set", "reproduce", "cli_set")
    assert repro["equal"] is True and repro["got"] == created["checksum"]
    out = tmp_path / "cli_set.csv"
    exported = run_cli("training-set", "export", "cli_set", "--format", "csv", "--path", str(out))
    back = pd.read_csv(out)
    assert exported["rows"] == len(back) == 3
    assert sorted(back["row_id"]) == [1, 2, 3] and {"spend", "txns", "risk"} <= set(back.columns)


def test_entity_files_as_users_write_them(world, monkeypatch, tmp_path, capsys):
    """pandas' default parquet (nanosecond timestamps) is accepted; naive times need --naive-timestamps utc;
    sub-microsecond values and files that are not parquet are one clear line, before anything is written."""
    env = {
        "FEATURELAKE_HOME": str(world.root / "home"),
        "FEATURELAKE_PROJECT": "pit",
        "FEATURELAKE_STORAGE_ROOT": str(world.root / "lake"),
        "FEATURELAKE_REGISTRY_URL": f"sqlite:///{world.root / 'registry.db'}",
        "FEATURELAKE_SPARK_MASTER": "local[2]",
    }
    monkeypatch.delenv("FEATURELAKE_CONFIG", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    @dataclass
    class Result:
        exit_code: int
        stdout: str
        stderr: str

        @property
        def output(self) -> str:
            return self.stdout + self.stderr

    def create(path, name, *extra):
        """Through the real entry point, so errors get their exit codes (2: bad input)."""
        from featurelake.cli.main import main

        args = [
            "training-set",
            "create",
            "--service",
            "fraud:v2",
            "--entities",
            str(path),
            "--name",
            name,
            *extra,
        ]
        capsys.readouterr()
        code = 0
        try:
            main([*args, "--output", "json"])
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        out = capsys.readouterr()
        return Result(code, out.out, out.err)

    labels = pd.DataFrame(
        {
            "row_id": [1, 2],
            "user_id": [1, 2],
            "merchant_id": ["a", "a"],
            "event_timestamp": pd.to_datetime(["2026-01-02 12:00", "2026-01-03 00:00"], utc=True),
        }
    )
    ns_file = tmp_path / "labels_ns.parquet"
    labels.to_parquet(ns_file)  # pandas' defaults: nanosecond timestamps, which Spark cannot read
    ok = create(ns_file, "from_pandas")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["rows"] == 2
    tables_before = set(world.lakehouse.list_tables())

    naive = labels.assign(event_timestamp=labels["event_timestamp"].dt.tz_localize(None))
    naive_file = tmp_path / "labels_naive.parquet"
    naive.to_parquet(naive_file)
    refused = create(naive_file, "naive_set")
    assert refused.exit_code == 2, refused.output
    assert "naive" in refused.stderr and "--naive-timestamps utc" in refused.stderr
    assert "protocol" not in refused.stderr.lower()
    accepted = create(naive_file, "naive_set", "--naive-timestamps", "utc")
    assert accepted.exit_code == 0, accepted.output

    precise = labels.assign(event_timestamp=labels["event_timestamp"] + pd.Timedelta(nanoseconds=7))
    precise_file = tmp_path / "labels_precise.parquet"
    precise.to_parquet(precise_file)
    lossy = create(precise_file, "lossy")
    assert lossy.exit_code == 2 and "'event_timestamp'" in lossy.stderr and "microseconds" in lossy.stderr

    renamed = tmp_path / "labels_renamed.parquet"
    labels.rename(columns={"event_timestamp": "label_time"}).to_parquet(renamed)
    no_ts = create(renamed, "no_ts")
    assert no_ts.exit_code == 2 and "--timestamp-column" in no_ts.stderr and "'label_time'" in no_ts.stderr
    with_ts = create(renamed, "no_ts", "--timestamp-column", "label_time")
    assert with_ts.exit_code == 0, with_ts.output

    not_parquet = tmp_path / "labels.csv.parquet"
    not_parquet.write_text("row_id,user_id\n1,2\n")
    bad = create(not_parquet, "bad_file")
    assert bad.exit_code == 2 and "not a readable parquet" in bad.stderr and "Caused by" not in bad.stderr
    # the refused builds staged nothing that stays behind
    assert set(world.lakehouse.list_tables()) - tables_before == {
        t
        for t in world.lakehouse.list_tables()
        if t.startswith(("training_set__naive_set__", "training_set__no_ts__"))
    }
