"""The monitor's online checks: skew and coverage of a view in Redis, sampled, recorded per run.

* **skew** (per feature): sample up to ``Skew.sample`` entities whose latest row, as the view's
  latest successful materialization saw it (its Delta version, rows before its ``end``, after its
  ``start`` for a windowed run), is still within the view's TTL; read them from Redis and count the
  values that differ (floats compared as the float32 Feast stores) or are missing. The mismatch
  rate is ``mismatches / compared`` per feature.
* **online_coverage** (per view): sample up to ``OnlineCoverage.sample`` entities of the newest
  offline snapshot whose latest row is within the view's TTL and count those Redis serves a value
  of the view for (PRESENT or NULL_VALUE).

:func:`plan_online` runs before the monitor records anything (bad settings, an unknown feature or
an unreachable Redis are refused first); :func:`run_online` samples and compares. The checks run
only for an online view with a successful materialization of its current table; otherwise the
run's report says why they were skipped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from featurelake.errors import ConfigError, MonitorError
from featurelake.monitors import MAX_SAMPLE, Monitor, OnlineCoverage, Skew

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from featurelake.config.settings import Settings
    from featurelake.lakehouse.online.cluster import ClusterClient
    from featurelake.lakehouse.online.layout import OnlineView
    from featurelake.lakehouse.tables import Lakehouse
    from featurelake.registry import Registry, ViewVersion

_RUNS_SEARCHED = 200  # newest materialize runs searched for one of the view's current table
_EXAMPLES = 3


@dataclass
class OnlinePlan:
    """What the online checks of one monitor run compare (resolved before the run starts)."""

    skew: Skew
    coverage: OnlineCoverage
    view: OnlineView
    features: tuple[str, ...]
    client: ClusterClient
    materialize_run: str
    materialized_version: int
    materialized_start: datetime | None
    materialized_end: datetime

    def close(self) -> None:
        self.client.close()


@dataclass(frozen=True)
class OnlineCheck:
    """One online check's outcome, before it becomes a registry ``MonitorCheck``."""

    feature: str
    metric: str
    value: float | None
    status: str
    warn: float
    fail: float
    delta_versions: dict[str, int]
    details: dict[str, Any]


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    ts = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _one(monitors: tuple[Monitor, ...], cls: type, view: str) -> Any:
    found = [m for m in monitors if isinstance(m, cls)]  # the default when the view declares none
    if len(found) > 1:
        raise MonitorError(
            f"view {view!r} declares {cls.__name__} {len(found)} times; declare it once in the view spec"
        )
    return found[0]


def plan_online(
    settings: Settings,
    registry: Registry,
    vv: ViewVersion,
    monitors: tuple[Monitor, ...],
    *,
    sample: int | None,
    seed: int | None,
) -> tuple[OnlinePlan | None, str | None]:
    """Resolve the online checks of one monitor run, or say why they are skipped.

    Args:
        settings: featurelake settings (project, ``online`` nodes and credentials).
        registry: the registry (the view's materialize runs).
        vv: the view version monitored.
        monitors: the view's effective monitors (one :class:`Skew`, one :class:`OnlineCoverage`).
        sample: overrides both checks' sample size (0: skip the online checks).
        seed: overrides both checks' seed.

    Returns:
        (the plan, None) or (None, why the checks are skipped).

    Raises:
        MonitorError: a bad sample size, a ``Skew`` feature the view does not have, or the view is
            materialized but no Redis is configured.
        ServiceUnavailableError: Redis does not answer.
    """
    from featurelake.jobs.online import FeatureCatalog, connect, online_view_from_registry

    if sample is not None and not 0 <= sample <= MAX_SAMPLE:
        raise MonitorError(
            f"--online-sample {sample} is not in 0..{MAX_SAMPLE:,}; give the entities to sample, or 0 to skip"
        )
    skew = _one(monitors, Skew, vv.name)
    cover = _one(monitors, OnlineCoverage, vv.name)
    view = online_view_from_registry(vv)
    missing = [f for f in skew.features or () if f not in view.feature_names]
    if missing:
        raise MonitorError(
            f"Skew names feature(s) {', '.join(map(repr, missing))}, which view {vv.name!r} does not have "
            f"(its features: {', '.join(view.feature_names)}); fix features= in the view spec"
        )
    if sample == 0:
        return None, "skipped: --online-sample 0"
    spec = (vv.definition.get("spec") or {}).get("non_breaking") or {}
    if not spec.get("online", True):
        return None, f"skipped: view {vv.name!r} is not online"
    run = next(
        (
            r
            for r in registry.list_runs(
                settings.project, kind="materialize", status="succeeded", target=vv.name, limit=_RUNS_SEARCHED
            )
            if any(t.table == vv.table_name and t.version is not None for t in r.inputs)
        ),
        None,
    )
    if run is None:
        return None, f"skipped: view {vv.name!r} has no successful materialization of {vv.table_name}"
    end = _utc(run.params.get("end"))
    if end is None:
        return None, f"skipped: materialize run {run.run_id} records no end"
    start = _utc(run.params.get("start")) if (run.report or {}).get("mode") == "window" else None
    version = next(t.version for t in run.inputs if t.table == vv.table_name and t.version is not None)
    if sample is not None or seed is not None:
        override = {k: v for k, v in (("sample", sample), ("seed", seed)) if v is not None}
        skew = skew.model_copy(update=override)
        cover = cover.model_copy(update=override)
    try:
        client = connect(settings, FeatureCatalog(settings.project)).client
    except ConfigError as err:
        raise MonitorError(
            f"view {vv.name!r} is materialized (run {run.run_id}) but its online checks cannot reach Redis: "
            f"{err}; configure online.nodes, or pass --online-sample 0 to skip the online checks"
        ) from None
    return (
        OnlinePlan(
            skew=skew,
            coverage=cover,
            view=view,
            features=tuple(skew.features or view.feature_names),
            client=client,
            materialize_run=run.run_id,
            materialized_version=version,
            materialized_start=start,
            materialized_end=end,
        ),
        None,
    )


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def _ttl_cut(view: OnlineView, now: datetime) -> datetime | None:
    return now - view.ttl if view.ttl is not None and view.ttl > timedelta(0) else None


