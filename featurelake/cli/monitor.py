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
    """Feature health: profiles, drift against a reference, freshness."""


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
    master: str | None,
    output: str,
) -> None:
    """Profile VIEW's new or changed days, compare them with the reference, check freshness.

    Days already profiled at an unchanged Delta version are not read again. Every check's
    outcome is recorded in the registry (`featurelake monitor status`).
    """
    from featurelake.jobs.monitor import MonitorOptions, monitor_view, parse_day, summary_lines
    from featurelake.jobs.wiring import lakehouse_from_settings
    from featurelake.lakehouse.spark import build_spark_session
    from featurelake.registry import open_registry

    options = MonitorOptions(
        view=view,
        start=parse_day(start, option="--start"),
        end=parse_day(end, option="--end"),
        reference=reference,
        version=version,
    )
    settings = app.settings
    registry = open_registry(settings.registry_url, create=False)
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
@output_option
@pass_app
@click.pass_context
def status(ctx: click.Context, app: AppContext, view: str | None, output: str) -> None:
    """The outcome of each view's latest monitor run and its non-ok checks (exit code as for `run`)."""
    from featurelake.errors import MonitorError
    from featurelake.jobs.monitor import EXIT_CODES
    from featurelake.monitors import worst
    from featurelake.registry import open_registry

    settings = app.settings
    registry = open_registry(settings.registry_url, create=False)
    try:
        checks = registry.monitor_checks(settings.project, view=view, latest_run=True)
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
                console.print(
                    escape(
                        f"  {c['status']:<4} {c['feature'] or '(view)'} {c['metric']} {c['day'] or 'window'} = {value}"
                    )
                )

    emit(data, output, text)
    ctx.exit(EXIT_CODES[worst([d["outcome"] for d in data])])


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
