"""The card-fraud demo domain: a deterministic generator of raw Delta tables.

Three tables are written under the storage root, each ``<root>/<name>`` in ONE Delta commit
(delta-rs's writer, streamed day by day so 10M transactions need little memory):

``raw_users`` (not partitioned)
    user_id bigint, signup_timestamp timestamp[us, UTC], home_country string, card_type string.
``raw_merchants`` (not partitioned)
    merchant_id bigint, name string, category string, country string, onboarded_timestamp.
``raw_transactions`` (partitioned by ``event_date``)
    transaction_id bigint (increasing with time), user_id, merchant_id, amount double
    (lognormal by merchant category, ~2% null), country string (the user's home country,
    ~5% foreign), event_timestamp timestamp[us, UTC] (diurnal), is_chargeback, is_refund,
    is_fraud booleans, event_date date (the UTC date of event_timestamp).

Skew, as in real card data: user activity is lognormal (a few users make many payments),
merchant popularity is Zipf-like, amounts are lognormal with a long tail, fraud (~1%) is more
likely abroad, in risky categories, for a small set of compromised cards, and comes with
larger amounts; most frauds are charged back.

Determinism: for the same (seed, rows, start, days, users, merchants) the tables hold
identical rows. Every day is generated from its own ``numpy`` Generator seeded with
``[seed, 3, day_index]``, so the output does not depend on batching or the machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from featurelake.errors import ConfigError, LakehouseError

RAW_USERS = "raw_users"
RAW_MERCHANTS = "raw_merchants"
RAW_TRANSACTIONS = "raw_transactions"

COUNTRIES: tuple[str, ...] = (
    "US",
    "GB",
    "DE",
    "FR",
    "ES",
    "IT",
    "NL",
    "BR",
    "MX",
    "IN",
    "JP",
    "CA",
    "AU",
    "NG",
    "PL",
)
_COUNTRY_WEIGHTS = np.array([30, 10, 9, 8, 6, 6, 4, 6, 4, 5, 4, 3, 2, 1.5, 1.5])
# category -> (lognormal mu of the amount, relative fraud risk)
CATEGORIES: dict[str, tuple[float, float]] = {
    "grocery": (3.3, 0.5),
    "fuel": (3.6, 0.7),
    "restaurants": (3.4, 0.6),
    "fashion": (4.1, 1.0),
    "travel": (5.4, 1.5),
    "electronics": (5.0, 3.0),
    "digital_goods": (2.8, 4.0),
    "gaming": (3.0, 3.5),
}
_CARD_TYPES = ("credit", "debit", "prepaid")
_NULL_AMOUNT_RATE = 0.02
_FOREIGN_RATE = 0.05
_REFUND_RATE = 0.03
_HOURLY = np.array(
    [1, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2, 2.5, 4, 5, 5.5, 6, 7, 6.5, 6, 6, 6.5, 7, 7.5, 7, 6, 4.5, 3, 2]
)
_US_PER_DAY = 86_400_000_000

_TS = pa.timestamp("us", tz="UTC")
USERS_SCHEMA = pa.schema(
    [
        ("user_id", pa.int64()),
        ("signup_timestamp", _TS),
        ("home_country", pa.string()),
        ("card_type", pa.string()),
    ]
)
MERCHANTS_SCHEMA = pa.schema(
    [
        ("merchant_id", pa.int64()),
        ("name", pa.string()),
        ("category", pa.string()),
        ("country", pa.string()),
        ("onboarded_timestamp", _TS),
    ]
)
TRANSACTIONS_SCHEMA = pa.schema(
    [
        ("transaction_id", pa.int64()),
        ("user_id", pa.int64()),
        ("merchant_id", pa.int64()),
        ("amount", pa.float64()),
        ("country", pa.string()),
        ("event_timestamp", _TS),
        ("is_chargeback", pa.bool_()),
        ("is_refund", pa.bool_()),
        ("is_fraud", pa.bool_()),
        ("event_date", pa.date32()),
    ]
)


@dataclass(frozen=True)
class DemoData:
    """What :func:`generate` wrote.

    Attributes:
        tables: table name -> table URI.
        rows: table name -> row count.
        seed: the seed used.
        start: first day of transactions.
        end: last day of transactions (inclusive).
    """

    tables: dict[str, str]
    rows: dict[str, int]
    seed: int
    start: date
    end: date


@dataclass(frozen=True)
class _Population:
    user_country: np.ndarray  # index = user_id - 1, values index COUNTRIES
    user_weights: np.ndarray
    compromised: np.ndarray  # bool per user
    merchant_category: np.ndarray  # index CATEGORY_NAMES
    merchant_weights: np.ndarray


_CATEGORY_NAMES = tuple(CATEGORIES)
_CATEGORY_MU = np.array([CATEGORIES[c][0] for c in _CATEGORY_NAMES])
_CATEGORY_RISK = np.array([CATEGORIES[c][1] for c in _CATEGORY_NAMES])


def default_sizes(rows: int) -> tuple[int, int]:
    """Default (users, merchants) for ``rows`` transactions: ~100 and ~1,000 rows each."""
    return max(50, rows // 100), max(20, rows // 1000)


def _micros(ts: datetime) -> int:
    return int((ts - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))


def _users(seed: int, users: int, start: date) -> tuple[pa.Table, _Population]:
    rng = np.random.default_rng([seed, 0])
    country = rng.choice(len(COUNTRIES), size=users, p=_COUNTRY_WEIGHTS / _COUNTRY_WEIGHTS.sum())
    start_us = _micros(datetime(start.year, start.month, start.day, tzinfo=UTC))
    # Signed up between 3 years and 1 day before the first transaction day.
    signup = start_us - rng.integers(_US_PER_DAY, 3 * 365 * _US_PER_DAY, size=users)
    card = rng.choice(len(_CARD_TYPES), size=users, p=[0.55, 0.4, 0.05])
    activity = rng.lognormal(mean=0.0, sigma=1.2, size=users)
    compromised = rng.random(users) < 0.01
    table = pa.table(
        {
            "user_id": pa.array(np.arange(1, users + 1, dtype=np.int64)),
            "signup_timestamp": pa.array(signup, type=pa.int64()).cast(_TS),
            "home_country": pa.array(np.array(COUNTRIES)[country]),
            "card_type": pa.array(np.array(_CARD_TYPES)[card]),
        },
        schema=USERS_SCHEMA,
    )
    population = _Population(country, activity / activity.sum(), compromised, np.empty(0), np.empty(0))
    return table, population


def _merchants(
    seed: int, merchants: int, start: date, population: _Population
) -> tuple[pa.Table, _Population]:
    rng = np.random.default_rng([seed, 1])
    category = rng.choice(
        len(_CATEGORY_NAMES), size=merchants, p=[0.22, 0.1, 0.2, 0.14, 0.06, 0.1, 0.1, 0.08]
    )
    country = rng.choice(len(COUNTRIES), size=merchants, p=_COUNTRY_WEIGHTS / _COUNTRY_WEIGHTS.sum())
    # Zipf-like popularity over a random ranking of merchants.
    ranks = rng.permutation(merchants) + 1
    weights = 1.0 / ranks.astype(float) ** 1.1
    start_us = _micros(datetime(start.year, start.month, start.day, tzinfo=UTC))
    onboarded = start_us - rng.integers(30 * _US_PER_DAY, 10 * 365 * _US_PER_DAY, size=merchants)
    ids = np.arange(1, merchants + 1, dtype=np.int64)
    table = pa.table(
        {
            "merchant_id": pa.array(ids),
            "name": pa.array([f"merchant_{i:06d}" for i in ids]),
            "category": pa.array(np.array(_CATEGORY_NAMES)[category]),
            "country": pa.array(np.array(COUNTRIES)[country]),
            "onboarded_timestamp": pa.array(onboarded, type=pa.int64()).cast(_TS),
        },
        schema=MERCHANTS_SCHEMA,
    )
    population = _Population(
        population.user_country,
        population.user_weights,
        population.compromised,
        category,
        weights / weights.sum(),
    )
    return table, population


#: How much the amounts of the drifted days are multiplied by (``drift_days``).
DRIFT_FACTOR = 2.5


def rows_per_day(seed: int, rows: int, days: int) -> np.ndarray:
    """How many transactions each day gets (weekly seasonality, exact total ``rows``)."""
    rng = np.random.default_rng([seed, 2])
    weekly = np.array([1.0, 0.95, 0.97, 1.0, 1.15, 1.3, 1.1])
    weights = weekly[np.arange(days) % 7] * rng.uniform(0.9, 1.1, size=days)
    return rng.multinomial(rows, weights / weights.sum())


def _day_batch(
    seed: int, day_index: int, day: date, n: int, first_id: int, pop: _Population, amount_factor: float = 1.0
) -> pa.RecordBatch:
    rng = np.random.default_rng([seed, 3, day_index])
    day_us = _micros(datetime(day.year, day.month, day.day, tzinfo=UTC))
    hours = rng.choice(24, size=n, p=_HOURLY / _HOURLY.sum())
    offsets = hours * 3_600_000_000 + rng.integers(0, 3_600_000_000, size=n)
    users = rng.choice(len(pop.user_weights), size=n, p=pop.user_weights)
    merchants = rng.choice(len(pop.merchant_weights), size=n, p=pop.merchant_weights)
    category = pop.merchant_category[merchants]
    home = pop.user_country[users]
    foreign = rng.random(n) < _FOREIGN_RATE
    country = np.where(foreign, rng.integers(0, len(COUNTRIES), size=n), home)
    foreign = country != home
    p_fraud = 0.002 * _CATEGORY_RISK[category] + 0.03 * foreign + 0.08 * pop.compromised[users]
    fraud = rng.random(n) < p_fraud
    amount = rng.lognormal(mean=_CATEGORY_MU[category], sigma=0.9) * np.where(fraud, 3.0, 1.0) * amount_factor
    amount = np.round(np.clip(amount, 0.5, 25_000.0), 2)
    null_amount = rng.random(n) < _NULL_AMOUNT_RATE
    chargeback = np.where(fraud, rng.random(n) < 0.7, rng.random(n) < 0.002)
    refund = ~chargeback & (rng.random(n) < _REFUND_RATE)
    order = np.argsort(offsets, kind="stable")
    ts = (day_us + offsets)[order]
    return pa.RecordBatch.from_arrays(
        [
            pa.array(np.arange(first_id, first_id + n, dtype=np.int64)),
            pa.array((users + 1)[order].astype(np.int64)),
            pa.array((merchants + 1)[order].astype(np.int64)),
            pa.array(amount[order], mask=null_amount[order]),
            pa.array(np.array(COUNTRIES)[country[order]]),
            pa.array(ts, type=pa.int64()).cast(_TS),
            pa.array(chargeback[order]),
            pa.array(refund[order]),
            pa.array(fraud[order]),
            pa.array(np.full(n, (day - date(1970, 1, 1)).days, dtype=np.int32), type=pa.int32()).cast(
                pa.date32()
            ),
        ],
        schema=TRANSACTIONS_SCHEMA,
    )


def transaction_batches(
    *,
    rows: int,
    seed: int,
    start: date,
    days: int,
    users: int,
    merchants: int,
    drift_days: int = 0,
    drift_factor: float = DRIFT_FACTOR,
) -> Iterator[pa.RecordBatch]:
    """The transactions as Arrow batches, one per day (deterministic; used by :func:`generate`).

    With ``drift_days`` > 0, the amounts of the last ``drift_days`` days are multiplied by
    ``drift_factor`` (a distribution shift for the monitor to find); the other columns and days
    are unchanged.
    """
    _, pop = _users(seed, users, start)
    _, pop = _merchants(seed, merchants, start, pop)
    next_id = 1
    for i, n in enumerate(rows_per_day(seed, rows, days)):
        if n:
            factor = drift_factor if i >= days - drift_days else 1.0
            yield _day_batch(seed, i, start + timedelta(days=i), int(n), next_id, pop, factor)
        next_id += int(n)


def table_uri(root: str, name: str) -> str:
    """The URI of table ``name`` under the storage root (``<root>/<name>``)."""
    return f"{root.rstrip('/')}/{name}"


def generate(
    spark: Any | None,
    root: str,
    *,
    rows: int,
    seed: int,
    start: date,
    days: int,
    users: int | None = None,
    merchants: int | None = None,
    storage_options: dict[str, str] | None = None,
    drift_days: int = 0,
) -> DemoData:
    """Write the demo's raw tables (replacing any previous contents) under ``root``.

    Args:
        spark: unused; accepted so callers holding a session can pass it (the raw tables are
            written by delta-rs directly, which needs no JVM).
        root: storage root, a local folder or ``s3://bucket/prefix``.
        rows: number of transactions.
        seed: random seed; the same arguments give identical tables.
        start: first day of transactions (UTC).
        days: number of days of transactions.
        users: number of users (default: rows / 100, at least 50).
        merchants: number of merchants (default: rows / 1000, at least 20).
        storage_options: delta-rs storage options (S3 endpoint and credentials).
        drift_days: shift the transaction amounts of the last ``drift_days`` days (x
            :data:`DRIFT_FACTOR`), so the amount features drift there; 0 (default): no shift.

    Returns:
        The table URIs and row counts.

    Raises:
        ConfigError: if a size is not positive.
        LakehouseError: if a table cannot be written.
    """
    del spark
    default_users, default_merchants = default_sizes(rows)
    users = default_users if users is None else users
    merchants = default_merchants if merchants is None else merchants
    if not 0 <= drift_days < days:
        raise ConfigError(f"demo generate: drift_days must be in 0..{days - 1} (days - 1), got {drift_days}")
    for label, value in (("rows", rows), ("days", days), ("users", users), ("merchants", merchants)):
        if value < 1:
            raise ConfigError(f"demo generate: {label} must be at least 1, got {value}")
    if isinstance(start, datetime) or not isinstance(start, date):
        raise ConfigError(f"demo generate: start must be a date, got {start!r}")
    from deltalake import write_deltalake
    from deltalake.exceptions import DeltaError

    user_table, pop = _users(seed, users, start)
    merchant_table, pop = _merchants(seed, merchants, start, pop)
    tables = {name: table_uri(root, name) for name in (RAW_USERS, RAW_MERCHANTS, RAW_TRANSACTIONS)}
    options = dict(storage_options or {})
    description = f"featurelake demo data (seed={seed}, rows={rows}, start={start}, days={days})"
    try:
        for name, data, partition_by in (
            (RAW_USERS, user_table, None),
            (RAW_MERCHANTS, merchant_table, None),
            (
                RAW_TRANSACTIONS,
                pa.RecordBatchReader.from_batches(
                    TRANSACTIONS_SCHEMA,
                    transaction_batches(
                        rows=rows,
                        seed=seed,
                        start=start,
                        days=days,
                        users=users,
                        merchants=merchants,
                        drift_days=drift_days,
                    ),
                ),
                ["event_date"],
            ),
        ):
            write_deltalake(
                tables[name],
                data,
                partition_by=partition_by,
                mode="overwrite",
                schema_mode="overwrite",
                description=description,
                storage_options=options or None,
            )
    except (OSError, DeltaError) as err:
        raise LakehouseError(
            f"could not write demo table {name!r} at {tables[name]!r}: {err}; check the storage root"
        ) from err
    return DemoData(
        tables=tables,
        rows={RAW_USERS: users, RAW_MERCHANTS: merchants, RAW_TRANSACTIONS: rows},
        seed=seed,
        start=start,
        end=start + timedelta(days=days - 1),
    )
