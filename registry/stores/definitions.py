"""Plan and apply a repo's definitions: validation, version rules, one transaction per apply."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from featurelake.errors import DefinitionError
from featurelake.registry.models import DataSourceRow, EntityRow, FeatureServiceRow, FeatureViewRow
from featurelake.registry.stores import audit, services, views
from featurelake.registry.stores.projects import find_project_id, lock_project, now, project_id
from featurelake.registry.types import Change, Definitions, Plan, Status
from featurelake.registry.versioning import (
    canonical_entity,
    canonical_service,
    canonical_source,
    canonical_view,
    classify,
    definition_hash,
)


def validate(defs: Definitions) -> None:
    """Check a repo's definitions as a whole, collecting every problem.

    Raises:
        DefinitionError: listing every problem (object, what is wrong, how to fix).
    """
    problems: list[str] = []
    for kind, names in (
        ("entity", [e.name for e in defs.entities]),
        ("data source", [s.name for s in defs.sources]),
        ("feature view", [v.name for v in defs.views]),
        ("feature service", [s.name for s in defs.services]),
    ):
        for name, count in Counter(names).items():
            if count > 1:
                problems.append(
                    f"{kind} name {name!r} is defined {count} times; give each {kind} a unique name"
                )
        for name in names:
            if not name or not name.strip():
                problems.append(f"a {kind} has an empty name; give it a name")
    entity_names = {e.name for e in defs.entities}
    source_names = {s.name for s in defs.sources}
    view_features = {v.name: {f.name for f in v.features} for v in defs.views}
    for entity in defs.entities:
        if not entity.join_keys:
            problems.append(f"entity {entity.name!r} has no join key; set join_keys=[...]")
    for view in defs.views:
        for entity in view.entities:
            if entity not in entity_names:
                problems.append(
                    f"feature view {view.name!r} uses unknown entity {entity!r}; define Entity(name={entity!r}, ...) "
                    f"or use one of: {', '.join(sorted(entity_names)) or '(no entities defined)'}"
                )
        if view.source and defs.sources and view.source not in source_names:
            problems.append(
                f"feature view {view.name!r} reads unknown data source {view.source!r}; define it or use one of: "
                f"{', '.join(sorted(source_names))}"
            )
        for name, count in Counter(f.name for f in view.features).items():
            if count > 1:
                problems.append(
                    f"feature view {view.name!r} declares feature {name!r} {count} times; keep one"
                )
        if view.ttl.total_seconds() < 0:
            problems.append(
                f"feature view {view.name!r} has a negative ttl {view.ttl}; use a positive timedelta"
            )
    for service in defs.services:
        for view_name, features in service.features:
            if view_name not in view_features:
                problems.append(
                    f"feature service {service.name!r} uses unknown feature view {view_name!r}; define it or remove it "
                    "from the service"
                )
                continue
            for feature in features:
                if feature not in view_features[view_name]:
                    problems.append(
                        f"feature service {service.name!r} names feature {feature!r} which feature view {view_name!r} "
                        f"does not have (it has: {', '.join(sorted(view_features[view_name])) or 'none'}); fix the name"
                    )
    if problems:
        raise DefinitionError(problems)


@dataclass
class _ViewStep:
    name: str
    kind: str  # added | minor | breaking | unchanged
    canonical: dict[str, Any]
    digest: str
    major: int
    minor: int
    reasons: list[str]
    from_version: str | None
    restore: bool


def _plan_views(conn: Connection, project: str, defs: Definitions) -> list[_ViewStep]:
    entities = {e.name: e for e in defs.entities}
    steps = []
    for view in defs.views:
        canonical = canonical_view(view, entities)
        digest = definition_hash(canonical)
        vid = views.view_id(conn, project, view.name)
        newest = views.newest_row(conn, vid) if vid is not None else None
        if newest is None:
            steps.append(
                _ViewStep(view.name, "added", canonical, digest, 1, 0, ["new feature view"], None, False)
            )
            continue
        removed = conn.execute(select(FeatureViewRow.removed_at).where(FeatureViewRow.id == vid)).scalar()
        old = f"{newest.major}.{newest.minor}"
        kind, reasons = classify(newest.definition, canonical)
        if kind == "unchanged":
            steps.append(
                _ViewStep(
                    view.name,
                    "unchanged",
                    canonical,
                    digest,
                    newest.major,
                    newest.minor,
                    [],
                    old,
                    removed is not None,
                )
            )
        elif kind == "minor":
            steps.append(
                _ViewStep(
                    view.name,
                    "minor",
                    canonical,
                    digest,
                    newest.major,
                    newest.minor + 1,
                    reasons,
                    old,
                    removed is not None,
                )
            )
        else:
            major = views.max_major(conn, vid) + 1
            steps.append(
                _ViewStep(
                    view.name, "breaking", canonical, digest, major, 0, reasons, old, removed is not None
                )
            )
    return steps


def _plan_simple(
    conn: Connection, project: str, defs: Definitions
) -> list[tuple[str, str, str, dict[str, Any], str]]:
    """(object_type, name, kind, canonical, digest) for entities and sources."""
    pid = find_project_id(conn, project)
    out = []
    for object_type, row_type, items, canon in (
        ("entity", EntityRow, defs.entities, canonical_entity),
        ("source", DataSourceRow, defs.sources, canonical_source),
    ):
        existing = {}
        if pid is not None:
            existing = {
                r.name: r
                for r in conn.execute(select(row_type).where(row_type.project_id == pid))  # type: ignore[attr-defined]
            }
        for item in items:
            canonical = canon(item)  # type: ignore[operator]
            digest = definition_hash(canonical)
            row = existing.get(item.name)
            if row is None:
                kind = "added"
            elif row.definition_hash != digest or row.removed_at is not None:
                kind = "minor"
            else:
                kind = "unchanged"
            out.append((object_type, item.name, kind, canonical, digest))
    return out


def _removed(conn: Connection, project: str, defs: Definitions) -> list[tuple[str, Any, str]]:
    pid = find_project_id(conn, project)
    if pid is None:
        return []
    out = []
    for object_type, row_type, names in (
        ("entity", EntityRow, {e.name for e in defs.entities}),
        ("source", DataSourceRow, {s.name for s in defs.sources}),
        ("view", FeatureViewRow, {v.name for v in defs.views}),
        ("service", FeatureServiceRow, {s.name for s in defs.services}),
    ):
        for row in conn.execute(
            select(row_type).where(row_type.project_id == pid, row_type.removed_at.is_(None))  # type: ignore[attr-defined]
        ):
            if row.name not in names:
                out.append((object_type, row_type, row.name))
    return out


def _plan_services(
    conn: Connection, project: str, defs: Definitions, view_steps: list[_ViewStep]
) -> list[tuple[str, str, dict[str, Any], str, int, str | None, list[str]]]:
    majors = {s.name: s.major for s in view_steps}
    out = []
    for service in defs.services:
        canonical = canonical_service(service, majors)
        digest = definition_hash(canonical)
        sid = services.service_id(conn, project, service.name)
        newest = services.newest_row(conn, sid) if sid is not None else None
        if newest is None:
            out.append((service.name, "added", canonical, digest, 1, None, ["new feature service"]))
            continue
        if newest.definition_hash == digest:
            out.append(
                (service.name, "unchanged", canonical, digest, newest.version, str(newest.version), [])
            )
            continue
        old = services.get_service_version(conn, project, service.name, newest.version)
        old_pairs = {(g.view, g.view_major, f) for g in old.views for f in g.features}
        new_pairs = {(g["view"], g["view_major"], f) for g in canonical["features"] for f in g["features"]}
        lost = old_pairs - new_pairs
        kind = "breaking" if lost else "minor"
        reasons = [f"no longer serves {v}@v{m}:{f}" for v, m, f in sorted(lost)] + [
            f"adds {v}@v{m}:{f}" for v, m, f in sorted(new_pairs - old_pairs)
        ]
        out.append(
            (
                service.name,
                kind,
                canonical,
                digest,
                newest.version + 1,
                str(newest.version),
                reasons or ["metadata changed"],
            )
        )
    return out


def plan(conn: Connection, project: str, defs: Definitions) -> Plan:
    """What :func:`apply` would do, without writing.

    Raises:
        DefinitionError: the definitions have problems (all of them listed).
    """
    validate(defs)
    changes: list[Change] = []
    for object_type, name, kind, _, _ in _plan_simple(conn, project, defs):
        changes.append(Change(object_type, name, kind, None, None))  # type: ignore[arg-type]
    view_steps = _plan_views(conn, project, defs)
    for s in view_steps:
        to = f"{s.major}.{s.minor}"
        changes.append(Change("view", s.name, s.kind, s.from_version, to, tuple(s.reasons)))  # type: ignore[arg-type]
    for name, kind, _, _, version, old, reasons in _plan_services(conn, project, defs, view_steps):
        changes.append(Change("service", name, kind, old, str(version), tuple(reasons)))  # type: ignore[arg-type]
    for object_type, _, name in _removed(conn, project, defs):
        changes.append(Change(object_type, name, "removed", None, None))  # type: ignore[arg-type]
    return Plan(project, tuple(changes))


def apply(
    conn: Connection, project: str, defs: Definitions, *, actor: str, status: Status = "active"
) -> Plan:
    """Write the definitions in the caller's transaction; returns what was done.

    Raises:
        DefinitionError: the definitions have problems (nothing is written).
    """
    lock_project(conn, project)  # the plan below stays true until this transaction commits
    result = plan(conn, project, defs)
    at = now()
    pid = project_id(conn, project, create=True)
    for object_type, name, kind, canonical, digest in _plan_simple(conn, project, defs):
        if kind == "unchanged":
            continue
        row_type = EntityRow if object_type == "entity" else DataSourceRow
        values = {k: v for k, v in canonical.items() if k != "name"}
        if object_type == "entity":
            values = {
                "join_keys": canonical["join_keys"],
                "description": canonical["description"],
                "owner": canonical["owner"],
                "tags": canonical["tags"],
            }
        before = None
        if kind == "added":
            conn.execute(
                insert(row_type).values(
                    project_id=pid,
                    name=name,
                    definition_hash=digest,
                    created_at=at,
                    updated_at=at,
                    removed_at=None,
                    **values,
                )
            )
        else:
            old = conn.execute(
                select(row_type).where(row_type.project_id == pid, row_type.name == name)
            ).one()
            before = {"definition_hash": old.definition_hash, "removed_at": old.removed_at}
            conn.execute(
                update(row_type)
                .where(row_type.id == old.id)
                .values(definition_hash=digest, updated_at=at, removed_at=None, **values)
            )
        audit.record(
            conn,
            project=project,
            actor=actor,
            action=f"{object_type}.{'add' if kind == 'added' else 'update'}",
            object_type=object_type,
            object_key=name,
            before=before,
            after=canonical,
        )

    view_ids: dict[str, int] = {}
    for step in _plan_views(conn, project, defs):
        vid = views.view_id(conn, project, step.name)
        if vid is None:
            vid = conn.execute(
                insert(FeatureViewRow)
                .values(project_id=pid, name=step.name, created_at=at)
                .returning(FeatureViewRow.id)
            ).scalar_one()
            audit.record(
                conn,
                project=project,
                actor=actor,
                action="view.add",
                object_type="view",
                object_key=step.name,
            )
        view_ids[step.name] = vid
        if step.restore:
            conn.execute(update(FeatureViewRow).where(FeatureViewRow.id == vid).values(removed_at=None))
            audit.record(
                conn,
                project=project,
                actor=actor,
                action="view.restore",
                object_type="view",
                object_key=step.name,
            )
        if step.kind == "unchanged":
            continue
        change = {"added": "initial", "minor": "minor", "breaking": "breaking"}[step.kind]
        views.insert_version(
            conn,
            vid=vid,
            view=step.name,
            major=step.major,
            minor=step.minor,
            status=status,
            change=change,
            canonical=step.canonical,
            digest=step.digest,
            actor=actor,
            at=at,
        )
        audit.record(
            conn,
            project=project,
            actor=actor,
            action="view_version.create",
            object_type="view_version",
            object_key=f"{step.name}@{step.major}.{step.minor}",
            before=None if step.from_version is None else {"version": step.from_version},
            after={
                "version": f"{step.major}.{step.minor}",
                "change": change,
                "status": status,
                "definition_hash": step.digest,
                "reasons": step.reasons,
            },
        )
    view_steps = _plan_views(conn, project, defs)  # majors now stable (all unchanged)
    for name, kind, canonical, digest, version, old, reasons in _plan_services(
        conn, project, defs, view_steps
    ):
        sid = services.service_id(conn, project, name)
        if sid is None:
            sid = conn.execute(
                insert(FeatureServiceRow)
                .values(project_id=pid, name=name, created_at=at)
                .returning(FeatureServiceRow.id)
            ).scalar_one()
            audit.record(
                conn,
                project=project,
                actor=actor,
                action="service.add",
                object_type="service",
                object_key=name,
            )
        else:
            removed = conn.execute(
                select(FeatureServiceRow.removed_at).where(FeatureServiceRow.id == sid)
            ).scalar()
            if removed is not None:
                conn.execute(
                    update(FeatureServiceRow).where(FeatureServiceRow.id == sid).values(removed_at=None)
                )
                audit.record(
                    conn,
                    project=project,
                    actor=actor,
                    action="service.restore",
                    object_type="service",
                    object_key=name,
                )
        if kind == "unchanged":
            continue
        services.insert_version(
            conn,
            sid=sid,
            version=version,
            status=status,
            canonical=canonical,
            digest=digest,
            view_ids=view_ids,
            actor=actor,
            at=at,
        )
        audit.record(
            conn,
            project=project,
            actor=actor,
            action="service_version.create",
            object_type="service_version",
            object_key=f"{name}@{version}",
            before=None if old is None else {"version": old},
            after={
                "version": version,
                "status": status,
                "definition_hash": digest,
                "features": canonical["features"],
                "reasons": reasons,
            },
        )
    for object_type, row_type, name in _removed(conn, project, defs):
        conn.execute(
            update(row_type).where(row_type.project_id == pid, row_type.name == name).values(removed_at=at)
        )
        audit.record(
            conn,
            project=project,
            actor=actor,
            action=f"{object_type}.remove",
            object_type=object_type,
            object_key=name,
            after={"removed_at": at},
        )
    return result


def removed_at(conn: Connection, project: str, view: str) -> datetime | None:
    """When a view was removed from the repo (None if it is present)."""
    vid = views.view_id(conn, project, view)
    if vid is None:
        return None
    return conn.execute(select(FeatureViewRow.removed_at).where(FeatureViewRow.id == vid)).scalar()