def run_online(
    spark: SparkSession,
    lakehouse: Lakehouse,
    plan: OnlinePlan,
    *,
    project: str,
    table: str,
    latest_version: int,
    now: datetime,
) -> tuple[list[OnlineCheck], dict[str, Any]]:
    """Sample, read Redis, compare: one ``skew`` check per feature and one ``online_coverage`` check.

    Args:
        spark: the Spark session.
        lakehouse: the Delta tables.
        plan: what :func:`plan_online` resolved.
        project: the project (Redis keys end with it).
        table: the view's feature table.
        latest_version: the table's newest Delta version (coverage samples this snapshot).
        now: the time the view's TTL is measured from.

    Returns:
        (the checks, a summary for the run's report).
    """
    from featurelake.lakehouse.monitoring.online_sample import sample_latest_rows
    from featurelake.lakehouse.online.consistency import compare, coverage
    from featurelake.lakehouse.online.reader import OnlineReader

    reader = OnlineReader(plan.client, project=project)
    view, skew, cover = plan.view, plan.skew, plan.coverage
    cut = _ttl_cut(view, now)
    since = max((t for t in (cut, plan.materialized_start) if t is not None), default=None)
    expected, skew_files = sample_latest_rows(
        spark,
        lakehouse,
        table,
        version=plan.materialized_version,
        join_keys=view.join_key_names,
        features=view.feature_names,
        since=since,
        before=plan.materialized_end,
        sample=skew.sample,
        seed=skew.seed,
    )
    report = compare(reader, view, expected, now=now, max_examples=10_000, features=plan.features)
    checks = []
    common = {
        "materialize_run": plan.materialize_run,
        "materialized_version": plan.materialized_version,
        "materialized_end": plan.materialized_end,
        "materialized_start": plan.materialized_start,
        "sampled": len(expected),
        "sample": skew.sample,
        "seed": skew.seed,
    }
    for feature in plan.features:
        counts = report.by_feature[feature]
        value = counts.mismatch_rate if counts.compared else None
        examples = [
            {k: _plain(v) if k != "entity" else {a: _plain(b) for a, b in v.items()} for k, v in e.items()}
            for e in report.examples
            if e["feature"] == feature
        ][:_EXAMPLES]
        checks.append(
            OnlineCheck(
                feature=feature,
                metric="skew",
                value=value,
                status="ok" if value is None else skew.outcome(value),
                warn=skew.warn,
                fail=skew.fail,
                delta_versions={table: plan.materialized_version},
                details={
                    **common,
                    "compared": counts.compared,
                    "mismatches": counts.mismatches,
                    "not_found": counts.not_found,
                    "examples": examples,
                },
            )
        )
    entities, cover_files = sample_latest_rows(
        spark,
        lakehouse,
        table,
        version=latest_version,
        join_keys=view.join_key_names,
        features=[],
        since=cut,
        before=now + timedelta(microseconds=1),
        sample=cover.sample,
        seed=cover.seed,
    )
    covered = coverage(reader, view, entities, now=now)
    share = covered.coverage if covered.sampled else None
    checks.append(
        OnlineCheck(
            feature="",
            metric="online_coverage",
            value=share,
            status="ok" if share is None else cover.outcome(share),
            warn=cover.warn,
            fail=cover.fail,
            delta_versions={table: latest_version},
            details={
                "sampled": covered.sampled,
                "present": covered.present,
                "not_found": covered.not_found,
                "outside_max_age": covered.outside_max_age,
                "sample": cover.sample,
                "seed": cover.seed,
                "ttl_cut": cut,
            },
        )
    )
    summary = {
        "materialize_run": plan.materialize_run,
        "materialized_version": plan.materialized_version,
        "skew_sampled": len(expected),
        "skew_compared": report.compared_values,
        "skew_mismatches": report.mismatches,
        "coverage_sampled": covered.sampled,
        "coverage_present": covered.present,
        "files_read": skew_files + cover_files,
    }
    return checks, summary
