"""What a backfill will do, checked before any Spark work: its options, the view version, the
spec, the days to compute and the source snapshots it pins (``featurelake backfill --dry-run``
prints it). :mod:`featurelake.jobs.backfill` runs the plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from featurelake.errors import DefinitionError

if TYPE_CHECKING:
    from featurelake.config.settings import Settings
    from featurelake.lakehouse.tables import Lakehouse
    from featurelake.registry import ViewVersion
    from featurelake.spec import ViewSpec


DEFAULT_CHUNK_DAYS = 30
DEFAULT_LEASE = timedelta(minutes=2)  # heartbeat every 40 s; a killed run shows abandoned within 2 min


@dataclass(frozen=True)
class BackfillOptions:
    """What to backfill.

    Attributes:
        view: the feature view name.
        start: first day (inclusive): the period starting at ``start 00:00`` UTC is the first computed.
        end: last day (inclusive).
        version: the view version (``"2"`` or ``"2.1"``); default the current one.
        missing_only: compute only the days whose partition is empty in the feature table.
        chunk_days: days computed per Spark job (progress is reported per chunk).
        lease: the run shows ``abandoned`` if no heartbeat arrives within this time.
        target_file_mb: target file size of the Z-order step; None = delta-rs' default (100 MB).
            Smaller files let single-entity reads skip more files inside a day, at the cost of
            more files for whole-day scans.
        allow_future: allow days after today (UTC), which have no complete data yet.
        dry_run: plan and check only; nothing is computed or written.
        wait: when a live run of the same view holds an overlapping range, wait for it instead
            of failing at once.
    """

    view: str
    start: date
    end: date
    version: str | None = None
    missing_only: bool = False
    chunk_days: int = DEFAULT_CHUNK_DAYS
    lease: timedelta = DEFAULT_LEASE
    target_file_mb: int | None = None
    allow_future: bool = False
    dry_run: bool = False
    wait: bool = False


def days_between(start: date, end: date) -> list[date]:
    """Every day from ``start`` to ``end`` inclusive."""
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def contiguous_ranges(days: Sequence[date]) -> list[tuple[date, date]]:
    """Group days into contiguous inclusive ranges."""
    out: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if out and day == out[-1][1] + timedelta(days=1):
            out[-1] = (out[-1][0], day)
        else:
            out.append((day, day))
    return out


def check_options(options: BackfillOptions, *, today: date | None = None) -> None:
    from datetime import UTC

    problems = []
    today = today or datetime.now(UTC).date()
    if not options.allow_future and options.end > today:
        first = max(options.start, today + timedelta(days=1))
        problems.append(
            f"--end {options.end} is in the future: day {first} is after today ({today} UTC) and has no complete "
            "data yet, and a backfill would commit it into the live table; end the range at or before today, "
            "or pass --allow-future"
        )
    if options.start > options.end:
        problems.append(
            f"--start {options.start} is after --end {options.end}; give a start on or before the end"
        )
    if options.chunk_days < 1:
        problems.append(f"--chunk-days {options.chunk_days} must be at least 1")
    if options.target_file_mb is not None and options.target_file_mb < 1:
        problems.append(f"--target-file-mb {options.target_file_mb} must be at least 1 (MB)")
    if options.lease < timedelta(seconds=1):
        problems.append(f"lease {options.lease} is too short; use at least a few seconds")
    if problems:
        raise DefinitionError(problems)


def load_spec(settings: Settings, vv: ViewVersion) -> ViewSpec:
    """The view's spec from the feature repo, refusing one that breaks with the registered version."""
    from featurelake.repo import load_repo
    from featurelake.spec import classify_change, view_definition

    repo = load_repo(settings.feature_repo)
    spec = repo.view_specs.get(vv.name)
    if spec is None:
        raise DefinitionError(
            f"feature view {vv.name!r} has no ViewSpec in the feature repo {str(settings.feature_repo)!r}, so there is "
            f"nothing to compute; add ViewSpec(view={vv.name!r}, transform=...) next to the view"
        )
    fv = next((v for v in repo.feature_views if v.name == vv.name), None)
    if fv is not None and isinstance(vv.definition, dict) and "breaking" in vv.definition:
        change = classify_change(vv.definition, view_definition(fv, spec))
        if change.kind == "breaking":
            raise DefinitionError(
                f"the feature repo's definition of {vv.name!r} breaks with registered version {vv.version} "
                f"({'; '.join(r for r in change.reasons if r.startswith('BREAKING'))}); run `featurelake apply` "
                "to register a new version before backfilling"
            )
    return spec


def plan_ranges(
    lakehouse: Lakehouse, table: str, *, start: date, end: date, missing_only: bool
) -> list[tuple[date, date]]:
    """The ranges to compute: all of [start, end], or only its contiguous runs of empty partitions."""
    if not missing_only or not lakehouse.exists(table):
        return [(start, end)]
    from featurelake.lakehouse.transforms import partition_dates

    filled = partition_dates(lakehouse, table, version=None, date_range=(start, end))
    return contiguous_ranges([d for d in days_between(start, end) if d not in filled])


