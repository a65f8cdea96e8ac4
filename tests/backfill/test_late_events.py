"""A late event (its day already backfilled) reaches the feature table when the range is re-run.

Late events land in the raw Delta table as a new version; a backfill re-run of the range reads
that version (recorded as the run's input) and the affected days change by exactly that event,
while days before it stay as they were.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from featurelake.jobs.backfill import BackfillOptions, run_backfill
from tests.backfill.lakes import make_lake

pytestmark = pytest.mark.spark

D1, D2 = date(2024, 1, 10), date(2024, 1, 14)
LATE_DAY = date(2024, 1, 12)
TABLE = "user_counts__v1"


def _by_key(spark, lake) -> dict:  # type: ignore[no-untyped-def]
    cols = ["user_id", "event_date", "txn_count_1d", "txn_amount_sum_7d", "txn_amount_max_3d"]
    return {(r[0], r[1]): tuple(r[2:]) for r in lake.lakehouse.read(spark, TABLE, columns=cols).collect()}


def test_a_late_event_changes_exactly_the_days_whose_windows_hold_it(spark, tmp_path) -> None:
    lake = make_lake(tmp_path)
    try:
        run_backfill(spark, lake.settings, BackfillOptions(view="user_counts", start=D1, end=D2), actor="t")
        before = _by_key(spark, lake)
        raw = lake.lakehouse.read(spark, "raw_transactions")
        user = raw.where(f"event_date = '{LATE_DAY}'").first()["user_id"]  # someone active that day
        late = raw.where(f"user_id = {user}").limit(1).toPandas()
        amount = 12345.0  # larger than any demo amount: it becomes the 3-day max
        late = late.assign(
            transaction_id=10**9,
            amount=amount,
            event_timestamp=datetime.combine(LATE_DAY, datetime.min.time(), tzinfo=UTC) + timedelta(hours=13),
            event_date=LATE_DAY,
        )
        info = lake.lakehouse.write(spark.createDataFrame(late, schema=raw.schema), "raw_transactions")

        result = run_backfill(
            spark, lake.settings, BackfillOptions(view="user_counts", start=D1, end=D2), actor="t"
        )
        run = lake.registry.get_run(result.run_id)
        assert [(i.table, i.version) for i in run.inputs] == [("raw_transactions", info.version)]
        after = _by_key(spark, lake)
        assert set(after) >= set(before)
        changed = {k for k in after if after[k] != before.get(k)}
        # count_1d: the late day only; sum_7d: the late day and the days after it; max_3d likewise.
        assert changed == {(user, d) for d in (LATE_DAY, LATE_DAY + timedelta(days=1), D2)}
        count, total, top = after[(user, LATE_DAY)]
        old_count, old_total, _ = before.get((user, LATE_DAY), (0, 0.0, None))
        assert count == old_count + 1 and total == pytest.approx((old_total or 0.0) + amount)
        assert top == amount and after[(user, D2)][2] == amount  # 3-day window of D2 holds the 12th
        assert after[(user, D2)][0] == before[(user, D2)][0]  # the 14th's own count did not move
    finally:
        lake.registry.dispose()
