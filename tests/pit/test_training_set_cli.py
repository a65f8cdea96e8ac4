"""`featurelake training-set create | reproduce | show | list | export`, in process (shares the Spark session)."""

from __future__ import annotations

import json

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
