"""Training sets (pinned Delta versions) and the models trained on them, with their lineage."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, insert, select

from featurelake.errors import RegistryError
from featurelake.registry.models import ModelRow, TrainingSetRow
from featurelake.registry.stores import audit, lineage
from featurelake.registry.stores.projects import as_utc, find_project_id, now, project_id
from featurelake.registry.types import Node, TableVersion, TrainingSet


def register(
    conn: Connection,
    *,
    project: str,
    name: str,
    service: str,
    service_version: int,
    entity_source: TableVersion | dict[str, Any],
    feature_tables: list[TableVersion | dict[str, Any]],
    features: list[str],
    output: TableVersion | dict[str, Any],
    row_count: int,
    checksum: str,
    actor: str,
    run_id: str | None,
) -> int:
    """Insert the next version of a training set and its lineage edges; returns the version."""
    if not name:
        raise RegistryError("a training set needs a name")
    pid = project_id(conn, project, create=True)
    version = (
        conn.execute(
            select(func.coalesce(func.max(TrainingSetRow.version), 0)).where(
                TrainingSetRow.project_id == pid, TrainingSetRow.name == name
            )
        ).scalar_one()
        + 1
    )
    entity = TableVersion.parse(entity_source)
    tables = [TableVersion.parse(t) for t in feature_tables]
    out = TableVersion.parse(output)
    values = dict(
        project_id=pid,
        name=name,
        version=version,
        service=service,
        service_version=service_version,
        entity_source=entity.as_dict(),
        feature_tables=[t.as_dict() for t in tables],
        features=list(features),
        output=out.as_dict(),
        row_count=row_count,
        checksum=checksum,
        run_id=run_id,
        created_by=actor,
        created_at=now(),
    )
    conn.execute(insert(TrainingSetRow).values(**values))
    node = Node.training_set(name, version)
    lineage.add_edge(
        conn, project=project, src=Node.data_source(entity.table, entity.version), dst=node, run_id=run_id
    )
    for t in tables:
        lineage.add_edge(
            conn, project=project, src=Node.delta_output(t.table, t.version or 0), dst=node, run_id=run_id
        )
    lineage.add_edge(
        conn,
        project=project,
        src=Node.feature_service_version(service, service_version),
        dst=node,
        run_id=run_id,
    )
    audit.record(
        conn,
        project=project,
        actor=actor,
        action="training_set.register",
        object_type="training_set",
        object_key=f"{name}@{version}",
        after={k: v for k, v in values.items() if k != "project_id"},
    )
    return version


def _to_training_set(project: str, r: TrainingSetRow) -> TrainingSet:
    return TrainingSet(
        project=project,
        name=r.name,
        version=r.version,
        service=r.service,
        service_version=r.service_version,
        entity_source=TableVersion.parse(r.entity_source),
        feature_tables=tuple(TableVersion.parse(t) for t in r.feature_tables),
        features=tuple(r.features),
        output=TableVersion.parse(r.output),
        row_count=r.row_count,
        checksum=r.checksum,
        created_by=r.created_by,
        created_at=as_utc(r.created_at),  # type: ignore[arg-type]
        run_id=r.run_id,
    )


def get(conn: Connection, project: str, name: str, version: int | None = None) -> TrainingSet:
    """A training set version (None = newest)."""
    pid = find_project_id(conn, project)
    query = select(TrainingSetRow).where(TrainingSetRow.project_id == pid, TrainingSetRow.name == name)
    if version is not None:
        query = query.where(TrainingSetRow.version == version)
    row = conn.execute(query.order_by(TrainingSetRow.version.desc()).limit(1)).first()
    if row is None:
        what = f"training set {name!r}" + ("" if version is None else f" version {version}")
        raise RegistryError(
            f"{what} is not in project {project!r}; see `featurelake registry list --kind training-set`"
        )
    return _to_training_set(project, row)


def list_all(conn: Connection, project: str, name: str | None = None) -> list[TrainingSet]:
    """Training sets (every version), newest first."""
    pid = find_project_id(conn, project)
    if pid is None:
        return []
    query = select(TrainingSetRow).where(TrainingSetRow.project_id == pid)
    if name is not None:
        query = query.where(TrainingSetRow.name == name)
    rows = conn.execute(query.order_by(TrainingSetRow.name, TrainingSetRow.version.desc()))
    return [_to_training_set(project, r) for r in rows]


def register_model(
    conn: Connection,
    *,
    project: str,
    name: str,
    uri: str,
    training_set: str,
    training_set_version: int,
    actor: str,
    run_id: str | None,
) -> None:
    """Record a model trained on a training set version (a lineage leaf)."""
    get(conn, project, training_set, training_set_version)  # must exist
    pid = project_id(conn, project, create=True)
    existing = conn.execute(
        select(ModelRow.id).where(ModelRow.project_id == pid, ModelRow.name == name)
    ).scalar()
    if existing is not None:
        raise RegistryError(
            f"model {name!r} is already registered; give the new model a distinct name or URI"
        )
    conn.execute(
        insert(ModelRow).values(
            project_id=pid,
            name=name,
            uri=uri,
            training_set=training_set,
            training_set_version=training_set_version,
            run_id=run_id,
            created_by=actor,
            created_at=now(),
        )
    )
    lineage.add_edge(
        conn,
        project=project,
        src=Node.training_set(training_set, training_set_version),
        dst=Node.model(name),
        run_id=run_id,
    )
    audit.record(
        conn,
        project=project,
        actor=actor,
        action="model.register",
        object_type="model",
        object_key=name,
        after={"uri": uri, "training_set": f"{training_set}@{training_set_version}"},
    )
