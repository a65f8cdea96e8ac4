"""Training sets: build, register, reproduce. Also a spark-submit entrypoint.

    spark-submit jobs/training_set.py --service fraud_detection:v2 --entities labels --name fraud_train

``create`` joins the entity rows with the service's features (featurelake.lakehouse.pit), writes the result
as its own Delta table (``training_set__<name>__<run>``), and registers a training set version
with the exact Delta version of the entity table and of every feature table, the feature list,
the row count and an order-independent checksum, plus lineage (the registry adds the edges).
Entity rows that are not already a Delta table (a DataFrame, a parquet path) are first saved as
a Delta table next to the training set, so every input is pinned.

``reproduce`` rebuilds a version from those pinned versions by time travel and compares row
count and checksum with the registered ones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import click

from featurelake.errors import ConfigError, FeatureStoreError, LakehouseError, RegistryError
from featurelake.jobs.heartbeat import Heartbeat
from featurelake.lakehouse.pit import EVENT_TS, NaiveTimestamps, PitMode
from featurelake.lakehouse.training import Checksum, checksum

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

    from featurelake.lakehouse.tables import Lakehouse
    from featurelake.registry import Registry, RegistryReader, TrainingSet

TABLE_PREFIX = "training_set__"
log = logging.getLogger("featurelake.training_set")


@dataclass(frozen=True)
class CreatedTrainingSet:
    """What ``create`` did."""

    name: str
    version: int
    table: str
    delta_version: int
    rows: int
    checksum: str
    run_id: str
    feature_tables: dict[str, int]
    entity_table: str
    entity_version: int


@dataclass(frozen=True)
class Reproduction:
    """The outcome of ``reproduce``: equal when row count and checksum match."""

    name: str
    version: int
    expected: str
    got: str

    @property
    def equal(self) -> bool:
        return self.expected == self.got


def training_table_name(name: str, run_id: str) -> str:
    """The Delta table of one training set version: immutable, one per build."""
    return f"{TABLE_PREFIX}{name}__{run_id.replace('-', '')[:12]}"


def _check_name(name: str) -> None:
    if not name or not all(c.isalnum() or c in "_-." for c in name):
        raise RegistryError(f"training set name {name!r} must be letters, digits, '_', '-' or '.'")


def check_create_request(
    registry: RegistryReader, lakehouse: Lakehouse, *, project: str, name: str, service: str, entities: str
) -> None:
    """Refuse a bad ``training-set create`` before any Spark work (about a second instead of a minute).

    Checks the name, the service reference and that the service and every view it uses exist and
    may be used for training, and that the entity rows exist (a table under the lakehouse root or
    a local Delta folder or parquet file).

    Raises:
        RegistryError: a bad name, an unknown service or an archived view.
        DefinitionError: a malformed service reference.
        ConfigError: the entity rows do not exist.
    """
    from featurelake.jobs.historical import parse_service_ref, resolve_features

    _check_name(name)
    parse_service_ref(service)
    if "://" in entities:
        pass  # an object-store path: checked when it is read
    elif "/" not in entities and not entities.startswith("."):
        if not lakehouse.exists(entities):
            raise ConfigError(
                f"entity rows {entities!r}: no table of that name under {lakehouse.root}; give a table name, "
                "a Delta folder or a parquet file"
            )
    elif not Path(entities).exists():
        raise ConfigError(
            f"entity rows {entities!r}: no such file or folder; give a table name, a Delta folder or a parquet file"
        )
    resolve_features(registry, project, feature_service=service, purpose="train")


def create_training_set(
    *,
    spark: SparkSession,
    lakehouse: Lakehouse,
    registry: Registry,
    project: str,
    name: str,
    service: str,
    entities: DataFrame | pd.DataFrame | str,
    actor: str,
    mode: PitMode = "event_time",
    timestamp_column: str = EVENT_TS,
    naive_timestamps: NaiveTimestamps = "reject",
) -> CreatedTrainingSet:
    """Build a training set for a feature service and register it with its pinned inputs.

    Args:
        spark: the Spark session.
        lakehouse: feature tables' and the training set's storage.
        registry: the registry (writer).
        project: registry project.
        name: the training set name (a new version on each call).
        service: ``"name:vN"``.
        entities: entity rows (Spark/pandas DataFrame, Delta table name or path).
        actor: who builds it.
        mode: ``"event_time"`` or ``"as_known_at"``.
        timestamp_column: the entity rows' timestamp column.
        naive_timestamps: reject or read naive timestamps as UTC.

    Returns:
        The registered version and what it pinned.

    Raises:
        FeatureStoreError: any resolution, input or storage problem; the run is recorded as failed.
    """
    from featurelake.jobs.historical import build_historical, parse_service_ref

    _check_name(name)
    parse_service_ref(service)
    params = {
        "training_set": name,
        "service": service,
        "mode": mode,
        "timestamp_column": timestamp_column,
        "entities": entities if isinstance(entities, str) else type(entities).__name__,
    }
    _sweep_leftovers(lakehouse, registry, project, name)
    run_id = registry.start_run(project, "training-set", params, actor, target=name)
    table = training_table_name(name, run_id)
    try:
        # a live build stays "running", so no other build of the name sweeps its tables
        with Heartbeat(registry, run_id):
            if not isinstance(entities, str) or "/" in entities:
                entities = _persist_entities(
                    spark,
                    lakehouse,
                    entities,
                    table + "__entities",
                    timestamp_column=timestamp_column,
                    naive_timestamps=naive_timestamps,
                )
            result = build_historical(
                entities,
                spark=spark,
                lakehouse=lakehouse,
                registry=registry,
                project=project,
                feature_service=service,
                mode=mode,
                timestamp_column=timestamp_column,
                naive_timestamps=naive_timestamps,
            )
            info = lakehouse.write(result.frame, table, mode="overwrite")
            digest = checksum(lakehouse.read(spark, table, version=info.version))
            assert_service = result.service
            if assert_service is None or result.entity.table is None or result.entity.version is None:
                raise LakehouseError(
                    "internal: the training set inputs were not pinned"
                )  # unreachable by construction
            feature_tables = [{"table": v.table, "version": v.delta_version} for v in result.views]
            entity = {"table": result.entity.table, "version": result.entity.version}
            version = registry.register_training_set(
                project,
                name,
                service=assert_service.name,
                service_version=assert_service.version,
                entity_source=entity,
                feature_tables=feature_tables,
                features=result.feature_refs,
                output={"table": table, "version": info.version},
                row_count=digest.rows,
                checksum=str(digest),
                actor=actor,
                run_id=run_id,
            )
            registry.finish_run(
                run_id,
                status="succeeded",
                rows_in=result.bounds.rows,
                rows_out=digest.rows,
                inputs=[entity, *feature_tables],
                outputs=[{"table": table, "version": info.version}],
                report={"training_set_version": version, "checksum": str(digest), "mode": mode},
            )
    except BaseException as err:
        registry.finish_run(run_id, status="failed", error=f"{type(err).__name__}: {err}")
        for staged in (table + "__entities", table):  # never registered: nobody can pin them
            try:
                lakehouse.drop(staged)
            except Exception as drop_err:  # noqa: BLE001 - report the build's error, not the cleanup's
                log.warning("could not remove %s of failed run %s: %s", staged, run_id, drop_err)
        raise
    return CreatedTrainingSet(
        name=name,
        version=version,
        table=table,
        delta_version=info.version,
        rows=digest.rows,
        checksum=str(digest),
        run_id=run_id,
        feature_tables={v.table: v.delta_version or 0 for v in result.views},
        entity_table=result.entity.table,
        entity_version=result.entity.version,
    )


def _sweep_leftovers(lakehouse: Lakehouse, registry: RegistryReader, project: str, name: str) -> None:
    """Remove the tables of earlier builds of ``name`` that were killed before they registered.

    A build's tables are ``training_set__<name>__<run>`` and ``...__entities``; those of registered
    versions are pinned inputs and outputs and stay; those of a live (running) build stay too.
    """
    prefix = f"{TABLE_PREFIX}{name}__"
    try:
        candidates = [t for t in lakehouse.list_tables() if t.startswith(prefix)]
    except FeatureStoreError as err:  # housekeeping only: the build itself goes on
        log.warning("could not list leftovers of training set %s: %s", name, err)
        return
    if not candidates:
        return
    keep = set()
    for ts in registry.list_training_sets(project, name):
        keep.update({ts.output.table, ts.entity_source.table})
    for run in registry.list_runs(project, kind="training-set", status="running", target=name, limit=1000):
        keep.update(
            {training_table_name(name, run.run_id), training_table_name(name, run.run_id) + "__entities"}
        )
    for table in candidates:
        if table not in keep:
            log.info("removing %s, left by a training-set build that never registered", table)
            try:
                lakehouse.drop(table)
            except FeatureStoreError as err:
                log.warning("could not remove %s: %s", table, err)


def _persist_entities(
    spark: SparkSession,
    lakehouse: Lakehouse,
    entities: Any,
    table: str,
    *,
    timestamp_column: str,
    naive_timestamps: NaiveTimestamps,
) -> str:
    from featurelake.jobs.historical import load_entities
    from featurelake.lakehouse.pit import normalize_timestamp_column

    frame, _ = load_entities(
        spark, lakehouse, entities, timestamp_column=timestamp_column, naive_timestamps=naive_timestamps
    )
    if timestamp_column in frame.columns:  # naive times are refused (or read as UTC) before any write
        frame = normalize_timestamp_column(frame, timestamp_column, naive_timestamps=naive_timestamps)
    lakehouse.write(frame, table, mode="overwrite")
    return table


def reproduce_training_set(
    *,
    spark: SparkSession,
    lakehouse: Lakehouse,
    registry: RegistryReader,
    project: str,
    name: str,
    version: int | None = None,
) -> Reproduction:
    """Rebuild a registered training set from its pinned Delta versions and compare checksums.

    Raises:
        RegistryError: unknown training set or version.
        LakehouseError: a pinned version is gone (vacuumed).
    """
    from featurelake.jobs.historical import build_historical

    ts = registry.get_training_set(project, name, version)
    params = registry.get_run(ts.run_id).params if ts.run_id else {}
    if ts.entity_source.version is None:
        raise LakehouseError(
            f"training set {name} v{ts.version} has no pinned entity version; it cannot be reproduced"
        )
    # Erasure requests that deleted rows of this version's inputs: a difference (or files that
    # a purge removed) is reported as theirs, not as a silent mismatch.
    erased = sorted({m.request_id for m in registry.training_set_erasures(project, name, ts.version)})
    try:
        result = build_historical(
            ts.entity_source.table,
            spark=spark,
            lakehouse=lakehouse,
            registry=registry,
            project=project,
            feature_service=f"{ts.service}:v{ts.service_version}",
            mode=params.get("mode", "event_time"),
            timestamp_column=params.get("timestamp_column", EVENT_TS),
            entity_version=ts.entity_source.version,
            pinned_versions={t.table: t.version for t in ts.feature_tables if t.version is not None},
            # A training set built before its service was archived must stay reproducible.
            purpose="reproduce",
        )
        got = checksum(result.frame)
    except Exception as err:
        if erased:
            raise _erased_error(
                name,
                ts.version,
                erased,
                f"its pinned inputs cannot be read ({str(err).strip().splitlines()[0][:300]})",
            ) from err
        raise
    if erased and str(got) != ts.checksum:
        raise _erased_error(name, ts.version, erased, f"the rebuild gives {got}, registered {ts.checksum}")
    return Reproduction(name=name, version=ts.version, expected=ts.checksum, got=str(got))


def _erased_error(name: str, version: int, requests: list[str], what: str) -> LakehouseError:
    return LakehouseError(
        f"training set {name} v{version} cannot be reproduced because of erasure request(s) "
        f"{', '.join(requests)}: {what}; see `featurelake erase status REQUEST`, and use a newer version "
        "written without the erased entities (`featurelake erase ... --rewrite-training-sets`)"
    )


def training_set_table(
    registry: RegistryReader, project: str, name: str, version: int | None = None
) -> TrainingSet:
    """The registered training set version (its ``output`` is the table and Delta version to read)."""
    return registry.get_training_set(project, name, version)


def read_training_set(
    *,
    lakehouse: Lakehouse,
    registry: RegistryReader,
    project: str,
    name: str,
    version: int | None = None,
    as_: Literal["arrow", "pandas", "spark"] = "arrow",
    spark: SparkSession | None = None,
    columns: Sequence[str] | None = None,
) -> Any:
    """Read a training set by name, at the exact Delta version registered for it.

    The snapshot is immutable: the same name and version return the same rows however the
    feature tables moved on since (a training set is its own table, written once).

    Args:
        lakehouse: where the training set's table lives.
        registry: the registry that holds the training set.
        project: registry project.
        name: the training set name.
        version: training set version (default: the newest).
        as_: ``"arrow"`` (a ``pyarrow.Table``) and ``"pandas"`` (tz-aware UTC timestamps) read
            with delta-rs, no JVM; ``"spark"`` returns a Spark DataFrame and needs ``spark``.
        spark: the Spark session (only for ``as_="spark"``).
        columns: read only these columns (default: all).

    Returns:
        A ``pyarrow.Table``, a ``pandas.DataFrame`` or a Spark ``DataFrame``.

    Raises:
        RegistryError: unknown training set or version.
        LakehouseError: the table or its version is gone (vacuumed), or ``as_="spark"`` without ``spark``.
    """
    from featurelake.lakehouse.training import read_snapshot_arrow

    ts = registry.get_training_set(project, name, version)
    table, delta_version = ts.output.table, ts.output.version
    if delta_version is None:
        raise LakehouseError(
            f"training set {name} v{ts.version} has no pinned Delta version; rebuild it with "
            "`featurelake training-set create`"
        )
    if as_ == "spark":
        if spark is None:
            raise LakehouseError(f"read_training_set({name!r}, as_='spark') needs spark=<SparkSession>")
        frame = lakehouse.read(spark, table, version=delta_version)
        return frame.select(*columns) if columns else frame
    if as_ not in ("arrow", "pandas"):
        raise LakehouseError(f"as_={as_!r} is not one of 'arrow', 'pandas', 'spark'")
    arrow = read_snapshot_arrow(lakehouse, table, delta_version, columns=columns)
    return arrow if as_ == "arrow" else arrow.to_pandas()


def create_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The options shared by ``featurelake training-set create`` and ``spark-submit jobs/training_set.py``."""
    decorators = [
        click.option(
            "--service", required=True, help="Feature service NAME:VERSION, e.g. fraud_detection:v2."
        ),
        click.option(
            "--entities",
            required=True,
            help="Entity rows: a Delta table name, a Delta folder or a parquet path.",
        ),
        click.option("--name", required=True, help="Training set name (each create adds a version)."),
        click.option(
            "--mode",
            type=click.Choice(["event_time", "as_known_at"]),
            default="event_time",
            show_default=True,
            help="as_known_at also requires created_timestamp <= the entity timestamp (no backfill leakage).",
        ),
        click.option(
            "--timestamp-column",
            default=EVENT_TS,
            show_default=True,
            help="The entity rows' timestamp column.",
        ),
        click.option(
            "--naive-timestamps",
            type=click.Choice(["reject", "utc"]),
            default="reject",
            show_default=True,
            help="Timestamps without a time zone: refuse them (they are ambiguous), or read them as UTC.",
        ),
    ]
    for decorator in reversed(decorators):
        fn = decorator(fn)
    return fn


