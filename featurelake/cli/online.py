"""``featurelake online``: look up online features, check them against offline, estimate memory."""

from __future__ import annotations

import json
from typing import Any

import click

from featurelake.cli.context import AppContext, emit, output_option, pass_app
from featurelake.errors import ConfigError


@click.group(name="online")
def online() -> None:
    """Online store (Redis cluster) lookups and checks."""


def _parse_entity(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ConfigError(f"--entity {text!r} is not KEY=VALUE; write e.g. --entity user_id=1001")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


@online.command(name="get")
@click.option("--feature", "features", multiple=True, help="view:feature (repeatable).")
@click.option("--service", default=None, help="A feature service (instead of --feature).")
@click.option(
    "--entity", "entities", multiple=True, required=True, help="KEY=VALUE of the entity row (repeatable)."
)
@click.option("--full-feature-names", is_flag=True)
@output_option
@pass_app
def get(
    app: AppContext,
    features: tuple[str, ...],
    service: str | None,
    entities: tuple[str, ...],
    full_feature_names: bool,
    output: str,
) -> None:
    """Look up features for one entity row, with a status per value."""
    from featurelake.jobs.online import connect, load_catalog
    from featurelake.registry.writer import open_registry

    if bool(features) == bool(service):
        raise ConfigError(
            "give --feature VIEW:FEATURE (repeatable) or --service NAME, not both or neither; "
            "e.g. --feature user_profile:account_age_days"
        )
    row = dict(_parse_entity(e) for e in entities)
    settings = app.settings
    registry = open_registry(settings.registry_url, create=False)
    try:
        catalog = load_catalog(settings, registry=registry)
    finally:
        registry.dispose()
    sdk = connect(settings, catalog)
    resp = sdk.get_online_features(
        entity_rows=[row],
        features=list(features) or None,
        feature_service=service,
        full_feature_names=full_feature_names,
    )
    data = [
        {"name": n, "value": v[0], "status": s[0].value, "event_timestamp": t[0]}
        for n, v, s, t in zip(resp.names, resp.values, resp.statuses, resp.event_timestamps, strict=True)
    ]

    def text(console) -> None:
        for d in data:
            color = "green" if d["status"] == "PRESENT" else "yellow"
            console.print(f"{d['name']:<32} {d['value']!r:<24} [{color}]{d['status']}[/{color}]")

    emit(data, output, text)


def _spark_and_stores(app: AppContext) -> tuple[Any, Any, Any]:
    from featurelake.lakehouse.spark import build_spark_session
    from featurelake.lakehouse.tables import Lakehouse
    from featurelake.registry.writer import open_registry

    settings = app.settings
    registry = open_registry(settings.registry_url, create=False)
    lakehouse = Lakehouse(settings.storage_root, settings.storage.storage_options())
    spark = build_spark_session(
        app_name="featurelake-online", master=settings.spark.master, conf=settings.spark.conf
    )
    return spark, registry, lakehouse


@online.command(name="check")
@click.option("--view", required=True, help="The feature view.")
@click.option(
    "--sample", default=1000, show_default=True, type=click.IntRange(min=1), help="Entities to compare."
)
@click.option("--seed", default=0, show_default=True, type=int)
@output_option
@pass_app
def check(app: AppContext, view: str, sample: int, seed: int, output: str) -> None:
    """Compare online values with the offline latest-as-of-now values; exit 4 on mismatches."""
    from featurelake.jobs.online import check_online

    spark, registry, lakehouse = _spark_and_stores(app)
    try:
        report = check_online(
            spark,
            settings=app.settings,
            registry=registry,
            lakehouse=lakehouse,
            view=view,
            sample=sample,
            seed=seed,
        )
    finally:
        registry.dispose()
    data = {
        "view": report.view,
        "sampled_entities": report.sampled,
        "compared_values": report.compared_values,
        "mismatches": report.mismatches,
        "mismatch_rate": report.mismatch_rate,
        "by_feature": {
            f: {"compared": c.compared, "mismatches": c.mismatches, "mismatch_rate": c.mismatch_rate}
            for f, c in report.by_feature.items()
        },
        "examples": report.examples,
    }

    def text(console) -> None:
        color = "green" if report.mismatches == 0 else "red"
        console.print(
            f"{view}: {report.sampled} entities, {report.compared_values} values compared, "
            f"[{color}]{report.mismatches} mismatches ({report.mismatch_rate:.2%})[/{color}]"
        )
        for ex in report.examples:
            console.print(f"  {ex}")

    emit(data, output, text)
    if report.mismatches:
        raise SystemExit(4)  # a failed check (jobs/entrypoint.py EXIT_CHECK_FAILED)


@online.command(name="size")
@click.option("--view", required=True, help="The feature view.")
@click.option(
    "--sample", default=1000, show_default=True, type=click.IntRange(min=1), help="Entities to sample."
)
@output_option
@pass_app
def size(app: AppContext, view: str, sample: int, output: str) -> None:
    """Estimate bytes per entity and for the whole view in Redis, from a sample."""
    from dataclasses import asdict

    from featurelake.jobs.online import estimate_online_size

    spark, registry, lakehouse = _spark_and_stores(app)
    try:
        est = estimate_online_size(
            spark, settings=app.settings, registry=registry, lakehouse=lakehouse, view=view, sample=sample
        )
    finally:
        registry.dispose()

    def text(console) -> None:
        console.print(
            f"{est.view}: {est.found}/{est.sampled} sampled entities online; {est.bytes_per_key:.0f} bytes per "
            f"entity key (whole hash), {est.view_bytes_per_entity:.0f} bytes of this view's fields; "
            f"{est.entities} entities -> ~{est.estimated_total_bytes / 1e6:.1f} MB"
        )

    emit(asdict(est), output, text)
