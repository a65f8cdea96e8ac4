"""``featurelake demo run``: the README's main job, end to end on embedded defaults.

The run is a list of steps (:data:`STEPS`): generate the raw data, apply the feature repo,
backfill every view, describe the feature tables, show one view's lineage. Other parts of the
product add their own steps (materialize, online lookup, training set) with :func:`add_step`;
each step reads and writes the shared :class:`DemoContext` (``ctx.state`` carries results
between steps, e.g. ``ctx.state["backfills"]``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from featurelake.config.settings import Settings

DEMO_ROWS = 200_000
DEMO_SEED = 7
DEMO_DAYS = 45
LINEAGE_VIEW = "user_transaction_stats"
TRAINING_SET = "fraud_training"
TRAINING_SERVICE = "fraud_detection"
DEMO_DRIFT_DAYS = 3  # the amounts of the last days are shifted, for the monitor step to detect
MONITOR_VIEW = "user_transaction_stats"


@dataclass
class DemoContext:
    """What every demo step can use.

    Attributes:
        settings: featurelake settings (embedded defaults: local Delta, SQLite, Spark local).
        actor: who runs the demo (recorded in the registry).
        console: where steps print.
        rows: transactions to generate.
        seed: generator seed.
        days: days of data (ending yesterday, UTC).
        drift_days: the last days whose transaction amounts are shifted (0: none); the training
            set is labelled on the week before them and the monitor step finds the shift.
        state: results shared between steps (``demo_data``, ``plan``, ``backfills``...).
    """

    settings: Settings
    actor: str
    console: Console
    rows: int = DEMO_ROWS
    seed: int = DEMO_SEED
    days: int = DEMO_DAYS
    drift_days: int = DEMO_DRIFT_DAYS
    state: dict[str, Any] = field(default_factory=dict)
    _spark: SparkSession | None = None

    @property
    def spark(self) -> SparkSession:
        """One Spark session for all steps (created on first use)."""
        if self._spark is None:
            from featurelake.lakehouse.spark import build_spark_session

            self._spark = build_spark_session(
                app_name="featurelake-demo", master=self.settings.spark.master, conf=self.settings.spark.conf
            )
        return self._spark

    def registry(self) -> Any:
        """The registry (opened per call; cheap)."""
        from featurelake.jobs.wiring import open_job_registry

        return open_job_registry(self.settings, create=True)

    def lakehouse(self) -> Any:
        """The lakehouse on the settings' storage root."""
        from featurelake.lakehouse.tables import Lakehouse

        return Lakehouse(self.settings.storage_root, self.settings.storage.storage_options())


@dataclass(frozen=True)
class DemoStep:
    """One step of the demo: a name (for ``add_step(after=...)``), a title, and what it does."""

    name: str
    title: str
    run: Callable[[DemoContext], None]


def _generate(ctx: DemoContext) -> None:
    from featurelake.lakehouse.demo_data import generate

    start = datetime.now(UTC).date() - timedelta(days=ctx.days)
    data = generate(
        None,
        ctx.settings.storage_root,
        rows=ctx.rows,
        seed=ctx.seed,
        start=start,
        days=ctx.days,
        storage_options=ctx.settings.storage.storage_options(),
        drift_days=ctx.drift_days,
    )
    ctx.state["demo_data"] = data
    for name, uri in data.tables.items():
        ctx.console.print(f"  {name:<18} {data.rows[name]:>10,} rows  {uri}", markup=False)
    ctx.console.print(f"  days {data.start} .. {data.end}, seed {data.seed}", markup=False)
    if ctx.drift_days:
        ctx.console.print(
            f"  transaction amounts of the last {ctx.drift_days} days shifted (the monitor step finds it)",
            markup=False,
        )


def _apply(ctx: DemoContext) -> None:
    from featurelake.jobs.apply import apply_repo

    settings = ctx.settings
    plan = apply_repo(
        ctx.registry(),
        project=settings.project,
        repo_path=Path(settings.feature_repo),
        actor=ctx.actor,
        registry_url=settings.registry_url,
        online=settings.online,
    )
    ctx.state["plan"] = plan
    changed = [c for c in plan.changes if c.kind != "unchanged"]
    for c in changed:
        ctx.console.print(f"  {c.kind:<9} {c.object_type} {c.name} {c.to_version or ''}", markup=False)
    if not changed:
        ctx.console.print("  no changes: the registry is up to date", markup=False)


def first_computable_day(spec: Any, data_start: date) -> date:
    """The first day whose windows (or look-back) start on or after the first day of data."""
    from featurelake.lakehouse.transforms import source_ranges

    ranges = [r for r in source_ranges(spec, start=data_start, end=data_start).values() if r is not None]
    if not ranges:
        return data_start
    reach_back = max((data_start - lo).days for lo, _ in ranges)
    return data_start + timedelta(days=max(0, reach_back))


