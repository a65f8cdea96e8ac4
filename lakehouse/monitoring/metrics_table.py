"""The project's metrics Delta tables: daily profiles and reference profiles.

``monitor_profiles__<project>`` (partitioned by ``event_date``) holds one row per view,
reference, feature and day, with the feature table's Delta version it was computed from.
Writing the profiles of some days replaces exactly the rows of that view and reference on those
days, in ONE commit (``replace_range`` over the days' span, the other rows of the span carried
over), so a re-run is idempotent. ``monitor_references__<project>`` holds reference profiles
(with their bins), appended once per reference and view: a run whose reference is already
profiled reads no reference data.

Both are small; they are read on the driver with delta-rs (no Spark job).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from featurelake.lakehouse.monitoring.profiles import FeatureBins, Profile

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from featurelake.lakehouse.tables import Lakehouse

_STATS = (
    "feature string, kind string, rows long, nulls long, min double, max double, mean double, stddev double, "
    "quantiles array<double>, edges array<double>, categories array<string>, counts array<long>, distinct long"
)
PROFILE_SCHEMA = (
    f"view string, view_major int, reference string, {_STATS}, table_name string, table_version long, "
    "run_id string, profiled_at timestamp, event_date date"
)
REFERENCE_SCHEMA = (
    f"view string, reference string, {_STATS}, source string, run_id string, profiled_at timestamp"
)


def profiles_table(project: str) -> str:
    """The daily profiles table of a project."""
    return f"monitor_profiles__{project}"


def references_table(project: str) -> str:
    """The reference profiles table of a project."""
    return f"monitor_references__{project}"


@dataclass(frozen=True)
class StoredProfile:
    """A daily profile as stored, with the Delta version of the feature table it came from."""

    profile: Profile
    table_version: int
    run_id: str


def _stats(p: Profile) -> dict[str, Any]:
    b = p.bins
    return {
        "feature": p.feature,
        "kind": p.kind,
        "rows": p.rows,
        "nulls": p.nulls,
        "min": p.min,
        "max": p.max,
        "mean": p.mean,
        "stddev": p.stddev,
        "quantiles": list(p.quantiles) if p.quantiles is not None else None,
        "edges": list(b.edges) if b else [],
        "categories": list(b.categories) if b else [],
        "counts": list(p.counts),
        "distinct": p.distinct,
    }


def _profile(row: dict[str, Any], day: date | None) -> Profile:
    bins = FeatureBins(
        row["feature"],
        row["kind"],
        edges=tuple(row["edges"] or ()),
        categories=tuple(row["categories"] or ()),
    )
    return Profile(
        row["feature"],
        row["kind"],
        day,
        int(row["rows"]),
        int(row["nulls"]),
        min=row["min"],
        max=row["max"],
        mean=row["mean"],
        stddev=row["stddev"],
        quantiles=tuple(row["quantiles"]) if row["quantiles"] is not None else None,
        counts=tuple(int(c) for c in row["counts"] or ()),
        distinct=row["distinct"],
        bins=bins,
    )


def _rows(lakehouse: Lakehouse, table: str, predicate: Any) -> list[dict[str, Any]]:
    if not lakehouse.exists(table):
        return []
    dataset = lakehouse._load(table).to_pyarrow_dataset()
    return dataset.to_table(filter=predicate).to_pylist()


def read_profiles(
    lakehouse: Lakehouse,
    project: str,
    *,
    view: str,
    reference: str,
    date_range: tuple[date, date] | None = None,
) -> list[StoredProfile]:
    """The stored daily profiles of a view against a reference (optionally of some days only)."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    pred = (ds.field("view") == view) & (ds.field("reference") == reference)
    if date_range is not None:
        pred = (
            pred
            & (ds.field("event_date") >= pc.scalar(date_range[0]))
            & (ds.field("event_date") <= pc.scalar(date_range[1]))
        )
    out = [
        StoredProfile(_profile(r, r["event_date"]), int(r["table_version"]), r["run_id"])
        for r in _rows(lakehouse, profiles_table(project), pred)
    ]
    return sorted(out, key=lambda s: (s.profile.day, s.profile.feature))


