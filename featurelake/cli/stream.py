"""``featurelake stream run | start | status | stop`` and ``featurelake push``: streaming feature views.

``stream run`` runs :mod:`featurelake.jobs.stream` in this process (``spark-submit
jobs/stream.py`` runs the same job on a cluster); ``push`` appends rows to a view's event log.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from featurelake.cli.context import AppContext, emit, output_option, pass_app


@click.group(name="stream")
def stream() -> None:
    """Stream feature views: windowed aggregations into Delta and Redis, exactly once."""


_OPTIONS = [
    click.option("--view", required=True, help="The aggregation feature view to stream."),
    click.option(
        "--source",
        type=click.Choice(["delta", "redis", "kafka"]),
        default="delta",
        show_default=True,
        help="delta: the view's source table's log; redis: its event log (featurelake push); kafka: Spark's Kafka "
        "source (needs the spark-sql-kafka jars, not installed here).",
    ),
    click.option(
        "--checkpoint", default=None, help="Spark checkpoint folder (default: one per view under the home)."
    ),
    click.option("--trigger", default="5s", show_default=True, help="Micro-batch interval."),
    click.option(
        "--available-now",
        "--once",
        "available_now",
        is_flag=True,
        help="Process what is available (and close the windows the watermark passed), then stop.",
    ),
    click.option(
        "--watermark",
        default=None,
        help="How late events may arrive (default: the view's ViewSpec.watermark, else 10m).",
    ),
    click.option(
        "--max-per-trigger",
        type=click.IntRange(min=1),
        default=None,
        help="Delta versions / entries per batch.",
    ),
    click.option("--no-online", is_flag=True, help="Write the Delta table only, not Redis."),
    click.option("--version", default=None, help="View version (default: the active one)."),
    click.option("--kafka-bootstrap", default=None, help="Kafka bootstrap servers (--source kafka)."),
    click.option("--kafka-topic", default=None, help="Kafka topic (--source kafka)."),
    click.option("--master", default=None, help="Spark master URL (default: the settings' spark.master)."),
]


def _options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The job's options, shared by ``stream run`` and ``stream start``."""
    for option in reversed(_OPTIONS):
        fn = option(fn)
    return fn


@stream.command(name="run")
@_options
@pass_app
def run(app: AppContext, master: str | None, **kw: Any) -> None:
    """Run VIEW's stream until it drains (--available-now) or `featurelake stream stop`."""
    import argparse

    from featurelake.jobs.stream import describe, options_from_args, preflight, run_stream
    from featurelake.lakehouse.spark import build_spark_session

    options = options_from_args(argparse.Namespace(**kw))
    settings = app.settings
    preflight(settings, options, actor=app.actor)  # refusals before the JVM starts
    spark = build_spark_session(
        app_name=f"featurelake-stream-{options.view}",
        master=master or settings.spark.master,
        conf=settings.spark.conf,
    )
    click.echo(describe(run_stream(spark, settings, options, actor=app.actor)))


@stream.command(name="start")
@_options
@pass_app
def start(app: AppContext, master: str | None, **kw: Any) -> None:
    """Start VIEW's stream in the background (the same job as `stream run`); its log is in the stream folder."""
    import argparse
    import subprocess
    import sys
    import time

    from featurelake.jobs.stream import options_from_args, preflight
    from featurelake.jobs.stream_plan import stream_dir

    preflight(app.settings, options_from_args(argparse.Namespace(**kw)), actor=app.actor)
    folder = stream_dir(app.settings, kw["view"])
    folder.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "featurelake.jobs.stream", "--actor", app.actor]
    if app.config_path:
        argv += ["--config", app.config_path]
    for name, value in kw.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value not in (None, False):
            argv += [flag, str(value)]
    env = None
    if master:
        import os

        env = {**os.environ, "FEATURELAKE_SPARK_MASTER": master}
    log = folder / "stream.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=out, start_new_session=True, env=env)
    time.sleep(3)  # bad options and refusals end at once: report them here
    if proc.poll() is not None and proc.returncode != 0:
        from featurelake.errors import ConfigError

        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        raise ConfigError(
            f"the stream of {kw['view']} did not start (exit {proc.returncode}): {' '.join(tail)}"
        )
    click.echo(
        f"started the stream of {kw['view']} (pid {proc.pid}); log {log}; `featurelake stream status --view {kw['view']}`"
    )


@stream.command(name="status")
@click.option("--view", required=True, help="The streamed view.")
@output_option
@pass_app
def status(app: AppContext, view: str, output: str) -> None:
    """The last status of VIEW's stream: state, batch, rows, lag, throughput, late rows dropped."""
    from featurelake.errors import ConfigError
    from featurelake.jobs.stream_plan import read_status

    found = read_status(app.settings, view)
    if found is None:
        raise ConfigError(
            f"no stream of view {view!r} has run from this home; start one with `featurelake stream run`"
        )
    last = found.get("last_batch") or {}
    offsets = found.get("source_offsets") or [{}]
    line = (
        f"{view}: {found['state']} (run {found['run_id']}, pid {found['pid']}); {found['batches']} batch(es), "
        f"last batch {last.get('batch_id')} -> Delta {last.get('delta_version')}; {found['rows_written']} row(s); "
        f"offsets {json.dumps(offsets[0].get('end'))} of latest {json.dumps(offsets[0].get('latest'))}; "
        f"{found.get('processed_rows_per_second') or 0:.1f} rows/s; watermark {found.get('watermark')} "
        f"(delay {found.get('watermark_delay_seconds')}s); "
        f"{found['late_rows_dropped']} late row(s) dropped; updated {found['updated_at']}"
    )
    emit(found, output, lambda console: console.print(line, markup=False))


@stream.command(name="stop")
@click.option("--view", required=True, help="The streamed view.")
@pass_app
def stop(app: AppContext, view: str) -> None:
    """Ask VIEW's running stream (started from this home) to stop after its current batch."""
    from featurelake.jobs.stream import request_stop

    running = request_stop(app.settings, view)
    click.echo(
        f"asked the stream of {view} to stop" + ("" if running else " (its last status is not running)")
    )


@click.command(name="push")
@click.option("--view", required=True, help="The stream feature view whose event log gets the rows.")
@click.option("--file", "path", required=True, help="Rows: a parquet, CSV or JSON-lines file of raw events.")
@click.option(
    "--to",
    type=click.Choice(["online", "offline", "online_and_offline"]),
    default="online_and_offline",
    show_default=True,
    help="Feast's push mode (accepted; the stream always writes both sinks).",
)
@output_option
@pass_app
def push(app: AppContext, view: str, path: str, to: str, output: str) -> None:
    """Append the rows of FILE to VIEW's event log (checked against its event schema first)."""
    from featurelake.jobs.push import Pusher, read_rows_file
    from featurelake.registry.writer import open_registry

    table = read_rows_file(path)
    registry = open_registry(app.settings.registry_url, create=False)
    pusher = Pusher(app.settings, registry)
    try:
        result = pusher.push(view, table, to=to)
    finally:
        pusher.close()
        registry.dispose()
    line = f"pushed {result.rows} row(s) to the event log of {view} ({result.key}, ids {result.first_id}..{result.last_id})"
    emit(result.__dict__, output, lambda console: console.print(line, markup=False))