def _backfill(ctx: DemoContext) -> None:
    from featurelake.jobs.backfill import BackfillOptions, run_with_progress, summary_lines
    from featurelake.repo import load_repo

    data = ctx.state.get("demo_data")
    repo = load_repo(ctx.settings.feature_repo)
    end = data.end if data else datetime.now(UTC).date() - timedelta(days=1)
    start = data.start if data else end - timedelta(days=ctx.days - 1)
    firsts = {view: first_computable_day(spec, start) for view, spec in sorted(repo.view_specs.items())}
    short = {view: first for view, first in firsts.items() if first > end}
    if short:
        from featurelake.errors import DefinitionError

        need = max((first - start).days for first in short.values()) + 1
        raise DefinitionError(
            f"{ctx.days} days of demo data ({start}..{end}) leave no day to compute for "
            f"{', '.join(sorted(short))}: their windows look back {need - 1} days; "
            f"run `featurelake demo run --days {need}` or more"
        )
    results = {}
    for view, first in firsts.items():
        options = BackfillOptions(view=view, start=first, end=end)
        result = run_with_progress(ctx.spark, ctx.settings, options, actor=ctx.actor)
        results[view] = result
        for line in summary_lines(result):
            ctx.console.print(f"  {line}", markup=False)
    ctx.state["backfills"] = results


def _describe(ctx: DemoContext) -> None:
    lakehouse = ctx.lakehouse()
    for view, result in sorted(ctx.state.get("backfills", {}).items()):
        info = lakehouse.describe(result.table)
        ctx.console.print(
            f"  {info.name:<28} version {info.version:<3} {info.num_rows:>9,} rows  {info.partitions:>3} partitions  "
            f"{info.num_files:>4} files  {info.size_bytes / 1e6:7.2f} MB  (view {view} {result.version})",
            markup=False,
        )
        ctx.console.print(f"    columns: {', '.join(f'{n} {t}' for n, t in info.schema)}", markup=False)


def _lineage(ctx: DemoContext) -> None:
    from featurelake.registry import Node

    registry = ctx.registry()
    vv = registry.get_view_version(ctx.settings.project, LINEAGE_VIEW)
    node = Node.feature_view_version(vv.name, vv.version)
    project = ctx.settings.project
    edges = registry.lineage(project, node, direction="upstream", depth=2)
    edges += registry.lineage(project, node, direction="downstream", depth=2)
    ctx.console.print(
        f"  lineage of {vv.name} {vv.version} (table {vv.table_name}, status {vv.status}):", markup=False
    )
    for e in edges:
        src = f"{e.src.kind} {e.src.name}" + (f"@{e.src.version}" if e.src.version else "")
        dst = f"{e.dst.kind} {e.dst.name}" + (f"@{e.dst.version}" if e.dst.version else "")
        ctx.console.print(f"    {src}  ->  {dst}", markup=False)


def _training_set(ctx: DemoContext) -> None:
    """Label a week of transactions (the last one before any drifted days), build a PIT-correct
    training set, then reproduce it."""
    from pyspark.sql import functions as F

    from featurelake.jobs.training_set import create_training_set, reproduce_training_set

    data = ctx.state.get("demo_data")
    end = data.end if data else datetime.now(UTC).date() - timedelta(days=1)
    lakehouse, registry = ctx.lakehouse(), ctx.registry()
    last = end - timedelta(days=ctx.drift_days)
    labels = lakehouse.read(
        ctx.spark, "raw_transactions", date_range=(last - timedelta(days=6), last)
    ).select("user_id", "merchant_id", "event_timestamp", F.col("is_fraud").alias("label"))
    created = create_training_set(
        spark=ctx.spark,
        lakehouse=lakehouse,
        registry=registry,
        project=ctx.settings.project,
        name=TRAINING_SET,
        service=TRAINING_SERVICE,
        entities=labels,
        actor=ctx.actor,
    )
    ctx.state["training_set"] = created
    pinned = ", ".join(f"{t}@{v}" for t, v in sorted(created.feature_tables.items()))
    ctx.console.print(
        f"  training set {created.name} v{created.version}: {created.rows:,} rows -> {created.table}@"
        f"{created.delta_version}\n    pinned inputs: {created.entity_table}@{created.entity_version}, {pinned}"
        f"\n    checksum {created.checksum}",
        markup=False,
    )
    again = reproduce_training_set(
        spark=ctx.spark,
        lakehouse=lakehouse,
        registry=registry,
        project=ctx.settings.project,
        name=created.name,
        version=created.version,
    )
    verdict = "identical" if again.equal else f"DIFFERENT (expected {again.expected}, got {again.got})"
    ctx.console.print(f"  reproduced from the pinned Delta versions: {verdict}", markup=False)
    if not again.equal:
        from featurelake.errors import LakehouseError

        raise LakehouseError(f"training set {created.name} v{created.version} did not reproduce: {verdict}")


