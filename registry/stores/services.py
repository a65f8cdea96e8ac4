"""Feature services and their versions (reads and inserts)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select

from featurelake.errors import RegistryError
from featurelake.registry.models import FeatureServiceRow, FeatureServiceVersionRow, ServiceFeatureRow
from featurelake.registry.stores.projects import as_utc, find_project_id
from featurelake.registry.types import ServiceFeatures, ServiceVersion, Status


def service_id(conn: Connection, project: str, service: str) -> int | None:
    """The id of a service, or None."""
    pid = find_project_id(conn, project)
    if pid is None:
        return None
    return conn.execute(
        select(FeatureServiceRow.id).where(
            FeatureServiceRow.project_id == pid, FeatureServiceRow.name == service
        )
    ).scalar()


def _to_service_version(
    conn: Connection, project: str, name: str, row: FeatureServiceVersionRow
) -> ServiceVersion:
    groups: dict[tuple[str, int], list[str]] = {}
    order: list[tuple[str, int]] = []
    for f in conn.execute(
        select(ServiceFeatureRow)
        .where(ServiceFeatureRow.service_version_id == row.id)
        .order_by(ServiceFeatureRow.position)
    ):
        key = (f.view_name, f.view_major)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(f.feature_name)
    return ServiceVersion(
        project=project,
        name=name,
        version=row.version,
        status=row.status,  # type: ignore[arg-type]
        views=tuple(ServiceFeatures(v, m, tuple(groups[(v, m)])) for v, m in order),
        definition_hash=row.definition_hash,
        description=row.description,
        owner=row.owner,
        tags=dict(row.tags or {}),
        created_by=row.created_by,
        created_at=as_utc(row.created_at),  # type: ignore[arg-type]
        status_reason=row.status_reason,
    )


def resolve_row(
    conn: Connection, project: str, service: str, version: int | str | None
) -> FeatureServiceVersionRow:
    """The version row: a number, or None = newest active, else newest non-archived.

    Raises:
        RegistryError: unknown service or version.
    """
    sid = service_id(conn, project, service)
    if sid is None:
        raise RegistryError(
            f"feature service {service!r} is not in project {project!r}; see `featurelake registry list --kind service`"
        )
    query = select(FeatureServiceVersionRow).where(FeatureServiceVersionRow.service_id == sid)
    if version is None or version == "":
        for cond in (
            FeatureServiceVersionRow.status == "active",
            FeatureServiceVersionRow.status != "archived",
        ):
            row = conn.execute(
                query.where(cond).order_by(FeatureServiceVersionRow.version.desc()).limit(1)
            ).first()
            if row is not None:
                return row
        raise RegistryError(
            f"every version of feature service {service!r} is archived; name a version explicitly"
        )
    text = str(version).lstrip("v")
    if not text.isdigit():
        raise RegistryError(f"feature service version {version!r} is not a number (e.g. 2)")
    row = conn.execute(query.where(FeatureServiceVersionRow.version == int(text))).first()
    if row is None:
        known = conn.execute(
            select(FeatureServiceVersionRow.version)
            .where(FeatureServiceVersionRow.service_id == sid)
            .order_by(FeatureServiceVersionRow.version)
        ).scalars()
        raise RegistryError(
            f"feature service {service!r} has no version {version!r} (versions: {', '.join(map(str, known)) or 'none'})"
        )
    return row


def get_service_version(
    conn: Connection, project: str, service: str, version: int | str | None = None
) -> ServiceVersion:
    """One service version (None = newest active, else newest non-archived)."""
    return _to_service_version(conn, project, service, resolve_row(conn, project, service, version))


def list_service_versions(conn: Connection, project: str, service: str) -> list[ServiceVersion]:
    """Every version of a service, oldest first."""
    sid = service_id(conn, project, service)
    if sid is None:
        raise RegistryError(f"feature service {service!r} is not in project {project!r}")
    rows = conn.execute(
        select(FeatureServiceVersionRow)
        .where(FeatureServiceVersionRow.service_id == sid)
        .order_by(FeatureServiceVersionRow.version)
    )
    return [_to_service_version(conn, project, service, r) for r in rows]


def list_services(conn: Connection, project: str, *, include_removed: bool = False) -> list[ServiceVersion]:
    """The current version of each service."""
    pid = find_project_id(conn, project)
    if pid is None:
        return []
    query = select(FeatureServiceRow).where(FeatureServiceRow.project_id == pid)
    if not include_removed:
        query = query.where(FeatureServiceRow.removed_at.is_(None))
    out = []
    for s in conn.execute(query.order_by(FeatureServiceRow.name)).all():
        try:
            out.append(get_service_version(conn, project, s.name))
        except RegistryError:
            continue  # every version archived: not current
    return out


def newest_row(conn: Connection, sid: int) -> FeatureServiceVersionRow | None:
    """The highest version row of a service."""
    return conn.execute(
        select(FeatureServiceVersionRow)
        .where(FeatureServiceVersionRow.service_id == sid)
        .order_by(FeatureServiceVersionRow.version.desc())
        .limit(1)
    ).first()


def next_version(conn: Connection, sid: int) -> int:
    """The next version number of a service."""
    return (
        conn.execute(
            select(func.coalesce(func.max(FeatureServiceVersionRow.version), 0)).where(
                FeatureServiceVersionRow.service_id == sid
            )
        ).scalar_one()
        + 1
    )


def insert_version(
    conn: Connection,
    *,
    sid: int,
    version: int,
    status: Status,
    canonical: dict[str, Any],
    digest: str,
    view_ids: dict[str, int],
    actor: str,
    at: datetime,
) -> int:
    """Insert a service version and its feature rows; returns the row id."""
    svid = conn.execute(
        insert(FeatureServiceVersionRow)
        .values(
            service_id=sid,
            version=version,
            status=status,
            status_reason="created by apply",
            status_changed_by=actor,
            status_changed_at=at,
            definition_hash=digest,
            description=canonical["description"],
            owner=canonical["owner"],
            tags=canonical["tags"],
            created_by=actor,
            created_at=at,
        )
        .returning(FeatureServiceVersionRow.id)
    ).scalar_one()
    rows = []
    position = 0
    for group in canonical["features"]:
        for feature in group["features"]:
            rows.append(
                {
                    "service_version_id": svid,
                    "view_id": view_ids[group["view"]],
                    "view_name": group["view"],
                    "view_major": group["view_major"],
                    "position": position,
                    "feature_name": feature,
                }
            )
            position += 1
    if rows:
        conn.execute(insert(ServiceFeatureRow), rows)
    return svid
