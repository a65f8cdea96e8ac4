"""Monitor a feature view's health: profiles, drift against a reference, freshness (a spark-submit job).

    spark-submit jobs/monitor.py --view NAME [--start D --end D]
        [--reference training-set:NAME[:VERSION] | window:START..END | previous]

The job asks the registry for the view's version, its table and its monitors (the view spec's
``monitors`` and ``freshness_sla``), pins the feature table at its latest Delta version ``W``
and then:

1. profiles the days of the range ``start..end`` (default: the 7 days ending with the table's
   newest partition) that have no profile against this reference yet, or whose partition
   changed since the Delta version their profile was computed from (the Delta log says which
   files commits added: :mod:`featurelake.lakehouse.changes`), in ONE Spark aggregation, and
   replaces exactly those days' rows in the project's metrics table; a run with nothing new
   reads no data files;
2. profiles the reference once (a registered training set at its pinned Delta version, a fixed
   earlier window, or the window just before ``start``) and keeps it in the metrics tables;
3. computes each drift metric per feature, per day and over the whole window, from the profiles
   (KS from the rows, in Spark, when declared), and the freshness of the view offline (its
   newest partition) and online (its last successful materialization);
4. when the view has a successful materialization, samples entities and compares Redis with the
   offline values: skew per feature (mismatch rate against the latest materialization) and
   online coverage (:mod:`featurelake.jobs.monitor_online`);
5. records the run in the registry with every check's outcome (ok / warn / fail, the value, the
   thresholds, the reference, the Delta versions read) and lineage edges from the reference and
   the profiled table version to the run.

Exit codes (for schedulers): 0 every check ok, 6 a warning, 4 a failure, 2 bad input (nothing
written), 3 a service did not answer, 1 another failure.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from featurelake.errors import FeatureStoreError, MonitorError, RegistryError
from featurelake.jobs.monitor_reference import Reference, resolve_reference
from featurelake.monitors import (
    METRIC_KINDS,
    ONLINE_METRICS,
    Drift,
    Monitor,
    OnlineCoverage,
    Skew,
    effective_monitors,
    monitors_from_definition,
    worst,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from featurelake.config.settings import Settings
    from featurelake.jobs.monitor_online import OnlinePlan
    from featurelake.lakehouse.monitoring.profiles import FeatureBins, FeatureKind, Profile
    from featurelake.lakehouse.tables import Lakehouse
    from featurelake.registry import MonitorCheck, Registry, ViewVersion

# The project's exit codes (jobs/entrypoint.py) plus one for a monitor that only warned.
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_FAIL, EXIT_WARN = 0, 1, 2, 4, 6
EXIT_CODES = {"ok": EXIT_OK, "warn": EXIT_WARN, "fail": EXIT_FAIL}
EXIT_HELP = (
    "Exit codes: 0 every check ok; 6 at least one warning and no failure; 4 at least one failure; "
    "2 bad input (unknown view or reference, empty window, bad thresholds; nothing written); "
    "3 a service did not answer; 1 the run failed for another reason."
)
DEFAULT_DAYS = 7
DAY = "event_date"


@dataclass(frozen=True)
class MonitorOptions:
    """What to monitor.

    Attributes:
        view: the feature view.
        start: first day of the detection window (default: ``end`` - 6 days).
        end: last day (default: the table's newest partition).
        reference: ``training-set:NAME[:VERSION]``, ``window:START..END`` or ``previous`` (default).
        version: the view version (default: the active one).
        online_sample: entities sampled for the online checks (default: the view spec's
            ``Skew.sample`` / ``OnlineCoverage.sample``, 1,000); 0 skips them.
        online_seed: their sampling seed (default: the spec's, 0).
    """

    view: str
    start: date | None = None
    end: date | None = None
    reference: str | None = None
    version: str | None = None
    online_sample: int | None = None
    online_seed: int | None = None


@dataclass
class MonitorResult:
    """What one monitor run found and did."""

    run_id: str
    view: str
    version: str
    table: str
    delta_version: int
    start: date
    end: date
    reference: str
    outcome: str
    days_profiled: list[date]
    files_read: int
    rows_read: int
    reference_profiled: bool
    metrics_version: int | None
    checks: list[MonitorCheck] = field(default_factory=list)
    fallback: str | None = None
    online: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """0 ok, 6 warn, 4 fail."""
        return EXIT_CODES[self.outcome]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["exit_code"] = self.exit_code
        return out


# --------------------------------------------------------------------------- input checks


def _checked_monitors(
    definition: dict[str, Any], kinds: dict[str, FeatureKind], view: str
) -> tuple[tuple[Monitor, ...], timedelta | None]:
    try:
        declared, sla = monitors_from_definition(definition)
    except ValueError as err:
        raise MonitorError(
            f"the monitors of view {view!r} in the registry are invalid: {err}; fix them in the view spec "
            "and run `featurelake apply`"
        ) from None
    problems = []
    for d in declared:
        if isinstance(d, Skew | OnlineCoverage):
            continue  # checked against the view's online features (jobs/monitor_online.py)
        for f in d.features or ():
            if f not in kinds:
                problems.append(
                    f"Drift({d.metric}) names feature {f!r}, which view {view!r} does not monitor"
                )
            elif kinds[f] not in METRIC_KINDS[d.metric]:
                fix = (
                    "use metric='js' for string and boolean features"
                    if d.metric in ("ks", "psi", "mean_shift")
                    else "use psi or ks"
                )
                problems.append(
                    f"Drift(metric={d.metric!r}) on feature {f!r}: {d.metric} needs a numeric feature but "
                    f"{f!r} is {kinds[f]}; {fix}"
                )
    if problems:
        raise MonitorError("; ".join(problems))
    return effective_monitors(declared), sla


# --------------------------------------------------------------------------- profiling


def _day_of(f: Any) -> date | None:
    value = f.partition_values.get(DAY)
    return None if value is None else date.fromisoformat(value)


def _days_to_profile(
    lakehouse: Lakehouse, table: str, stored: dict[date, int], data_days: set[date], delta_version: int
) -> tuple[set[date], str | None]:
    from featurelake.lakehouse.changes import ChangesUnavailable, changed_files

    todo = {d for d in data_days if d not in stored}
    fallback = None
    by_version: dict[int, set[date]] = defaultdict(set)
    for d, v in stored.items():
        if d in data_days and v != delta_version:
            by_version[v].add(d)
    for since, days in sorted(by_version.items()):
        try:
            changes = changed_files(lakehouse, table, since_version=since, to_version=delta_version)
        except ChangesUnavailable as err:
            todo |= days
            fallback = err.reason
            continue
        todo |= days & {_day_of(f) for f in changes.files}
    return todo, fallback


def _reference_profiles(
    spark: SparkSession,
    lakehouse: Lakehouse,
    project: str,
    view: str,
    ref: Reference,
    kinds: dict[str, FeatureKind],
    run_id: str,
) -> tuple[dict[str, Profile], bool]:
    from featurelake.lakehouse.monitoring.metrics_table import read_reference, write_reference
    from featurelake.lakehouse.monitoring.profiles import profile, reference_bins

    cached = read_reference(lakehouse, project, view=view, reference=ref.id)
    if all(f in cached for f in kinds):
        return cached, False
    df = _reference_rows(spark, lakehouse, ref, list(kinds))
    bins = reference_bins(df, kinds)
    profiles = profile(df, bins, by_day=False)
    if not profiles:
        raise MonitorError(f"reference {ref.id} holds no rows; pick another reference")
    write_reference(
        spark,
        lakehouse,
        project,
        view=view,
        reference=ref.id,
        profiles=profiles,
        source=f"{ref.table}@{ref.version}",
        run_id=run_id,
    )
    return {p.feature: p for p in profiles}, True


def _reference_rows(
    spark: SparkSession, lakehouse: Lakehouse, ref: Reference, features: list[str]
) -> DataFrame:
    from pyspark.sql import functions as F

    cols = sorted({ref.columns[f] for f in features})
    df = lakehouse.read(spark, ref.table, version=ref.version, columns=cols, date_range=ref.date_range)
    return df.select(*[F.col(ref.columns[f]).alias(f) for f in features])


# --------------------------------------------------------------------------- checks


def _drift_value(metric: str, ref: Profile, cur: Profile) -> float | None:
    from featurelake.lakehouse.monitoring import drift

    if metric == "psi":
        return drift.psi(ref.counts, cur.counts) if cur.non_null and ref.non_null else None
    if metric == "js":
        return drift.jensen_shannon(ref.counts, cur.counts) if cur.non_null and ref.non_null else None
    if metric == "null_rate":
        return drift.null_rate_change(ref, cur)
    if metric == "mean_shift":
        return drift.mean_shift(ref, cur)
    raise ValueError(metric)


def _applies(d: Drift, feature: str, kind: FeatureKind) -> bool:
    return kind in METRIC_KINDS[d.metric] and (d.features is None or feature in d.features)


def _freshness(
    registry: Registry,
    lakehouse: Lakehouse,
    project: str,
    vv: ViewVersion,
    sla: timedelta | None,
    now: datetime,
) -> list[dict[str, Any]]:
    from featurelake.spec import day_start

    out = []
    days = [d for d in (_day_of(f) for f in lakehouse.files(vv.table_name)) if d is not None]
    newest = max(days) if days else None
    age = (now - day_start(newest + timedelta(days=1))).total_seconds() if newest else None
    out.append(("freshness_offline", age, {"newest_partition": newest}))
    spec = (vv.definition.get("spec") or {}).get("non_breaking") or {}
    if spec.get("online", True):
        run = registry.last_successful_run(project, "materialize", vv.name)
        finished = run.finished_at if run else None
        online_age = (now - finished).total_seconds() if finished else None
        out.append(
            (
                "freshness_online",
                online_age,
                {"last_materialization": finished, "run_id": run.run_id if run else None},
            )
        )
    checks = []
    limit = sla.total_seconds() if sla else None
    for metric, value, details in out:
        if limit is None:
            status = "ok"
        elif value is None or value > limit:
            status = "fail"
        else:
            status = "ok"
        checks.append({"metric": metric, "value": value, "status": status, "fail": limit, "details": details})
    return checks


def monitor_view(
    spark: SparkSession,
    *,
    settings: Settings,
    registry: Registry,
    lakehouse: Lakehouse,
    options: MonitorOptions,
    actor: str,
    now: datetime | None = None,
) -> MonitorResult:
    """Profile, compare with the reference, check freshness, and record the run (see the module doc).

    Every input is checked before anything is written: an unknown or archived view, a reference
    that does not exist or is archived, an empty detection window, a metric declared on a
    feature it does not apply to, invalid thresholds or sample sizes, a ``Skew`` feature the view
    does not have, or a materialized view with no Redis configured raise :class:`MonitorError`.

    Returns:
        The run's result; ``result.exit_code`` is what a scheduler should see.

    Raises:
        MonitorError: bad input (nothing written).
        LakehouseError: the storage cannot be read.
        ServiceUnavailableError: Redis does not answer (the view is materialized; nothing written).
    """
    from featurelake.jobs.monitor_online import plan_online
    from featurelake.lakehouse.monitoring.profiles import feature_kinds

    project = settings.project
    now = now or datetime.now(UTC)
    try:
        vv = registry.get_view_version(project, options.view, options.version)
    except RegistryError as err:
        raise MonitorError(f"{err}") from None
    if vv.status == "archived":
        raise MonitorError(f"view {vv.name} {vv.version} is archived; monitor an active version")
    table = vv.table_name
    if not lakehouse.exists(table):
        raise MonitorError(
            f"view {vv.name!r} has no feature table yet ({table}); run `featurelake backfill --view {vv.name}` first"
        )
    delta_version = lakehouse.version(table)
    all_files = lakehouse.files(table, version=delta_version)
    days_all = sorted({d for f in all_files if (d := _day_of(f)) is not None and (f.num_records or 0) > 0})
    end = options.end or (days_all[-1] if days_all else now.date())
    start = options.start or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise MonitorError(f"--start {start} is after --end {end}; swap them")
    data_days = {d for d in days_all if start <= d <= end}
    if not data_days:
        raise MonitorError(
            f"the detection window {start}..{end} of view {vv.name!r} holds no rows (table {table} has "
            + (f"days {days_all[0]}..{days_all[-1]}" if days_all else "no rows")
            + "); pick --start/--end inside the table's days or backfill them"
        )
    ref = resolve_reference(registry, lakehouse, project, vv, options.reference, start, end)
    empty = lakehouse.read(spark, table, version=delta_version, columns=list(ref.columns), files=[])
    kinds = feature_kinds(empty, list(ref.columns))
    monitors, sla = _checked_monitors(vv.definition, kinds, vv.name)
    drifts = tuple(m for m in monitors if isinstance(m, Drift))
    online_plan, online_skipped = plan_online(
        settings, registry, vv, monitors, sample=options.online_sample, seed=options.online_seed
    )
    try:
        return _monitor_run(
            spark,
            project=project,
            registry=registry,
            lakehouse=lakehouse,
            vv=vv,
            actor=actor,
            now=now,
            window=(start, end),
            delta_version=delta_version,
            all_files=all_files,
            data_days=data_days,
            ref=ref,
            kinds=kinds,
            drifts=drifts,
            sla=sla,
            online=(online_plan, online_skipped),
        )
    finally:
        if online_plan is not None:
            online_plan.close()


def _monitor_run(
    spark: SparkSession,
    *,
    project: str,
    registry: Registry,
    lakehouse: Lakehouse,
    vv: ViewVersion,
    actor: str,
    now: datetime,
    window: tuple[date, date],
    delta_version: int,
    all_files: list[Any],
    data_days: set[date],
    ref: Reference,
    kinds: dict[str, FeatureKind],
    drifts: tuple[Drift, ...],
    sla: timedelta | None,
    online: tuple[OnlinePlan | None, str | None],
) -> MonitorResult:
    """The checked run of :func:`monitor_view`: profile, compare, check freshness and online, record."""
    from featurelake.jobs.monitor_online import run_online
    from featurelake.lakehouse.monitoring.drift import ks_by_day, ks_pvalue
    from featurelake.lakehouse.monitoring.metrics_table import profiles_table, read_profiles, write_profiles
    from featurelake.lakehouse.monitoring.profiles import merge, profile
    from featurelake.registry import MonitorCheck, Node

    start, end = window
    table = vv.table_name
    online_plan, online_skipped = online

    params = {
        "view": vv.name,
        "version": vv.version,
        "table": table,
        "delta_version": delta_version,
        "start": start,
        "end": end,
        "reference": ref.id,
    }
    run_id = registry.start_run(project, "monitor", params, actor, target=vv.name)
    try:
        ref_profiles, ref_profiled = _reference_profiles(
            spark, lakehouse, project, vv.name, ref, kinds, run_id
        )
        bins: dict[str, FeatureBins] = {f: ref_profiles[f].bins for f in kinds}  # type: ignore[misc]
        stored = read_profiles(lakehouse, project, view=vv.name, reference=ref.id, date_range=(start, end))
        versions: dict[date, int] = {}
        for s in stored:
            day = s.profile.day
            if day is not None:
                versions[day] = min(versions.get(day, s.table_version), s.table_version)
        todo, fallback = _days_to_profile(lakehouse, table, versions, data_days, delta_version)
        files = [f for f in all_files if _day_of(f) in todo]
        metrics_version = None
        if files:
            df = lakehouse.read(
                spark, table, version=delta_version, columns=[*kinds, DAY], files=[f.path for f in files]
            )
            fresh = profile(df, bins)
            metrics_version = write_profiles(
                spark,
                lakehouse,
                project,
                view=vv.name,
                view_major=vv.major,
                reference=ref.id,
                profiles=fresh,
                table_name=table,
                table_versions=dict.fromkeys(todo, delta_version),
                run_id=run_id,
            )
            stored = read_profiles(
                lakehouse, project, view=vv.name, reference=ref.id, date_range=(start, end)
            )
        daily: dict[str, dict[date, Any]] = defaultdict(dict)
        for s in stored:
            if s.profile.feature in kinds and s.profile.day in data_days:
                daily[s.profile.feature][s.profile.day] = s  # type: ignore[index]

        common = {
            "view": vv.name,
            "view_version": vv.version,
            "window_start": start,
            "window_end": end,
            "reference": ref.id,
        }
        ref_versions = {ref.table: ref.version}
        checks: list[MonitorCheck] = []
        ks_features = [f for f in kinds if any(d.metric == "ks" and _applies(d, f, kinds[f]) for d in drifts)]
        ks: dict[str, dict[date | None, tuple[float, int, int]]] = {}
        if ks_features:
            window = lakehouse.read(
                spark, table, version=delta_version, columns=[*ks_features, DAY], date_range=(start, end)
            )
            ref_rows = _reference_rows(spark, lakehouse, ref, ks_features)
            ks = {f: ks_by_day(ref_rows, window, f) for f in ks_features}
        for feature, kind in kinds.items():
            days = daily.get(feature, {})
            units: list[tuple[date | None, Profile, dict[str, int]]] = [
                (d, s.profile, {table: s.table_version, **ref_versions}) for d, s in sorted(days.items())
            ]
            if days:
                units.append(
                    (None, merge([s.profile for s in days.values()]), {table: delta_version, **ref_versions})
                )
            for drift_check in (d for d in drifts if _applies(d, feature, kind)):
                for day, cur, dv in units:
                    details: dict[str, Any] | None = None
                    if drift_check.metric == "ks":
                        stat, n1, n2 = ks[feature].get(day, (None, 0, 0))
                        value = stat
                        if stat is not None and n1 and n2:
                            details = {"pvalue": ks_pvalue(stat, n1, n2), "n_reference": n1, "n_current": n2}
                    else:
                        value = _drift_value(drift_check.metric, ref_profiles[feature], cur)
                    checks.append(
                        MonitorCheck(
                            feature=feature,
                            metric=drift_check.metric,
                            day=day,
                            value=value,
                            status="ok" if value is None else drift_check.outcome(value),
                            warn=drift_check.warn,
                            fail=drift_check.fail,
                            delta_versions=dv,
                            details=details,
                            **common,
                        )
                    )
        for c in _freshness(registry, lakehouse, project, vv, sla, now):
            checks.append(
                MonitorCheck(
                    feature="",
                    metric=c["metric"],
                    value=c["value"],
                    status=c["status"],
                    fail=c["fail"],
                    delta_versions={table: delta_version},
                    details=c["details"],
                    **common,
                )
            )
        online_summary: dict[str, Any] = {"skipped": online_skipped} if online_skipped else {}
        if online_plan is not None:
            found, online_summary = run_online(
                spark,
                lakehouse,
                online_plan,
                project=project,
                table=table,
                latest_version=delta_version,
                now=now,
            )
            checks += [
                MonitorCheck(
                    feature=c.feature,
                    metric=c.metric,
                    value=c.value,
                    status=c.status,
                    warn=c.warn,
                    fail=c.fail,
                    delta_versions=c.delta_versions,
                    details=c.details,
                    **common,
                )
                for c in found
            ]
        outcome = worst([c.status for c in checks])
        rows_read = sum(f.num_records or 0 for f in files)
        counts = {s: sum(c.status == s for c in checks) for s in ("ok", "warn", "fail")}
        flagged = sorted({(c.feature, c.metric) for c in checks if c.status != "ok"})
        node = Node.monitor_run(vv.name, run_id)
        edges = [(Node.delta_output(table, delta_version), node)]
        if ref.training_set:
            edges.append((Node.training_set(*ref.training_set), node))
        elif ref.table != table or ref.version != delta_version:
            edges.append((Node.delta_output(ref.table, ref.version), node))
        registry.finish_monitor_run(
            run_id,
            checks=checks,
            rows_in=rows_read,
            inputs=[{"table": table, "version": delta_version}, {"table": ref.table, "version": ref.version}],
            # the profiles it appended (none when every day was already profiled)
            outputs=[]
            if metrics_version is None
            else [{"table": profiles_table(project), "version": metrics_version}],
            report={
                "outcome": outcome,
                "checks": counts,
                "flagged": [f"{f or '(view)'}:{m}" for f, m in flagged],
                "days_profiled": sorted(todo),
                "files_read": len(files),
                "rows_read": rows_read,
                "reference": ref.id,
                "reference_profiled": ref_profiled,
                "metrics_version": metrics_version,
                "fallback": fallback,
                "online": online_summary,
            },
            lineage_edges=edges,
        )
    except BaseException as err:
        registry.finish_run(run_id, status="failed", error=f"{type(err).__name__}: {err}")
        raise
    return MonitorResult(
        run_id=run_id,
        view=vv.name,
        version=vv.version,
        table=table,
        delta_version=delta_version,
        start=start,
        end=end,
        reference=ref.id,
        outcome=outcome,
        days_profiled=sorted(todo),
        files_read=len(files),
        rows_read=rows_read,
        reference_profiled=ref_profiled,
        metrics_version=metrics_version,
        checks=checks,
        fallback=fallback,
        online=online_summary,
    )


def summary_lines(result: MonitorResult) -> list[str]:
    """A few lines: window, reference, what was read, the outcome and every non-ok check."""
    profiled = ", ".join(str(d) for d in result.days_profiled) or "none (nothing changed)"
    lines = [
        f"{result.view} v{result.version} {result.start}..{result.end} vs {result.reference}: {result.outcome.upper()}",
        f"  Delta {result.table}@{result.delta_version}; days profiled: {profiled}; "
        f"{result.files_read} files / {result.rows_read} rows read",
    ]
    on = result.online
    if on.get("skipped"):
        lines.append(f"  online checks {on['skipped']}")
    elif on:
        rate = on["skew_mismatches"] / on["skew_compared"] if on["skew_compared"] else 0.0
        share = on["coverage_present"] / on["coverage_sampled"] if on["coverage_sampled"] else 1.0
        lines.append(
            f"  online: skew {on['skew_mismatches']}/{on['skew_compared']} values differ ({rate:.4f}) in "
            f"{on['skew_sampled']} entities vs materialization {on['materialize_run'][:8]} "
            f"@{on['materialized_version']}; coverage {on['coverage_present']}/{on['coverage_sampled']} "
            f"entities ({share:.3f})"
        )
    bad = [c for c in result.checks if c.status != "ok"]
    by_key: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for c in bad:
        by_key[(c.feature, c.metric)].append(c)
    for (feature, metric), items in sorted(by_key.items()):
        days = [c for c in items if c.day is not None]
        whole = [c for c in items if c.day is None]
        label = feature or "(view)"
        parts = [f"{c.day}={c.value:.3f} {c.status}" for c in days if c.value is not None]
        if whole and whole[0].value is not None:
            if metric in ONLINE_METRICS:
                parts.append(f"sample={whole[0].value:.4g} {whole[0].status}")
            else:
                parts.append(f"window={whole[0].value:.3f} {whole[0].status}")
        lines.append(f"  {label} {metric}: " + ("; ".join(parts) or items[0].status))
    if not bad:
        lines.append(f"  all {len(result.checks)} checks ok")
    return lines


def run(
    *, settings: Settings, options: MonitorOptions, actor: str, spark: SparkSession | None = None
) -> MonitorResult:
    """Open the registry, the lakehouse and (unless given) a Spark session, then monitor."""
    from featurelake.jobs.wiring import lakehouse_from_settings, open_job_registry, submit_master
    from featurelake.lakehouse.spark import build_spark_session

    registry = open_job_registry(settings)
    try:
        lakehouse = lakehouse_from_settings(settings)
        spark = spark or build_spark_session(
            app_name=f"featurelake-monitor-{options.view}",
            master=submit_master(settings),
            conf=settings.spark.conf,
        )
        return monitor_view(
            spark, settings=settings, registry=registry, lakehouse=lakehouse, options=options, actor=actor
        )
    finally:
        registry.dispose()


def parse_day(text: str | None, *, option: str) -> date | None:
    """An ISO date from the command line.

    Raises:
        MonitorError: naming the option and the value.
    """
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise MonitorError(f"{option} {text!r} is not a date; write YYYY-MM-DD") from None


def main(argv: list[str] | None = None) -> int:
    """spark-submit entry point; returns the exit code (0 ok, 6 warn, 4 fail, 2 bad input, 1 error)."""
    from featurelake.actor import resolve_actor
    from featurelake.config.settings import load_settings

    parser = argparse.ArgumentParser(prog="monitor.py", description=__doc__.splitlines()[0], epilog=EXIT_HELP)
    parser.add_argument("--view", required=True, help="feature view to monitor")
    parser.add_argument("--start", help="first day of the detection window (YYYY-MM-DD)")
    parser.add_argument("--end", help="last day (default: the table's newest partition)")
    parser.add_argument(
        "--reference", help="training-set:NAME[:VERSION], window:START..END or previous (default)"
    )
    parser.add_argument("--version", help="view version (default: the active one)")
    parser.add_argument(
        "--online-sample",
        type=int,
        help="entities sampled for the skew and coverage checks (default: the view spec's, 1000; 0 skips them)",
    )
    parser.add_argument("--online-seed", type=int, help="their sampling seed (default: the view spec's, 0)")
    parser.add_argument(
        "--config", help="featurelake.yaml (default: $FEATURELAKE_CONFIG or ./featurelake.yaml)"
    )
    parser.add_argument("--actor", help="who runs it (default: $FEATURELAKE_ACTOR or the OS user)")
    args = parser.parse_args(argv)
    try:
        options = MonitorOptions(
            view=args.view,
            start=parse_day(args.start, option="--start"),
            end=parse_day(args.end, option="--end"),
            reference=args.reference,
            version=args.version,
            online_sample=args.online_sample,
            online_seed=args.online_seed,
        )
        result = run(settings=load_settings(args.config), options=options, actor=resolve_actor(args.actor))
    except FeatureStoreError as err:
        from featurelake.jobs.entrypoint import exit_code_for

        print(f"Error: {err}", file=sys.stderr)
        return exit_code_for(err)
    for line in summary_lines(result):
        print(line)
    print(f"run {result.run_id}; exit {result.exit_code}")
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