@dataclass
class BackfillPlan:
    """Everything a backfill checked before any Spark work: what it would read and write.

    Built by :func:`prepare_backfill` without a Spark session, so bad options, an unknown view
    and missing source partitions fail in about a second, and ``--dry-run`` prints it.
    """

    registry: Any
    vv: ViewVersion
    spec: ViewSpec
    lakehouse: Lakehouse
    table: str
    ranges: list[tuple[date, date]]
    snapshots: dict[str, Any]
    table_version: int | None

    def to_dict(self, options: BackfillOptions) -> dict[str, Any]:
        """The dry-run report: ranges, source partitions and versions, the table it would write."""
        from featurelake.lakehouse.transforms import source_ranges

        reads: dict[str, list[list[str]]] = {}
        for lo, hi in self.ranges:
            for src, rng in source_ranges(self.spec, start=lo, end=hi).items():
                reads.setdefault(src, []).append(
                    ["(whole table)", ""] if rng is None else [rng[0].isoformat(), rng[1].isoformat()]
                )
        return {
            "dry_run": True,
            "view": self.vv.name,
            "version": self.vv.version,
            "days": [options.start.isoformat(), options.end.isoformat()],
            "ranges_to_compute": [[a.isoformat(), b.isoformat()] for a, b in self.ranges],
            "days_to_compute": sum((b - a).days + 1 for a, b in self.ranges),
            "sources": [
                {"table": s.table, "version": s.version, "partitions": reads.get(name, [])}
                for name, s in sorted(self.snapshots.items())
            ],
            "writes": {
                "table": self.table,
                "current_version": self.table_version,
                "commits": len(self.ranges),
                "mode": "replace_range",
            },
        }


def prepare_backfill(
    settings: Settings, options: BackfillOptions, *, today: date | None = None
) -> BackfillPlan:
    """Check a backfill before any Spark work and pin what it will read.

    Validates the options (dates, chunk size, days in the future), resolves the view version in
    the registry, loads its spec, plans the ranges and pins every source at its current Delta
    version, checking the sources cover the partitions the windows need.

    Args:
        settings: storage, registry and feature repo settings.
        options: view, dates and mode.
        today: the current UTC day (default: now); days after it are refused unless
            ``options.allow_future``.

    Returns:
        The plan (see :class:`BackfillPlan`).

    Raises:
        DefinitionError: bad options, days in the future, no spec, or a breaking repo definition.
        RegistryError: no registry at the configured URL, an unknown or archived view version.
        LakehouseError: a source table is missing or does not cover the windows.
        RunConflictError: a live backfill of the view holds overlapping days (without ``--wait``).
    """
    from featurelake.jobs.wiring import open_job_registry
    from featurelake.lakehouse.tables import Lakehouse
    from featurelake.lakehouse.transforms import check_coverage, pin_sources, source_ranges

    check_options(options, today=today)
    registry = open_job_registry(settings)
    try:
        vv = registry.assert_usable(settings.project, options.view, options.version, "backfill")
        if not (
            options.wait or options.dry_run
        ):  # a run another run holds is refused here, before Spark starts
            span = (options.start.isoformat(), options.end.isoformat())
            registry.check_run_span(settings.project, "backfill", vv.name, span)
        spec = load_spec(settings, vv)
        lakehouse = Lakehouse(settings.storage_root, settings.storage.storage_options())
        table = vv.table_name
        ranges = plan_ranges(
            lakehouse, table, start=options.start, end=options.end, missing_only=options.missing_only
        )
        snapshots = pin_sources(lakehouse, spec.source_tables(), view=vv.name)
        for lo, hi in ranges:  # fail fast, before any work, on sources that do not cover the windows
            for src, rng in source_ranges(spec, start=lo, end=hi).items():
                if rng is not None:
                    check_coverage(lakehouse, snapshots[src], date_range=rng, view=vv.name, start=lo, end=hi)
        table_version = lakehouse.version(table) if lakehouse.exists(table) else None
    except BaseException:
        registry.dispose()
        raise
    return BackfillPlan(registry, vv, spec, lakehouse, table, ranges, snapshots, table_version)


def dry_run_lines(report: dict[str, Any]) -> list[str]:
    """Human-readable lines of a dry run's report (:meth:`BackfillPlan.to_dict`)."""
    ranges = ", ".join(f"{a}..{b}" for a, b in report["ranges_to_compute"]) or "nothing (every day is filled)"
    writes = report["writes"]
    lines = [
        f"dry run: {report['view']} {report['version']}: would compute {report['days_to_compute']} day(s): {ranges}",
        f"  would write {writes['table']} (now at version {writes['current_version']}) "
        f"with {writes['commits']} {writes['mode']} commit(s)",
    ]
    for src in report["sources"]:
        parts = ", ".join(f"{a}..{b}" if b else a for a, b in src["partitions"]) or "-"
        lines.append(f"  would read {src['table']}@{src['version']} partitions {parts}")
    lines.append("  nothing was computed or written")
    return lines