@click.command(name="training_set.py", context_settings={"help_option_names": ["-h", "--help"]})
@create_options
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="featurelake.yaml (default: $FEATURELAKE_CONFIG or ./featurelake.yaml).",
)
@click.option("--actor", default=None, help="Who runs it (default: $FEATURELAKE_ACTOR, then the OS user).")
def submit_main(
    service: str,
    entities: str,
    name: str,
    mode: PitMode,
    timestamp_column: str,
    naive_timestamps: str,
    config_path: str | None,
    actor: str | None,
) -> None:
    """spark-submit entry point: build a point-in-time training set and register it."""
    from featurelake.actor import resolve_actor
    from featurelake.config.settings import load_settings
    from featurelake.jobs.wiring import lakehouse_from_settings, open_job_registry, submit_master
    from featurelake.lakehouse.spark import build_spark_session

    settings = load_settings(config_path)
    registry = open_job_registry(settings)
    lakehouse = lakehouse_from_settings(settings)
    check_create_request(
        registry, lakehouse, project=settings.project, name=name, service=service, entities=entities
    )  # bad input fails here, before Spark starts
    spark = build_spark_session(
        app_name=f"featurelake-training-set-{name}", master=submit_master(settings), conf=settings.spark.conf
    )
    try:
        created = create_training_set(
            spark=spark,
            lakehouse=lakehouse,
            registry=registry,
            project=settings.project,
            name=name,
            service=service,
            entities=entities,
            actor=resolve_actor(actor),
            mode=mode,
            timestamp_column=timestamp_column,
            naive_timestamps=naive_timestamps,  # type: ignore[arg-type]
        )
    finally:
        spark.stop()
    click.echo(
        f"training set {created.name} v{created.version}: {created.rows} rows, table {created.table}@"
        f"{created.delta_version}, checksum {created.checksum}"
    )


def main(argv: list[str] | None = None) -> None:
    """Run the spark-submit entry point with the CLI's error handling (one red line, exit 1)."""
    from featurelake.jobs.entrypoint import run_click_entrypoint

    run_click_entrypoint(submit_main, argv, prog_name="training_set.py")


__all__ = [
    "Checksum",
    "CreatedTrainingSet",
    "Reproduction",
    "create_training_set",
    "read_training_set",
    "reproduce_training_set",
]


if __name__ == "__main__":
    main()
