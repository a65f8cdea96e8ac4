"""Erasure cost: the keyed delete (`featurelake erase`) vs a naive full-table rewrite, same data, one run.

Usage:
    .venv/bin/python bench/erase.py [--users 1000000] [--days 10] [--erase 1000] [--target-kib 512]

Builds one feature table of ``users * days`` rows (one row per user per day, partitioned by
``event_date``, Z-ordered by ``user_id`` with ``Lakehouse.optimize`` at ``--target-kib`` files),
copies it three times, and on the copies:

- erases ``--erase`` RANDOM user ids with :func:`featurelake.lakehouse.erasure.delete_keys`
  (the delete the erase job commits: one delta-rs delete, files pruned by their statistics);
- erases ``--erase`` CONTIGUOUS user ids (a cohort: ids close together, e.g. accounts closed in
  one batch) the same way;
- erases the same random ids naively: read the whole table, filter, overwrite every file.

Prints per case: files rewritten / all files, bytes rewritten, seconds, and the ratios against
the naive rewrite. Target (issue 16): rewrite at most 5% of the files.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable, write_deltalake

from featurelake.lakehouse import Lakehouse
from featurelake.lakehouse.erasure import delete_keys


def build(root: Path, users: int, days: int, target_kib: int) -> tuple[Lakehouse, dict[str, Any]]:
    lh = Lakehouse(str(root))
    rng = np.random.default_rng(7)
    t0 = time.perf_counter()
    for day in range(days):  # one append per day: the way daily backfills land
        uid = rng.permutation(users).astype("int64")
        n = len(uid)
        write_deltalake(
            lh.table_uri("features"),
            pa.table(
                {
                    "user_id": uid,
                    "event_date": pa.array(
                        np.full(n, np.datetime64("2026-01-01") + day, dtype="datetime64[D]")
                    ),
                    "event_timestamp": pa.array(
                        np.full(
                            n,
                            np.datetime64("2026-01-01T12:00:00") + np.timedelta64(day, "D"),
                            dtype="datetime64[us]",
                        )
                    ),
                    "spend_7d": rng.random(n),
                    "txn_count_7d": rng.integers(0, 500, n),
                    "avg_amount_30d": rng.random(n),
                }
            ),
            partition_by=["event_date"],
            mode="append",
        )
    written = time.perf_counter() - t0
    t0 = time.perf_counter()
    metrics = lh.optimize("features", zorder_by=["user_id"], target_size=target_kib * 1024)
    zorder = time.perf_counter() - t0
    info = lh.describe("features")
    return lh, {
        "rows": info.num_rows,
        "files": info.num_files,
        "bytes": info.size_bytes,
        "write_s": written,
        "zorder_s": zorder,
        "zorder_files_added": metrics.get("numFilesAdded"),
    }


def keyed(root: Path, ids: list[int]) -> dict[str, Any]:
    lh = Lakehouse(str(root))
    t0 = time.perf_counter()
    res = delete_keys(lh, "features", "user_id", ids, request_id="bench")
    seconds = time.perf_counter() - t0
    return {
        "files_rewritten": res.files_removed,
        "files_total": res.files_total,
        "bytes_rewritten": res.bytes_removed,
        "rows_removed": res.rows_removed,
        "seconds": seconds,
    }


def naive(root: Path, ids: list[int]) -> dict[str, Any]:
    lh = Lakehouse(str(root))
    uri = lh.table_uri("features")
    before = lh.files("features")
    t0 = time.perf_counter()
    table = DeltaTable(uri).to_pyarrow_table()
    kept = table.filter(pc.invert(pc.is_in(table["user_id"], value_set=pa.array(ids, pa.int64()))))
    write_deltalake(uri, kept, mode="overwrite", partition_by=["event_date"])
    seconds = time.perf_counter() - t0
    return {
        "files_rewritten": len(before),
        "files_total": len(before),
        "bytes_rewritten": sum(f.size_bytes for f in before),
        "rows_removed": table.num_rows - kept.num_rows,
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--erase", type=int, default=1000)
    parser.add_argument("--target-kib", type=int, default=512)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_erase_"))
    try:
        lh, table = build(tmp / "base", args.users, args.days, args.target_kib)
        print(
            f"table: {table['rows']:,} rows ({args.users:,} users x {args.days} days), {table['files']} files, "
            f"{table['bytes'] / 2**20:.0f} MiB, Z-ordered by user_id at {args.target_kib} KiB files "
            f"(write {table['write_s']:.1f} s, Z-order {table['zorder_s']:.1f} s)"
        )
        rng = np.random.default_rng(11)
        random_ids = sorted(int(i) for i in rng.choice(args.users, args.erase, replace=False))
        start = int(rng.integers(0, args.users - args.erase))
        cohort = list(range(start, start + args.erase))
        results = {}
        for label, ids, fn in (
            ("keyed delete, random ids", random_ids, keyed),
            ("keyed delete, contiguous ids", cohort, keyed),
            ("naive full rewrite, random ids", random_ids, naive),
        ):
            copy = tmp / label.replace(" ", "_").replace(",", "")
            shutil.copytree(tmp / "base", copy)
            results[label] = fn(copy, ids)
            shutil.rmtree(copy)
        base = results["naive full rewrite, random ids"]
        print(f"erasing {args.erase:,} users ({args.erase * args.days:,} rows)")
        print(
            f"{'case':<32} {'files rewritten':>18} {'share':>7} {'MiB rewritten':>14} {'seconds':>8} {'time vs naive':>14}"
        )
        for label, r in results.items():
            assert r["rows_removed"] == args.erase * args.days, (label, r)
            share = r["files_rewritten"] / r["files_total"]
            print(
                f"{label:<32} {r['files_rewritten']:>8} / {r['files_total']:<7} {share:>7.1%} "
                f"{r['bytes_rewritten'] / 2**20:>14.1f} {r['seconds']:>8.2f} {base['seconds'] / r['seconds']:>13.2f}x"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
