"""Point-in-time join benchmark: featurelake vs Feast's Spark offline store vs Feast's file store.

Same data, same Spark session, one run. Shape (issue 5): one feature row per entity per day
over 90 days, TTL 30 days, two feature views with different keys (users, and merchants with a
tenth as many keys), entity timestamps spread over the last 60 days, ~5% of entity rows for
users with no history. Each system's result is compared row by row (by a row id carried
through the join) with an oracle computed by pandas ``merge_asof`` (itself checked against a
brute-force scan on a sample).

Usage:
    .venv/bin/python bench/pit_join.py                     # 1M feature rows x 100k entity rows
    .venv/bin/python bench/pit_join.py --feature-rows 10000000 --entity-rows 1000000 --skip-file
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from featurelake.lakehouse.pit import ViewRequest, point_in_time_join  # noqa: E402
from featurelake.lakehouse.spark import build_spark_session  # noqa: E402

END = datetime(2026, 6, 1, tzinfo=UTC)
DAYS = 90
TTL = timedelta(days=30)
ENTITY_SPAN_DAYS = 60


def generate(spark, root: Path, *, feature_rows: int, entity_rows: int, seed: int) -> dict[str, str]:
    """Write the feature views and entity rows as parquet (microsecond timestamps); return paths."""
    from pyspark.sql import functions as F

    n_users = max(1, feature_rows // DAYS)
    n_merchants = max(1, n_users // 10)
    start = END - timedelta(days=DAYS)
    paths = {name: str(root / name) for name in ("user_stats", "merchant_stats", "entities")}

    def history(n_keys: int, key: str, features: dict, salt: int):
        grid = spark.range(n_keys * DAYS).select(
            (F.col("id") % n_keys).alias(key), (F.col("id") / n_keys).cast("int").alias("day")
        )
        # a random time within the day, created 1 h after the event
        offset = (F.abs(F.xxhash64(F.col(key), F.col("day"), F.lit(salt))) % 86_400_000_000).alias("off")
        ts = F.timestamp_micros(F.lit(int(start.timestamp() * 1e6)) + F.col("day") * 86_400_000_000 + offset)
        grid = grid.select("*", offset).withColumn("event_timestamp", ts)
        grid = grid.withColumn("created_timestamp", F.col("event_timestamp") + F.expr("INTERVAL 1 HOUR"))
        for name, expr in features.items():
            grid = grid.withColumn(name, expr)
        return grid.drop("day", "off")

    users = history(
        n_users,
        "user_id",
        {
            "spend_30d": F.round(F.rand(seed) * 1000, 2),
            "txn_count_30d": (F.rand(seed + 1) * 100).cast("long"),
        },
        1,
    )
    merchants = history(n_merchants, "merchant_id", {"risk_score": F.round(F.rand(seed + 2), 4)}, 2)
    span = ENTITY_SPAN_DAYS * 86_400_000_000
    entities = spark.range(entity_rows).select(
        F.col("id").alias("row_id"),
        (F.rand(seed + 3) * n_users * 1.05).cast("long").alias("user_id"),  # ~5% unknown users
        (F.rand(seed + 4) * n_merchants).cast("long").alias("merchant_id"),
        F.timestamp_micros(F.lit(int(END.timestamp() * 1e6)) - (F.rand(seed + 5) * span).cast("long")).alias(
            "event_timestamp"
        ),
        (F.rand(seed + 6) < 0.01).cast("int").alias("label"),
    )
    for name, df in (("user_stats", users), ("merchant_stats", merchants), ("entities", entities)):
        df.repartition(4).write.mode("overwrite").parquet(paths[name])
    return paths


# ----------------------------------------------------------------------------------------------
# The three systems
# ----------------------------------------------------------------------------------------------


def run_ours(spark, paths):
    views = [
        ViewRequest(
            name="user_stats",
            join_keys=("user_id",),
            features=("spend_30d", "txn_count_30d"),
            frame=spark.read.parquet(paths["user_stats"]),
            ttl=TTL,
        ),
        ViewRequest(
            name="merchant_stats",
            join_keys=("merchant_id",),
            features=("risk_score",),
            frame=spark.read.parquet(paths["merchant_stats"]),
            ttl=TTL,
        ),
    ]
    return point_in_time_join(spark.read.parquet(paths["entities"]), views)


def feast_store(root: Path, paths, kind: str):
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, RepoConfig, ValueType
    from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource
    from feast.types import Float64, Int64

    repo = root / f"feast_{kind}"
    repo.mkdir(exist_ok=True)
    config = RepoConfig(
        project="pit_bench",
        provider="local",
        registry=str(repo / "registry.db"),
        offline_store={"type": kind},
        online_store={"type": "sqlite", "path": str(repo / "online.db")},
        entity_key_serialization_version=3,
        repo_path=str(repo),
    )
    store = FeatureStore(config=config)

    def source(name: str):
        kw = {
            "name": name,
            "timestamp_field": "event_timestamp",
            "created_timestamp_column": "created_timestamp",
        }
        if kind == "spark":
            return SparkSource(path=paths[name], file_format="parquet", **kw)
        return FileSource(path=paths[name], **kw)

    user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64)
    merchant = Entity(name="merchant", join_keys=["merchant_id"], value_type=ValueType.INT64)
    uv = FeatureView(
        name="user_stats",
        entities=[user],
        ttl=TTL,
        source=source("user_stats"),
        schema=[
            Field(name="user_id", dtype=Int64),
            Field(name="spend_30d", dtype=Float64),
            Field(name="txn_count_30d", dtype=Int64),
        ],
    )
    mv = FeatureView(
        name="merchant_stats",
        entities=[merchant],
        ttl=TTL,
        source=source("merchant_stats"),
        schema=[Field(name="merchant_id", dtype=Int64), Field(name="risk_score", dtype=Float64)],
    )
    store.apply([user, merchant, uv, mv])
    return store


FEATURE_REFS = ["user_stats:spend_30d", "user_stats:txn_count_30d", "merchant_stats:risk_score"]


def run_feast_spark(spark, store, paths):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        job = store.get_historical_features(
            entity_df=spark.read.parquet(paths["entities"]), features=FEATURE_REFS
        )
        return job.to_spark_df()


def run_feast_file(store, entities_pdf):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return store.get_historical_features(entity_df=entities_pdf.copy(), features=FEATURE_REFS).to_df()


# ----------------------------------------------------------------------------------------------
# Oracle and comparison
# ----------------------------------------------------------------------------------------------


def asof_oracle(entities: pd.DataFrame, history: pd.DataFrame, key: str, features: list[str]) -> pd.DataFrame:
    """pandas merge_asof: latest row at or before the entity time, within TTL (inclusive)."""
    left = entities[["row_id", key, "event_timestamp"]].sort_values("event_timestamp")
    right = history.sort_values(["event_timestamp", "created_timestamp"])[[key, "event_timestamp", *features]]
    out = pd.merge_asof(
        left,
        right,
        on="event_timestamp",
        by=key,
        direction="backward",
        tolerance=pd.Timedelta(TTL),
        allow_exact_matches=True,
    )
    return out.set_index("row_id")[features]


def brute_force(entities: pd.DataFrame, history: pd.DataFrame, key: str, features: list[str]) -> pd.DataFrame:
    rows = []
    groups = dict(tuple(history.groupby(key)))
    for rid, k, ts in zip(entities["row_id"], entities[key], entities["event_timestamp"], strict=True):
        g = groups.get(k)
        g = g[(g["event_timestamp"] <= ts) & (g["event_timestamp"] >= ts - TTL)] if g is not None else None
        if g is None or g.empty:
            rows.append({"row_id": rid, **dict.fromkeys(features, np.nan)})
        else:
            best = g.sort_values(["event_timestamp", "created_timestamp"]).iloc[-1]
            rows.append({"row_id": rid, **{f: best[f] for f in features}})
    return pd.DataFrame(rows).set_index("row_id")


def mismatches(got: pd.DataFrame, want: pd.DataFrame) -> int:
    """Rows missing, duplicated, extra, or with any feature value different from the oracle."""
    dup = int(got["row_id"].duplicated().sum())
    got = got.drop_duplicates("row_id").set_index("row_id")
    missing = want.index.difference(got.index)
    extra = got.index.difference(want.index)
    common = want.index.intersection(got.index)
    a = got.loc[common, want.columns].astype("float64").to_numpy()
    b = want.loc[common].astype("float64").to_numpy()
    differ = int((~((a == b) | (np.isnan(a) & np.isnan(b)))).any(axis=1).sum())
    return dup + len(missing) + len(extra) + differ


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--feature-rows", type=int, default=1_000_000, help="rows of the user view (merchants: a tenth)"
    )
    parser.add_argument("--entity-rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--skip-file", action="store_true", help="skip Feast's file (dask) store")
    parser.add_argument("--skip-feast-spark", action="store_true")
    parser.add_argument(
        "--sample", type=int, default=2000, help="entity rows checked against the brute-force scan"
    )
    args = parser.parse_args()

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    spark = build_spark_session(
        app_name="bench-pit",
        master="local[2]",
        conf={
            "spark.driver.memory": "6g",
            "spark.sql.shuffle.partitions": "8",
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        },
    )
    root = Path(tempfile.mkdtemp(prefix="pit_bench_"))
    try:
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"Spark {spark.version}, local[2]"
        )
        (paths, gen_s) = timed(
            lambda: generate(
                spark, root, feature_rows=args.feature_rows, entity_rows=args.entity_rows, seed=args.seed
            )
        )
        n_user = spark.read.parquet(paths["user_stats"]).count()
        n_merch = spark.read.parquet(paths["merchant_stats"]).count()
        print(
            f"data: {n_user:,} user rows + {n_merch:,} merchant rows, {args.entity_rows:,} entity rows "
            f"(generated in {gen_s:.1f} s)"
        )

        ents = spark.read.parquet(paths["entities"]).toPandas()
        users = spark.read.parquet(paths["user_stats"]).toPandas()
        merch = spark.read.parquet(paths["merchant_stats"]).toPandas()
        for df in (ents, users, merch):
            for c in ("event_timestamp", "created_timestamp"):
                if c in df:
                    df[c] = pd.to_datetime(df[c]).dt.tz_localize("UTC")
        (oracle, oracle_s) = timed(
            lambda: asof_oracle(ents, users, "user_id", ["spend_30d", "txn_count_30d"]).join(
                asof_oracle(ents, merch, "merchant_id", ["risk_score"])
            )
        )
        sample = ents.sample(n=min(args.sample, len(ents)), random_state=args.seed)
        brute = brute_force(sample, users, "user_id", ["spend_30d", "txn_count_30d"]).join(
            brute_force(sample, merch, "merchant_id", ["risk_score"])
        )
        oracle_vs_brute = mismatches(oracle.loc[brute.index].reset_index(), brute)
        print(
            f"oracle: merge_asof in {oracle_s:.1f} s; {oracle['spend_30d'].isna().sum():,} rows without a user value, "
            f"{oracle['risk_score'].isna().sum():,} without a merchant value; "
            f"checked against brute force on {len(sample):,} rows: {oracle_vs_brute} mismatches"
        )

        results: dict[str, tuple[float, int, int]] = {}

        def measure_spark(name: str, build):
            # warm-up on the same plan shape is not repeated: each system runs once, cold caches alike
            (_, secs) = timed(lambda: build().write.format("noop").mode("overwrite").save())
            got = build().select("row_id", "spend_30d", "txn_count_30d", "risk_score").toPandas()
            results[name] = (secs, len(got), mismatches(got, oracle))

        measure_spark("featurelake", lambda: run_ours(spark, paths))
        if not args.skip_feast_spark:
            store = feast_store(root, paths, "spark")
            measure_spark("feast spark", lambda: run_feast_spark(spark, store, paths))
        if not args.skip_file:
            fstore = feast_store(root, paths, "file")
            ents_in = ents.drop(columns=["label"])
            (got, secs) = timed(lambda: run_feast_file(fstore, ents_in))
            results["feast file"] = (secs, len(got), mismatches(got, oracle))

        ours = results["featurelake"][0]
        print(
            f"\n{'system':<14}{'seconds':>10}{'entity rows/s':>16}{'vs ours':>10}{'rows back':>12}{'mismatches':>12}"
        )
        for name, (secs, rows, bad) in results.items():
            print(
                f"{name:<14}{secs:>10.1f}{args.entity_rows / secs:>16,.0f}{secs / ours:>9.1f}x{rows:>12,}{bad:>12,}"
            )
        print(
            "(vs ours = that system's time / featurelake's time; entity rows expected back: "
            f"{args.entity_rows:,})"
        )
    finally:
        spark.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