def read_all_profiles(lakehouse: Lakehouse, project: str, *, view: str | None = None) -> list[dict[str, Any]]:
    """Every stored daily profile row of a project (or one view), for reports."""
    import pyarrow.dataset as ds

    pred = ds.field("view") == view if view else None
    rows = _rows(lakehouse, profiles_table(project), pred)
    return sorted(rows, key=lambda r: (r["view"], r["reference"], r["feature"], r["event_date"]))


def write_profiles(
    spark: SparkSession,
    lakehouse: Lakehouse,
    project: str,
    *,
    view: str,
    view_major: int,
    reference: str,
    profiles: list[Profile],
    table_name: str,
    table_versions: dict[date, int],
    run_id: str,
) -> int | None:
    """Replace the view's profiles against ``reference`` on the profiled days, in one commit.

    Args:
        spark: the Spark session (the write goes through the lakehouse bridge).
        lakehouse: the tables.
        project: the project (names the table).
        view: the view.
        view_major: its major version.
        reference: the reference id.
        profiles: daily profiles (``day`` set).
        table_name: the feature table profiled.
        table_versions: day -> the feature table's Delta version read for it.
        run_id: the monitor run.

    Returns:
        The metrics table's new Delta version, or None when there was nothing to write.
    """
    import pyarrow.dataset as ds

    days = sorted({p.day for p in profiles if p.day is not None})
    if not days:
        return None
    table = profiles_table(project)
    lo, hi = days[0], days[-1]
    keep = (
        _rows(lakehouse, table, (ds.field("event_date") >= lo) & (ds.field("event_date") <= hi))
        if lakehouse.exists(table)
        else []
    )
    replaced = set(days)
    rows = [
        r
        for r in keep
        if not (r["view"] == view and r["reference"] == reference and r["event_date"] in replaced)
    ]
    at = datetime.now(UTC)
    for p in profiles:
        rows.append(
            {
                "view": view,
                "view_major": view_major,
                "reference": reference,
                **_stats(p),
                "table_name": table_name,
                "table_version": table_versions[p.day],  # type: ignore[index]
                "run_id": run_id,
                "profiled_at": at,
                "event_date": p.day,
            }
        )
    columns = [c.split(" ")[0] for c in _split(PROFILE_SCHEMA)]
    df = spark.createDataFrame([tuple(r[c] for c in columns) for r in rows], PROFILE_SCHEMA)
    info = lakehouse.write(df, table, partition_by=["event_date"], replace_range=(lo, hi))
    return info.version


def _split(schema: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in schema:
        depth += ch == "<"
        depth -= ch == ">"
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    out.append(cur.strip())
    return out


def read_reference(lakehouse: Lakehouse, project: str, *, view: str, reference: str) -> dict[str, Profile]:
    """A stored reference profile: feature -> profile (empty when not profiled yet)."""
    import pyarrow.dataset as ds

    pred = (ds.field("view") == view) & (ds.field("reference") == reference)
    return {r["feature"]: _profile(r, None) for r in _rows(lakehouse, references_table(project), pred)}


def write_reference(
    spark: SparkSession,
    lakehouse: Lakehouse,
    project: str,
    *,
    view: str,
    reference: str,
    profiles: list[Profile],
    source: str,
    run_id: str,
) -> int:
    """Append a reference profile (one row per feature); returns the table's new Delta version."""
    at = datetime.now(UTC)
    columns = [c.split(" ")[0] for c in _split(REFERENCE_SCHEMA)]
    rows = [
        {
            "view": view,
            "reference": reference,
            **_stats(p),
            "source": source,
            "run_id": run_id,
            "profiled_at": at,
        }
        for p in profiles
    ]
    df = spark.createDataFrame([tuple(r[c] for c in columns) for r in rows], REFERENCE_SCHEMA)
    return lakehouse.write(df, references_table(project), mode="append").version
