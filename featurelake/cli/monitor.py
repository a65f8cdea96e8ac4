"""``featurelake monitor run | status | report``: feature health (in-process Spark).

The same run goes to a cluster with ``spark-submit jobs/monitor.py`` and the same options.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from featurelake.cli.context import AppContext, emit, output_option, pass_app
from featurelake.jobs.monitor import EXIT_HELP

_EXITS = "\b\n" + EXIT_HELP.replace("; ", "\n  ").replace("Exit codes: ", "Exit codes:\n  ")


@click.group(name="monitor", epilog=_EXITS)
def monitor() -> None:
    """Feature health: profiles, drift against a reference, freshness, online skew and coverage."""


@monitor.command(name="run", epilog=_EXITS)
@click.option("--view", required=True, help="Feature view to monitor.")
@click.option(
    "--start", default=None, help="First day of the detection window (YYYY-MM-DD; default: END - 6 days)."
)
@click.option("--end", default=None, help="Last day (YYYY-MM-DD; default: the table's newest partition).")
@click.option(
    "--reference",
    default=None,
    help="training-set:NAME[:VERSION] (its pinned snapshot), window:START..END (fixed earlier days) "
    "or previous (the window just before START; the default).",
)
@click.option("--version", default=None, help="View version (default: the active one).")
@click.option(
    "--online-sample",
    type=int,
    default=None,
    help="Entities sampled for the online skew and coverage checks (default: the view spec's "
    "Skew/OnlineCoverage sample, 1000; 0 skips them).",
)
@click.option("--online-seed", type=int, default=None, help="Their sampling seed (default: the spec's, 0).")
@click.option("--master", default=None, help="Spark master URL (default: the settings' spark.master).")
@output_option
@pass_app
@click.pass_context
def run(
    ctx: click.Context,
    app: AppContext,
    view: str,
    start: str | None,
    end: str | None,
    reference: str | None,
    version: str | None,
    online_sample: int | None,
    online_seed: int | None,
    master: str | None,
    output: str,
) -> None:
    """Profile VIEW's new or changed days, compare them with the reference, check freshness.

    Days already profiled at an unchanged Delta version are not read again. When the view has
    been materialized, a sample of entities is read from Redis: skew (per feature, the share of
    values that differ from the offline values of the latest materialization) and online coverage
    (the share of entities within the TTL that Redis serves). Every check's outcome is recorded in
    the registry (`featurelake monitor status`).
    """
    from featurelake.jobs.monitor import MonitorOptions, monitor_view, parse_day, summary_lines
    from featurelake.jobs.wiring import lakehouse_from_settings, open_job_registry
    from featurelake.lakehouse.spark import build_spark_session

    options = MonitorOptions(
        view=view,
        start=parse_day(start, option="--start"),
        end=parse_day(end, option="--end"),
        reference=reference,
        version=version,
        online_sample=online_sample,
        online_seed=online_seed,
    )
    settings = app.settings
    registry = open_job_registry(settings)
    try:
        spark = build_spark_session(
            app_name=f"featurelake-monitor-{view}",
            master=master or settings.spark.master,
            conf=settings.spark.conf,
        )
        result = monitor_view(
            spark,
            settings=settings,
            registry=registry,
            lakehouse=lakehouse_from_settings(settings),
            options=options,
            actor=app.actor,
        )
    finally:
        registry.dispose()
    data = result.to_dict()
    data["checks"] = [_check_dict(c) for c in result.checks]

    def text(console: Any) -> None:
        for line in summary_lines(result):
            console.print(escape(line))
        console.print(f"run {result.run_id}; exit {result.exit_code}")

    emit(data, output, text)
    ctx.exit(result.exit_code)


def _check_dict(c: Any) -> dict[str, Any]:
    return {
        "view": c.view,
        "feature": c.feature,
        "metric": c.metric,
        "day": c.day,
        "value": c.value,
        "status": c.status,
        "warn": c.warn,
        "fail": c.fail,
        "reference": c.reference,
        "delta_versions": c.delta_versions,
        "details": c.details,
        "run_id": c.run_id,
        "created_at": c.created_at,
    }


@monitor.command(name="status", epilog=_EXITS)
@click.option("--view", default=None, help="One view (default: every monitored view).")
@click.option(
    "--history",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Online skew and coverage of this many latest runs per view.",
)
@output_option
@pass_app
@click.pass_context
def status(ctx: click.Context, app: AppContext, view: str | None, history: int, output: str) -> None:
    """The outcome of each view's latest monitor run, its non-ok checks, and its online skew and
    coverage over the latest runs (exit code as for `run`)."""
    from featurelake.errors import MonitorError
    from featurelake.jobs.monitor import EXIT_CODES
    from featurelake.monitoring.history import online_history
    from featurelake.monitors import worst
    from featurelake.registry import open_registry

    settings = app.settings
    registry = open_registry(settings.registry_url, create=False)
    try:
        checks = registry.monitor_checks(settings.project, view=view, latest_run=True)
        online = {
            name: online_history(
                [
                    c
                    for metric in ("skew", "online_coverage")
                    for c in registry.monitor_checks(settings.project, view=name, metric=metric)
                ],
                runs=history,
            )
            for name in {c.view for c in checks}
        }
    finally:
        registry.dispose()
    if view is not None and not checks:
        raise MonitorError(
            f"view {view!r} has no monitor run in project {settings.project!r}; "
            f"run `featurelake monitor run --view {view}`"
        )
    views: dict[str, list[Any]] = {}
    for c in checks:
        views.setdefault(c.view, []).append(c)
    data = []
    for name, items in sorted(views.items()):
        data.append(
            {
                "view": name,
                "outcome": worst([c.status for c in items]),
                "run_id": items[0].run_id,
                "checked_at": items[0].created_at,
                "window": [items[0].window_start, items[0].window_end],
                "reference": items[0].reference,
                "checks": len(items),
                "not_ok": [_check_dict(c) for c in items if c.status != "ok"],
                "online": {"history": online.get(name, [])},
            }
        )

    def text(console: Any) -> None:
        if not data:
            console.print("no monitor runs yet: run `featurelake monitor run --view VIEW`")
        for d in data:
            console.print(
                escape(
                    f"{d['view']}: {d['outcome'].upper()} ({d['checks']} checks, window {d['window'][0]}..{d['window'][1]} "
                    f"vs {d['reference']}, run {d['run_id']})"
                )
            )
            for c in d["not_ok"]:
                value = "n/a" if c["value"] is None else f"{c['value']:.4g}"
                where = c["day"] or ("sample" if c["metric"] in ("skew", "online_coverage") else "window")
                console.print(
                    escape(f"  {c['status']:<4} {c['feature'] or '(view)'} {c['metric']} {where} = {value}")
                )
            for line in _online_lines(d["online"]["history"]):
                console.print(escape(line))

    emit(data, output, text)
    ctx.exit(EXIT_CODES[worst([d["outcome"] for d in data])])


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _online_lines(history: list[dict[str, Any]]) -> list[str]:
    if not history:
        return [
            "  online: no skew or coverage checks yet (the view was not materialized, or --online-sample 0)"
        ]
    last = history[-1]
    worst_features = sorted(((f, v) for f, v in last["skew"].items() if v), key=lambda fv: -fv[1])[:3]
    detail = ", ".join(f"{f} {v:.4g}" for f, v in worst_features) or "no feature differs"
    return [
        f"  online skew: {_rate(last['skew_rate'])} {last['skew_status']} ({last['skew_mismatches']} of "
        f"{last['skew_compared']} values in {last['sampled']} entities; {detail})",
        f"  online coverage: {_rate(last['coverage'])} {last['coverage_status'] or ''} "
        f"({last['coverage_present']} of {last['coverage_sampled']} entities within the TTL)",
        f"  skew over the last {len(history)} run(s), oldest first: "
        + " -> ".join(_rate(h["skew_rate"]) for h in history),
    ]


@monitor.command(name="report")
@click.option("--view", default=None, help="One view (default: every monitored view).")
@click.option(
    "--html", "html_path", required=True, type=click.Path(dir_okay=False), help="The HTML file to write."
)
@pass_app
def report(app: AppContext, view: str | None, html_path: str) -> None:
    """Write one self-contained HTML report (no network needed to open it): reference vs current
    histograms of drifting features, drift and null rate per day, freshness per view."""
    from featurelake.monitoring.report import load_report, render_html

    data = load_report(app.settings, view=view)
    path = Path(html_path)
    path.write_text(render_html(data), encoding="utf-8")
    click.echo(f"wrote {path} ({len(data.views)} view(s))")
