"""A small synthetic world for the monitor: a SQLite registry, a local Delta feature table.

``user_stats`` has four numeric features (``x1``..``x3`` doubles with a few nulls, ``n`` a
long) and one string feature (``segment``), ``ROWS_PER_DAY`` rows on each of ``DAYS`` days from
``D0``. A test can shift one feature's distribution on chosen days (``shift``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

PROJECT = "mon"
VIEW = "user_stats"
D0 = date(2026, 3, 1)
DAYS = 14
ROWS_PER_DAY = 500
FEATURES = ("x1", "x2", "x3", "n", "segment")
SEGMENTS = ("a", "b", "c", "d", "e")


def day(i: int) -> date:
    """The i-th day (1-based)."""
    return D0 + timedelta(days=i - 1)


def view_definition(
    monitors: list[dict[str, Any]] | None = None, sla_seconds: int | None = None
) -> dict[str, Any]:
    """A stored view definition in the shape ``featurelake.spec.view_definition`` gives."""
    spec: dict[str, Any] = {}
    if monitors is not None:
        spec["monitors"] = monitors
    if sla_seconds is not None:
        spec["freshness_sla_seconds"] = sla_seconds
    return {"view": VIEW, "breaking": {}, "non_breaking": {"online": True, "spec": spec}}


def definitions(monitors: list[dict[str, Any]] | None = None, sla_seconds: int | None = None):
    from featurelake.registry import Definitions, EntityDef, FeatureDef, JoinKey, ServiceDef, ViewDef

    return Definitions(
        entities=(EntityDef(name="user", join_keys=(JoinKey("user_id", "INT64"),)),),
        views=(
            ViewDef(
                name=VIEW,
                entities=("user",),
                features=(
                    FeatureDef("x1", "Float64"),
                    FeatureDef("x2", "Float64"),
                    FeatureDef("x3", "Float64"),
                    FeatureDef("n", "Int64"),
                    FeatureDef("segment", "String"),
                ),
                ttl=timedelta(days=2),
                definition=view_definition(monitors, sla_seconds),
            ),
        ),
        services=(ServiceDef(name="svc", features=((VIEW, FEATURES),)),),
    )


def rows_for(d: date, seed: int, *, shift: str | None = None, n: int = ROWS_PER_DAY) -> list[tuple]:
    """One day of rows; ``shift`` moves that feature's distribution (x*: +1.5 sd, segment: skew)."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(10, 2, n)
    x2 = rng.lognormal(1, 0.5, n)
    x3 = rng.uniform(0, 1, n)
    cnt = rng.poisson(5, n)
    seg = rng.choice(SEGMENTS, n, p=[0.4, 0.25, 0.15, 0.1, 0.1])
    if shift == "x1":
        x1 = x1 + 3.0
    if shift == "x2":
        x2 = x2 * 2.0
    if shift == "segment":
        seg = rng.choice(SEGMENTS, n, p=[0.1, 0.1, 0.15, 0.25, 0.4])
    nulls = rng.random(n) < 0.02
    ts = datetime(d.year, d.month, d.day, tzinfo=UTC) + timedelta(hours=23)
    out = []
    for i in range(n):
        out.append(
            (
                int(i),
                ts,
                ts,
                None if nulls[i] else float(x1[i]),
                float(x2[i]),
                float(x3[i]),
                int(cnt[i]),
                str(seg[i]),
                d,
            )
        )
    return out


SCHEMA = (
    "user_id long, event_timestamp timestamp, created_timestamp timestamp, x1 double, x2 double, "
    "x3 double, n long, segment string, event_date date"
)


@dataclass
class World:
    spark: Any
    lakehouse: Any
    registry: Any
    settings: Any
    root: Path
    table: str

    def write_days(
        self,
        days: list[date],
        *,
        shift: str | None = None,
        shifted: set[date] = frozenset(),
        seed: int = 0,
        replace: bool = False,
        n: int = ROWS_PER_DAY,
    ):
        import pandas as pd

        rows = []
        for d in days:
            rows += rows_for(d, seed + d.toordinal(), shift=shift if d in shifted else None, n=n)
        pdf = pd.DataFrame(rows, columns=[c.split(" ")[0] for c in SCHEMA.split(", ")])
        df = self.spark.createDataFrame(pdf, SCHEMA)
        if replace:
            return self.lakehouse.write(df, self.table, replace_range=(min(days), max(days)))
        return self.lakehouse.write(df, self.table, mode="append", partition_by=["event_date"])

    def monitor(self, now: datetime | None = None, **kw):
        from featurelake.jobs.monitor import MonitorOptions, monitor_view

        return monitor_view(
            self.spark,
            settings=self.settings,
            registry=self.registry,
            lakehouse=self.lakehouse,
            options=MonitorOptions(view=VIEW, **kw),
            actor="tester",
            now=now,
        )


def make_world(
    spark: Any,
    tmp_path: Path,
    *,
    monitors=None,
    sla_seconds=None,
    project: str = PROJECT,
    online_nodes: list[str] | None = None,
) -> World:
    from featurelake.config.settings import Settings
    from featurelake.lakehouse.tables import Lakehouse
    from featurelake.registry import open_registry

    url = f"sqlite:///{tmp_path / 'registry.db'}"
    registry = open_registry(url)
    registry.apply_definitions(project, definitions(monitors, sla_seconds), actor="tester")
    settings = Settings.model_validate(
        {
            "project": project,
            "home": str(tmp_path),
            "registry": {"url": url},
            "storage": {"root": str(tmp_path / "lake")},
            **({"online": {"nodes": online_nodes}} if online_nodes else {}),
        }
    )
    lh = Lakehouse(root=str(tmp_path / "lake"))
    return World(spark, lh, registry, settings, tmp_path, registry.get_view_version(project, VIEW).table_name)
