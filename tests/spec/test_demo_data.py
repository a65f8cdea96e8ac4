"""The demo generator: deterministic, realistically skewed, Spark-readable; the CLI command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable

from featurelake.errors import ConfigError
from featurelake.lakehouse.demo_data import (
    COUNTRIES,
    MERCHANTS_SCHEMA,
    RAW_MERCHANTS,
    RAW_TRANSACTIONS,
    RAW_USERS,
    TRANSACTIONS_SCHEMA,
    USERS_SCHEMA,
    generate,
)

from .repo_fixtures import FEATURE_REPO, ROOT

START = date(2024, 3, 1)
DAYS = 20
ROWS = 20_000


def _read(root: Path, name: str) -> pa.Table:
    return DeltaTable(str(root / name)).to_pyarrow_table()


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo") / "lake"
    generate(None, str(root), rows=ROWS, seed=11, start=START, days=DAYS)
    return root


def test_same_seed_gives_identical_tables_and_other_seed_differs(demo_root: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    other = tmp_path / "other"
    generate(None, str(again), rows=ROWS, seed=11, start=START, days=DAYS)
    generate(None, str(other), rows=ROWS, seed=12, start=START, days=DAYS)
    for name, key in (
        (RAW_USERS, "user_id"),
        (RAW_MERCHANTS, "merchant_id"),
        (RAW_TRANSACTIONS, "transaction_id"),
    ):
        a = _read(demo_root, name).sort_by(key)
        b = _read(again, name).sort_by(key)
        assert a.equals(b), name
        assert not a.equals(_read(other, name).sort_by(key)), name


def test_regenerating_replaces_the_tables(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    generate(None, str(root), rows=500, seed=1, start=START, days=3)
    generate(None, str(root), rows=300, seed=2, start=START, days=2)
    assert _read(root, RAW_TRANSACTIONS).num_rows == 300
    assert DeltaTable(str(root / RAW_TRANSACTIONS)).version() == 1


def test_shape_schema_and_partitions(demo_root: Path) -> None:
    users, merchants, txns = (_read(demo_root, n) for n in (RAW_USERS, RAW_MERCHANTS, RAW_TRANSACTIONS))
    assert users.schema.equals(USERS_SCHEMA) and merchants.schema.equals(MERCHANTS_SCHEMA)
    assert txns.schema.equals(TRANSACTIONS_SCHEMA)
    assert (users.num_rows, merchants.num_rows, txns.num_rows) == (ROWS // 100, ROWS // 1000, ROWS)
    dt = DeltaTable(str(demo_root / RAW_TRANSACTIONS))
    assert dt.metadata().partition_columns == ["event_date"] and dt.version() == 0
    # event_date is the UTC date of event_timestamp, and every day of the range has data
    ts = txns.column("event_timestamp").to_pylist()
    assert all(t.tzinfo is not None for t in ts[:10])
    derived = [t.astimezone(UTC).date() for t in ts]
    assert derived == txns.column("event_date").to_pylist()
    assert set(derived) == {START + timedelta(days=i) for i in range(DAYS)}
    assert min(ts) >= datetime(2024, 3, 1, tzinfo=UTC) and max(ts) < datetime(2024, 3, 21, tzinfo=UTC)
    # ids are unique and increase with time; foreign keys resolve
    order = pc.sort_indices(txns, [("transaction_id", "ascending")])
    ids = pc.take(txns.column("transaction_id"), order).to_numpy()
    assert (np.diff(ids) == 1).all()
    assert (np.diff(pc.take(txns.column("event_timestamp"), order).cast(pa.int64()).to_numpy()) >= 0).all()
    assert set(txns.column("user_id").to_pylist()) <= set(users.column("user_id").to_pylist())
    assert set(txns.column("merchant_id").to_pylist()) <= set(merchants.column("merchant_id").to_pylist())
    assert set(users.column("home_country").to_pylist()) <= set(COUNTRIES)
    signup = users.column("signup_timestamp").to_pylist()
    assert max(signup) < datetime(2024, 3, 1, tzinfo=UTC)


def test_realistic_skew(demo_root: Path) -> None:
    txns = _read(demo_root, RAW_TRANSACTIONS).to_pandas()
    null_rate = txns["amount"].isna().mean()
    assert 0.01 < null_rate < 0.035
    amount = txns["amount"].dropna()
    assert (amount > 0).all()
    assert amount.mean() > 1.5 * amount.median()  # long right tail
    per_user = txns.groupby("user_id").size().sort_values(ascending=False)
    top_decile = per_user.head(max(1, len(per_user) // 10)).sum() / len(txns)
    assert top_decile > 0.25  # a few users make many payments
    per_merchant = txns.groupby("merchant_id").size().sort_values(ascending=False)
    assert per_merchant.iloc[0] > 5 * per_merchant.median()
    fraud_rate = txns["is_fraud"].mean()
    assert 0.001 < fraud_rate < 0.05
    fraud, legit = txns[txns["is_fraud"]], txns[~txns["is_fraud"]]
    assert fraud["amount"].mean() > 1.5 * legit["amount"].mean()
    assert fraud["is_chargeback"].mean() > 0.4 > legit["is_chargeback"].mean()
    assert not (txns["is_chargeback"] & txns["is_refund"]).any()
    assert 0.02 < txns["is_refund"].mean() < 0.04


def test_bad_arguments_name_the_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="rows must be at least 1, got 0"):
        generate(None, str(tmp_path), rows=0, seed=1, start=START, days=1)
    with pytest.raises(ConfigError, match="start must be a date"):
        generate(None, str(tmp_path), rows=1, seed=1, start=datetime(2024, 1, 1), days=1)  # type: ignore[arg-type]
    assert not any(tmp_path.iterdir())


def test_cli_generate_writes_to_the_storage_root(tmp_path: Path) -> None:
    env = {**os.environ, "FEATURELAKE_STORAGE_ROOT": str(tmp_path / "lake"), "PYTHONPATH": str(ROOT)}
    args = [
        "demo",
        "generate",
        "--rows",
        "300",
        "--seed",
        "5",
        "--days",
        "3",
        "--start",
        "2024-03-01",
        "-o",
        "json",
    ]
    out = subprocess.run(
        [sys.executable, "-m", "featurelake.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["start"] == "2024-03-01" and data["end"] == "2024-03-03"
    assert data["tables"][RAW_TRANSACTIONS]["uri"] == str(tmp_path / "lake" / RAW_TRANSACTIONS)
    direct = tmp_path / "direct"
    generate(None, str(direct), rows=300, seed=5, start=START, days=3)
    assert (
        _read(tmp_path / "lake", RAW_TRANSACTIONS)
        .sort_by("transaction_id")
        .equals(_read(direct, RAW_TRANSACTIONS).sort_by("transaction_id"))
    )
    bad = subprocess.run(
        [sys.executable, "-m", "featurelake.cli.main", "demo", "generate", "--rows", "-5"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert bad.returncode != 0 and "-5" in bad.stderr


@pytest.mark.spark
def test_user_profile_transform_on_spark_matches_pandas(spark, demo_root: Path) -> None:
    from featurelake.repo import load_repo
    from featurelake.spec import TransformContext, period_ends

    spec = load_repo(FEATURE_REPO).spec("user_profile")
    users = _read(demo_root, RAW_USERS)
    ends = tuple(period_ends(date(2024, 3, 1), date(2024, 3, 3), "daily"))
    context = TransformContext(
        view="user_profile",
        start=datetime(2024, 3, 1, tzinfo=UTC),
        end=ends[-1],
        granularity="daily",
        period_ends=ends,
        join_keys=("user_id",),
        computed_at=datetime.now(UTC),
    )
    sdf = spec.transform.function({"raw_users": spark.createDataFrame(users.to_pandas())}, context)
    got = sdf.toPandas().sort_values(["user_id", "event_timestamp"]).reset_index(drop=True)
    assert list(got.columns) == ["user_id", "event_timestamp", "account_age_days", "home_country"]
    pdf = users.to_pandas()
    expected = []
    for end in ends:
        alive = pdf[pdf["signup_timestamp"] < end]
        for row in alive.itertuples():
            expected.append(
                (row.user_id, end, (end - row.signup_timestamp) // timedelta(days=1), row.home_country)
            )
    expected.sort()
    got_rows = [
        (r.user_id, r.event_timestamp.tz_localize(UTC).to_pydatetime(), r.account_age_days, r.home_country)
        for r in got.itertuples()
    ]
    assert got_rows == expected
