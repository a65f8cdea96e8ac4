"""A Lakehouse write slow enough to be killed mid-job (run by test_killed_write.py).

Usage: python killed_write_job.py ROOT TABLE

Writes version 0 (``BASE_ROWS`` rows), prints ``committed 0``, then appends ``SLOW_ROWS`` rows
through a UDF that sleeps, over ``SLOW_PARTITIONS`` tasks run one at a time (``local[1]``), so
each task's parquet files appear under the table folder long before the job could commit.
"""

from __future__ import annotations

import sys
import time

BASE_ROWS = 500
SLOW_PARTITIONS = 8
SLOW_ROWS = 1600  # 200 rows per task at 20 ms each: ~4 s per task, ~30 s for the job
ROW_DELAY_S = 0.02


def main(root: str, table: str) -> None:
    from pyspark.sql import functions as F
    from pyspark.sql.types import LongType

    from featurelake.lakehouse import Lakehouse
    from featurelake.lakehouse.spark import build_spark_session

    spark = build_spark_session(
        app_name="featurelake-killed-write",
        master="local[1]",
        conf={
            "spark.ui.enabled": "false",
            "spark.sql.shuffle.partitions": "1",
            # small batches: the first rows of a task reach its parquet file early
            "spark.sql.execution.arrow.maxRecordsPerBatch": "20",
            "spark.python.worker.reuse": "true",
        },
    )
    lake = Lakehouse(root)

    def rows(n: int, offset: int):
        return (
            spark.range(offset, offset + n)
            .withColumn("amount", F.col("id").cast("double"))
            .withColumn("event_date", F.expr("date_add(date'2024-01-01', cast(id % 3 as int))"))
        )

    lake.write(rows(BASE_ROWS, 0).repartition(1), table, partition_by=["event_date"])
    print("committed 0", flush=True)

    @F.udf(LongType())
    def slow(value: int) -> int:
        time.sleep(ROW_DELAY_S)
        return value

    slow_df = rows(SLOW_ROWS, 1_000_000).repartition(SLOW_PARTITIONS).withColumn("id", slow("id"))
    lake.write(slow_df, table)
    print("committed 1", flush=True)  # the test kills the job before this


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
