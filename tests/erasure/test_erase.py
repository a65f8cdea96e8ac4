"""`featurelake erase` end to end without a JVM: real Delta tables (delta-rs), a real Redis cluster.

What every reader sees after an erasure, that other entities are untouched, dry runs, purge and
time travel, the request record, and bad input. Spark readers and training-set rewrites are in
test_erase_spark.py; crash safety in test_erase_crash.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.erasure.world import PAIRS, SUBJECT, TS_ENTITIES, TS_TABLE, USERS, make_world, pair_keys_present

pytestmark = pytest.mark.redis
ROOT = Path(__file__).resolve().parents[2]


def cli(world, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "featurelake.cli.main",
            "--config",
            str(world.config),
            "--actor",
            "dpo",
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=180,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )


def inproc(world, *args: str) -> str:
    from click.testing import CliRunner

    from featurelake.cli.main import cli as group

    result = CliRunner().invoke(group, ["--config", str(world.config), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def user_ids(world, table: str, version: int | None = None) -> set[int]:
    from deltalake import DeltaTable

    dt = DeltaTable(world.lakehouse.table_uri(table), version=version)
    return set(dt.to_pyarrow_table(columns=["user_id"])["user_id"].to_pylist())


@pytest.fixture
def world(tmp_path, redis_nodes):
    w = make_world(tmp_path, redis_nodes)
    yield w
    w.registry.dispose()


def test_dry_run_changes_nothing_and_lists_exactly_what_would_go(world) -> None:
    before = world.versions()
    out = cli(
        world, "erase", "--entity", f"user_id={SUBJECT}", "--reason", "ticket 1", "--dry-run", "-o", "json"
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["dry_run"] is True
    # By hand: 3 days x 1 row in user_stats, 2 rows in raw_tx, 1 entity row of the training set.
    assert {t["table"]: t["rows"] for t in report["tables"]} == {
        "user_stats__v1": 3,
        "raw_tx": 2,
        TS_ENTITIES: 1,
    }
    assert {t["table"]: t["files_to_rewrite"] for t in report["tables"]} == {
        "user_stats__v1": 3,
        "raw_tx": 1,
        TS_ENTITIES: 1,
    }
    # The user's own hash, plus the two user x merchant hashes found by scanning every master.
    assert report["online"] == [
        {"project": world.project, "keys": 3, "present": 3, "masters": report["online"][0]["masters"]}
    ]
    assert 1 <= len(report["online"][0]["masters"]) <= 3
    assert [(t["name"], t["version"]) for t in report["training_sets"]] == [("fraud_train", 1)]
    assert world.versions() == before
    assert world.redis_present(USERS) == [True] * len(USERS)
    assert pair_keys_present(world) == [True] * len(PAIRS)
    req = world.registry.get_erasure_request(report["request_id"])
    assert (req.dry_run, req.status, req.steps) == (True, "succeeded", ())


def test_erase_then_every_reader_misses_the_entity_and_others_are_unchanged(world, redis_nodes) -> None:
    import polars as pl
    from deltalake import DeltaTable

    before_versions = world.versions()
    before = {t: [r for r in world.rows(t) if not _holds(world, t, r)] for t in world.tables()}
    out = cli(
        world, "erase", "--entity", f"user={SUBJECT}", "--reason", "GDPR Art. 17 ticket 2", "-o", "json"
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    rid = report["request_id"]
    assert report["summary"]["rows_removed"] == 6 and report["summary"]["redis_keys_deleted"] == 3
    # One delete commit per table holding the key; untouched tables keep their version.
    after_versions = world.versions()
    assert after_versions == {
        **before_versions,
        "user_stats__v1": before_versions["user_stats__v1"] + 1,
        "raw_tx": before_versions["raw_tx"] + 1,
        TS_ENTITIES: before_versions[TS_ENTITIES] + 1,
    }
    # delta-rs and Polars at the current version
    for table in ("user_stats__v1", "raw_tx", TS_ENTITIES):
        assert SUBJECT not in user_ids(world, table)
        frame = pl.read_delta(world.lakehouse.table_uri(table))
        assert frame.filter(pl.col("user_id") == SUBJECT).height == 0
        assert frame.height > 0
    # Every other entity's rows are exactly as before, in every table.
    for table in world.tables():
        if table == TS_TABLE:
            continue  # not rewritten without --rewrite-training-sets (marked instead)
        assert sorted(world.rows(table)) == sorted(before[table]), table
    # Only the files that held the key were rewritten.
    user_step = next(t for t in report["tables"] if t["table"] == "user_stats__v1")
    assert (user_step["files_removed"], user_step["files_total"]) == (3, 3)
    # Time travel still shows the entity until a purge; the report says so.
    assert SUBJECT in user_ids(world, "user_stats__v1", before_versions["user_stats__v1"])
    assert any("not purged" in n for n in report["notes"])
    # Online: the Redis hash is gone for the subject only; `featurelake online get` agrees.
    assert world.redis_present(USERS) == [u != SUBJECT for u in USERS]
    assert pair_keys_present(world) == [u != SUBJECT for u, _ in PAIRS]
    got = cli(
        world,
        "online",
        "get",
        "--service",
        "fraud",
        "--entity",
        f"user_id={SUBJECT}",
        "--entity",
        "merchant_id=a",
        "-o",
        "json",
    )
    assert got.returncode == 0, got.stderr
    statuses = json.loads(got.stdout)
    assert "NOT_FOUND" in json.dumps(statuses) and "PRESENT" in json.dumps(statuses)
    _feature_server_misses_subject(world, redis_nodes)
    # The training set is marked, not rewritten; the record has every step.
    marks = world.registry.training_set_erasures(world.project, "fraud_train", 1)
    assert [(m.request_id, m.state) for m in marks] == [(rid, "holds_erased_data")]
    req = world.registry.get_erasure_request(rid)
    assert req.status == "succeeded" and req.actor == "dpo" and req.reason == "GDPR Art. 17 ticket 2"
    assert sorted((s.kind, s.target, s.rows_removed) for s in req.steps) == sorted(
        [
            ("delta", "user_stats__v1", 3),
            ("delta", "raw_tx", 2),
            ("delta", TS_ENTITIES, 1),
            ("redis", world.project, None),
        ]
    )
    assert str(SUBJECT) not in json.dumps([s.detail for s in req.steps if s.kind == "redis"])
    # The Delta commit names the request: provable from the table's own log.
    commit = DeltaTable(world.lakehouse.table_uri("user_stats__v1")).history(1)[0]
    assert (commit["operation"], commit["featurelake.erasureRequest"]) == ("DELETE", rid)
    # status: json, an HTML report and the listing (in process: the CLI's process start is tested above)
    status = inproc(world, "erase", "status", rid, "-o", "json")
    assert json.loads(status)["status"] == "succeeded" and "salt" not in json.loads(status)
    page = inproc(world, "erase", "status", rid, "-o", "html")
    assert f"Erasure request {rid}" in page and "user_stats__v1" in page
    assert rid in inproc(world, "erase", "status")


def _holds(world, table: str, row: tuple) -> bool:
    """True if ``row`` (sorted-column tuple) belongs to the subject."""
    from deltalake import DeltaTable

    cols = sorted(DeltaTable(world.lakehouse.table_uri(table)).schema().to_arrow().names)
    return "user_id" in cols and row[cols.index("user_id")] == str(SUBJECT)


def _feature_server_misses_subject(world, redis_nodes) -> None:
    from fastapi.testclient import TestClient

    from featurelake.jobs.online import OnlineFeatureClient, load_catalog
    from featurelake.server.app import create_app

    catalog = load_catalog(world.settings, registry=world.registry)
    http = TestClient(create_app(OnlineFeatureClient.connect(catalog, redis_nodes)))
    resp = http.post(
        "/get-online-features",
        json={"feature_service": "fraud", "entities": {"user_id": [SUBJECT, 1], "merchant_id": ["a", "a"]}},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    names = body["metadata"]["feature_names"]
    spend = body["results"][names.index("spend")]
    assert spend["statuses"] == ["NOT_FOUND", "PRESENT"] and spend["values"][1] == 10.0


def test_purge_removes_time_travel_and_is_recorded(world) -> None:
    v0 = world.lakehouse.version("user_stats__v1")
    first = cli(world, "erase", "--entity", f"user_id={SUBJECT}", "--reason", "r", "-o", "json")
    assert first.returncode == 0, first.stderr
    assert SUBJECT in user_ids(world, "user_stats__v1", v0)  # still there by time travel
    # A later --purge (a new request for the same key) vacuums what the first request left.
    out = cli(world, "erase", "--entity", f"user_id={SUBJECT}", "--reason", "r", "--purge", "-o", "json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    purged = {p["table"]: len(p["files"]) for p in report["purged"]}
    assert set(purged) == {"user_stats__v1", "raw_tx", TS_ENTITIES} and purged["user_stats__v1"] == 3
    with pytest.raises(Exception, match="(?i)not found|no such file|does not exist"):
        user_ids(world, "user_stats__v1", v0)
    assert SUBJECT not in user_ids(world, "user_stats__v1")
    assert sorted(u for u in user_ids(world, "user_stats__v1")) == [u for u in USERS if u != SUBJECT]
    req = world.registry.get_erasure_request(report["request_id"])
    assert {s.target for s in req.steps if s.kind == "purge"} == set(purged)
    # The report names the training set whose pinned versions lost their files.
    assert [n for n in report["notes"] if "no longer be read" in n] == [
        "training set fraud_train v1 pins training_set__fraud_train__0001__entities@0, whose files the purge "
        "deleted: it can no longer be read or reproduced"
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--entity", "customer=42"], "unknown entity or join key 'customer'"),
        (["--entity", "user_id=abc"], "user_id='abc': user_id is INT64, so its value must be an integer"),
        (["--entity", "user_id"], "is not NAME=VALUE"),
        (["--file", "EMPTY"], "has no ids"),
        ([], "nothing to erase"),
        (["--entity", "user_id=1", "--entity", "merchant_id=a"], "one request erases one join key"),
    ],
)
def test_bad_input_is_one_clear_error_and_changes_nothing(world, args, message) -> None:
    empty = world.root / "empty.csv"
    empty.write_text("user_id\n")
    args = [str(empty) if a == "EMPTY" else a for a in args]
    before = world.versions()
    if args == ["--entity", "customer=42"]:  # one case as a real process: one red line, exit 2 (bad input)
        out = cli(world, "erase", *args, "--reason", "r")
        assert out.returncode == 2
        assert message in out.stderr and out.stderr.count("\n") == 1, out.stderr
    else:
        from click.testing import CliRunner

        from featurelake.cli.main import cli as group
        from featurelake.errors import FeatureStoreError

        result = CliRunner().invoke(group, ["--config", str(world.config), "erase", *args, "--reason", "r"])
        assert isinstance(result.exception, FeatureStoreError), result.output
        assert message in str(result.exception)
    assert world.versions() == before and world.redis_present(USERS) == [True] * len(USERS)
    assert world.registry.list_erasure_requests(world.project) == []


def test_an_entity_that_exists_nowhere_is_recorded_as_erasing_nothing(world) -> None:
    """Run through the spark-submit entry point (jobs/erase.py) as a plain script: no Spark needed."""
    ids = world.root / "ids.csv"
    ids.write_text("user_id\n9999\n8888\n")
    before = world.versions()
    out = subprocess.run(
        [sys.executable, "-m", "featurelake.jobs.erase", "--config", str(world.config), "--actor", "job"]
        + ["--file", str(ids), "--reason", "ticket 3"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=180,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 0, out.stderr
    assert "no row and no online key of these user_id values was found anywhere" in out.stdout
    assert world.versions() == before and world.redis_present(USERS) == [True] * len(USERS)
    (req,) = world.registry.list_erasure_requests(world.project)
    assert (req.status, req.actor, len(req.key_hashes)) == ("succeeded", "job", 2)
    assert req.report["summary"]["rows_removed"] == 0 and req.report["summary"]["keys"] == 2