def _monitor(ctx: DemoContext) -> None:
    """Monitor one view's last week against the training set, then against the week before it.

    The training set's rows are weighted by transactions while the feature table has one row per
    user and day, so against it most features differ; against the previous week (the same
    population) only the amount features on the shifted days are flagged.
    """
    from featurelake.errors import MonitorError
    from featurelake.jobs.monitor import MonitorOptions, monitor_view, summary_lines

    created = ctx.state.get("training_set")
    references = [
        f"training-set:{TRAINING_SET}" + (f":{created.version}" if created else ""),
        "previous",
    ]
    registry = ctx.registry()
    try:
        for i, reference in enumerate(references):
            try:
                result = monitor_view(
                    ctx.spark,
                    settings=ctx.settings,
                    registry=registry,
                    lakehouse=ctx.lakehouse(),
                    options=MonitorOptions(view=MONITOR_VIEW, reference=reference),
                    actor=ctx.actor,
                )
            except MonitorError as err:
                if i == 0:
                    raise
                # a short demo (few --days) has no week before the last one: say so and go on
                ctx.console.print(f"  against {reference}: skipped ({err})", markup=False)
                continue
            ctx.state.setdefault("monitor", []).append(result)
            lines = summary_lines(result)
            if i == 0:  # the population differs from the table's: show the outcome only
                drift = ("psi", "js", "ks", "null_rate", "mean_shift")
                flagged = sorted(
                    {c.feature for c in result.checks if c.status != "ok" and c.feature and c.metric in drift}
                )
                lines = [
                    *lines[:2],
                    *[line for line in lines[2:] if line.startswith("  online")],  # skew and coverage
                    f"  {len(flagged)} features differ from the training rows: {', '.join(flagged)}",
                ]
            for line in lines:
                ctx.console.print(f"  {line}", markup=False)
            ctx.console.print(f"  exit code for a scheduler: {result.exit_code}", markup=False)
    finally:
        registry.dispose()
    ctx.console.print(
        "  see `featurelake monitor status` and `featurelake monitor report --html FILE`", markup=False
    )


def _online_step(target: str, ctx: DemoContext) -> None:
    # The online steps ("module:function" in jobs/demo_online.py) import Spark and Redis code: lazily.
    import importlib

    module, attr = target.split(":")
    getattr(importlib.import_module(module), attr)(ctx)


STEPS: list[DemoStep] = [
    DemoStep("generate", "Generate the card-fraud raw data", _generate),
    DemoStep("apply", "Apply the feature repo (featurelake + Feast registries)", _apply),
    DemoStep("backfill", "Backfill every feature view (validated, one commit each)", _backfill),
    DemoStep("describe", "Describe the feature tables", _describe),
    DemoStep("lineage", f"Registry lineage of {LINEAGE_VIEW}", _lineage),
    DemoStep(
        "materialize",
        "Materialize every view into the Redis cluster",
        lambda ctx: _online_step("featurelake.jobs.demo_online:demo_materialize", ctx),
    ),
    DemoStep(
        "online",
        "One online lookup (feature service, statuses)",
        lambda ctx: _online_step("featurelake.jobs.demo_online:demo_lookup", ctx),
    ),
    DemoStep(
        "training-set", f"Point-in-time training set for {TRAINING_SERVICE}, then reproduce it", _training_set
    ),
    DemoStep(
        "monitor", f"Monitor {MONITOR_VIEW} against the training set and the week before (drift)", _monitor
    ),
]


def add_step(step: DemoStep, *, after: str | None = None) -> None:
    """Add a step to the demo, at the end or right after the step named ``after``.

    Raises:
        ValueError: ``after`` names no step, or a step with this name exists.
    """
    names = [s.name for s in STEPS]
    if step.name in names:
        raise ValueError(f"demo step {step.name!r} already exists; steps: {names}")
    if after is None:
        STEPS.append(step)
        return
    if after not in names:
        raise ValueError(f"no demo step {after!r} to add {step.name!r} after; steps: {names}")
    STEPS.insert(names.index(after) + 1, step)


def run_demo(ctx: DemoContext, *, steps: list[DemoStep] | None = None) -> DemoContext:
    """Run the demo's steps in order, printing a header per step.

    Returns:
        The context, with every step's results in ``ctx.state``.
    """
    chosen = STEPS if steps is None else steps
    try:
        for i, step in enumerate(chosen, start=1):
            ctx.console.rule(f"[bold]{i}/{len(chosen)} {step.title}")
            step.run(ctx)
    finally:
        if ctx._spark is not None:
            ctx._spark.stop()
            ctx._spark = None
    return ctx
