"""Feature views, their versions and per-feature rows; entities and data sources (reads and inserts)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, update

from featurelake.errors import RegistryError
from featurelake.registry.models import (
    DataSourceRow,
    EntityRow,
    FeatureRow,
    FeatureViewRow,
    FeatureViewVersionRow,
)
from featurelake.registry.stores import audit
from featurelake.registry.stores.projects import as_utc, find_project_id, project_id
from featurelake.registry.types import DataSource, Entity, Feature, JoinKey, Status, ViewVersion
from featurelake.registry.versioning import table_name


def parse_view_version(version: str | int | None) -> tuple[int | None, int | None]:
    """``None`` -> (None, None); ``"3"``/``3`` -> (3, None); ``"3.1"`` -> (3, 1).

    Raises:
        RegistryError: not a version string.
    """
    if version is None or version == "":
        return None, None
    text = str(version).strip().lstrip("v")
    major, _, minor = text.partition(".")
    if not major.isdigit() or (minor and not minor.isdigit()):
        raise RegistryError(f"view version {version!r} is not MAJOR or MAJOR.MINOR (e.g. 3 or 3.1)")
    return int(major), (int(minor) if minor else None)


def view_id(conn: Connection, project: str, view: str) -> int | None:
    """The id of a view, or None."""
    pid = find_project_id(conn, project)
    if pid is None:
        return None
    return conn.execute(
        select(FeatureViewRow.id).where(FeatureViewRow.project_id == pid, FeatureViewRow.name == view)
    ).scalar()


def _to_view_version(
    project: str, name: str, row: FeatureViewVersionRow, features: list[FeatureRow]
) -> ViewVersion:
    entities = row.entities or {}
    return ViewVersion(
        project=project,
        name=name,
        major=row.major,
        minor=row.minor,
        table_name=row.table_name,
        status=row.status,  # type: ignore[arg-type]
        entities=tuple(JoinKey(k["name"], k["dtype"]) for k in entities.get("join_keys", [])),
        entity_names=tuple(entities.get("names", [])),
        features=tuple(
            Feature(f.name, f.dtype, f.description, dict(f.tags or {}))
            for f in sorted(features, key=lambda f: f.position)
        ),
        ttl=timedelta(seconds=row.ttl_seconds),
        source=row.source,
        transformation=row.transformation,
        definition=row.definition,
        definition_hash=row.definition_hash,
        change=row.change,  # type: ignore[arg-type]
        description=row.description,
        owner=row.owner,
        tags=dict(row.tags or {}),
        created_by=row.created_by,
        created_at=as_utc(row.created_at),  # type: ignore[arg-type]
        status_reason=row.status_reason,
    )


def _load(conn: Connection, project: str, name: str, rows: list[FeatureViewVersionRow]) -> list[ViewVersion]:
    if not rows:
        return []
    ids = [r.id for r in rows]
    by_version: dict[int, list[FeatureRow]] = {i: [] for i in ids}
    for f in conn.execute(select(FeatureRow).where(FeatureRow.view_version_id.in_(ids))):
        by_version[f.view_version_id].append(f)
    return [_to_view_version(project, name, r, by_version[r.id]) for r in rows]


def version_rows(conn: Connection, vid: int) -> list[FeatureViewVersionRow]:
    """Every version row of a view, oldest first."""
    return list(
        conn.execute(
            select(FeatureViewVersionRow)
            .where(FeatureViewVersionRow.view_id == vid)
            .order_by(FeatureViewVersionRow.major, FeatureViewVersionRow.minor)
        )
    )


def resolve_row(
    conn: Connection, project: str, view: str, version: str | int | None
) -> tuple[int, FeatureViewVersionRow]:
    """Find the version row ``version`` names (see :func:`get_view_version`).

    Raises:
        RegistryError: unknown view or version, or every version archived.
    """
    vid = view_id(conn, project, view)
    if vid is None:
        raise RegistryError(
            f"feature view {view!r} is not in project {project!r}; run `featurelake registry list` to see the "
            "views, or `featurelake apply` if it is new"
        )
    major, minor = parse_view_version(version)
    query = select(FeatureViewVersionRow).where(FeatureViewVersionRow.view_id == vid)
    if major is None:
        for status_filter in (
            FeatureViewVersionRow.status == "active",
            FeatureViewVersionRow.status != "archived",
        ):
            row = conn.execute(
                query.where(status_filter)
                .order_by(FeatureViewVersionRow.major.desc(), FeatureViewVersionRow.minor.desc())
                .limit(1)
            ).first()
            if row is not None:
                return vid, row
        raise RegistryError(
            f"every version of feature view {view!r} is archived; name a version explicitly "
            "(archived versions can be read but not materialized, backfilled or served)"
        )
    query = query.where(FeatureViewVersionRow.major == major)
    if minor is not None:
        query = query.where(FeatureViewVersionRow.minor == minor)
    row = conn.execute(query.order_by(FeatureViewVersionRow.minor.desc()).limit(1)).first()
    if row is None:
        known = ", ".join(f"{r.major}.{r.minor}" for r in version_rows(conn, vid)) or "none"
        raise RegistryError(f"feature view {view!r} has no version {version!r} (versions: {known})")
    return vid, row


def get_view_version(
    conn: Connection, project: str, view: str, version: str | int | None = None
) -> ViewVersion:
    """One view version: ``"3"`` = newest minor of major 3, ``"3.1"`` exactly, None = newest active, else newest non-archived."""
    _, row = resolve_row(conn, project, view, version)
    return _load(conn, project, view, [row])[0]


def list_view_versions(conn: Connection, project: str, view: str) -> list[ViewVersion]:
    """Every version of a view, oldest first."""
    vid = view_id(conn, project, view)
    if vid is None:
        raise RegistryError(
            f"feature view {view!r} is not in project {project!r}; see `featurelake registry list`"
        )
    return _load(conn, project, view, version_rows(conn, vid))


def list_views(conn: Connection, project: str, *, include_removed: bool = False) -> list[ViewVersion]:
    """The current version of each view (newest active, else newest non-archived, else newest)."""
    pid = find_project_id(conn, project)
    if pid is None:
        return []
    query = select(FeatureViewRow).where(FeatureViewRow.project_id == pid)
    if not include_removed:
        query = query.where(FeatureViewRow.removed_at.is_(None))
    views = {v.id: v.name for v in conn.execute(query.order_by(FeatureViewRow.name))}
    if not views:
        return []
    rows = list(
        conn.execute(select(FeatureViewVersionRow).where(FeatureViewVersionRow.view_id.in_(list(views))))
    )
    rank = {"active": 2, "draft": 1, "deprecated": 1, "archived": 0}
    best: dict[int, FeatureViewVersionRow] = {}
    for r in rows:
        key = (rank[r.status], r.major, r.minor)
        cur = best.get(r.view_id)
        if cur is None or key > (rank[cur.status], cur.major, cur.minor):
            best[r.view_id] = r
    chosen = [(name, best[vid]) for vid, name in views.items() if vid in best]
    by_version: dict[int, list[FeatureRow]] = {r.id: [] for _, r in chosen}
    ids = list(by_version)
    for start in range(0, len(ids), 5_000):  # one query per chunk, not one per view
        chunk = ids[start : start + 5_000]
        for f in conn.execute(select(FeatureRow).where(FeatureRow.view_version_id.in_(chunk))):
            by_version[f.view_version_id].append(f)
    return [_to_view_version(project, name, r, by_version[r.id]) for name, r in chosen]


def newest_row(conn: Connection, vid: int) -> FeatureViewVersionRow | None:
    """The highest (major, minor) version row of a view."""
    return conn.execute(
        select(FeatureViewVersionRow)
        .where(FeatureViewVersionRow.view_id == vid)
        .order_by(FeatureViewVersionRow.major.desc(), FeatureViewVersionRow.minor.desc())
        .limit(1)
    ).first()


def max_major(conn: Connection, vid: int) -> int:
    """The highest major version number of a view (0 if none)."""
    return conn.execute(
        select(func.coalesce(func.max(FeatureViewVersionRow.major), 0)).where(
            FeatureViewVersionRow.view_id == vid
        )
    ).scalar_one()


def insert_version(
    conn: Connection,
    *,
    vid: int,
    view: str,
    major: int,
    minor: int,
    status: Status,
    change: str,
    canonical: dict[str, Any],
    digest: str,
    actor: str,
    at: datetime,
) -> int:
    """Insert one version row and its feature rows; returns the version row id."""
    vvid = conn.execute(
        insert(FeatureViewVersionRow)
        .values(
            view_id=vid,
            major=major,
            minor=minor,
            table_name=table_name(view, major),
            status=status,
            status_reason="created by apply",
            status_changed_by=actor,
            status_changed_at=at,
            change=change,
            definition=canonical,
            definition_hash=digest,
            entities={"names": canonical["entities"], "join_keys": canonical["join_keys"]},
            ttl_seconds=canonical["ttl_seconds"],
            source=canonical["source"],
            transformation=canonical["transformation"],
            description=canonical["description"],
            owner=canonical["owner"],
            tags=canonical["tags"],
            created_by=actor,
            created_at=at,
        )
        .returning(FeatureViewVersionRow.id)
    ).scalar_one()
    if canonical["features"]:
        conn.execute(
            insert(FeatureRow),
            [
                {
                    "view_version_id": vvid,
                    "position": i,
                    "name": f["name"],
                    "dtype": f["dtype"],
                    "description": f["description"],
                    "tags": f["tags"],
                }
                for i, f in enumerate(canonical["features"])
            ],
        )
    return vvid


def list_entities(conn: Connection, project: str) -> list[Entity]:
    """Every entity of a project (removed ones excluded)."""
    pid = find_project_id(conn, project)
    if pid is None:
        return []
    rows = conn.execute(
        select(EntityRow)
        .where(and_(EntityRow.project_id == pid, EntityRow.removed_at.is_(None)))
        .order_by(EntityRow.name)
    )
    return [
        Entity(
            project,
            r.name,
            tuple(JoinKey(k["name"], k["dtype"]) for k in r.join_keys),
            r.description,
            r.owner,
            dict(r.tags or {}),
        )
        for r in rows
    ]


def list_sources(conn: Connection, project: str) -> list[DataSource]:
    """Every data source of a project (removed ones excluded)."""
    pid = find_project_id(conn, project)
    if pid is None:
        return []
    rows = conn.execute(
        select(DataSourceRow)
        .where(and_(DataSourceRow.project_id == pid, DataSourceRow.removed_at.is_(None)))
        .order_by(DataSourceRow.name)
    )
    return [
        DataSource(
            project, r.name, r.kind, r.location, r.timestamp_field, r.description, r.owner, dict(r.tags or {})
        )
        for r in rows
    ]


def require_project(conn: Connection, project: str) -> int:
    """The project's id; RegistryError naming the fix if it is unknown."""
    return project_id(conn, project, create=False)


MAX_DESCRIPTION = 4000
MAX_OWNER = 200  # the column's width
MAX_TAGS = 50


def metadata_problems(description: str | None, owner: str | None, tags: dict[str, str] | None) -> list[str]:
    """Every problem with a metadata edit (empty list: it may be written)."""
    problems = []
    if description is not None and len(description) > MAX_DESCRIPTION:
        problems.append(f"the description has {len(description)} characters; keep it to {MAX_DESCRIPTION}")
    if owner is not None and (len(owner) > MAX_OWNER or not owner.strip()):
        problems.append(f"owner {owner[:40]!r} must be 1..{MAX_OWNER} characters; name a person or team")
    if tags is not None:
        if len(tags) > MAX_TAGS:
            problems.append(f"{len(tags)} tags given; keep it to {MAX_TAGS}")
        for key, value in tags.items():
            if not isinstance(key, str) or not key.strip() or "=" in key or len(key) > 100:
                problems.append(f"tag key {str(key)[:40]!r} must be 1..100 characters without '='")
            if not isinstance(value, str) or len(value) > 500:
                problems.append(f"the value of tag {str(key)[:40]!r} must be text of at most 500 characters")
    return problems


def edit_metadata(
    conn: Connection,
    *,
    project: str,
    view: str,
    version: str | int | None,
    actor: str,
    description: str | None = None,
    owner: str | None = None,
    tags: dict[str, str] | None = None,
    reason: str = "",
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Curate a view version's description, owner and tags (None: keep), audited.

    The applied definition (and its hash) stays as the repo wrote it: these are the catalogue's
    fields that pages, search and listings show. A version that ``apply`` creates later takes the
    repo's values again.

    Returns:
        (version label, the changed fields before, the same fields after); both empty if nothing changed.

    Raises:
        RegistryError: unknown view or version, an archived version, or bad values (every problem).
    """
    problems = metadata_problems(description, owner, tags)
    if problems:
        raise RegistryError("; ".join(problems))
    _, row = resolve_row(conn, project, view, version)
    label = f"{row.major}.{row.minor}"
    if row.status == "archived":
        raise RegistryError(
            f"feature view {view!r} version {label} is archived, and archived versions are final; "
            "edit an active, draft or deprecated version"
        )
    current = {"description": row.description, "owner": row.owner, "tags": dict(row.tags or {})}
    wanted = {"description": description, "owner": owner, "tags": tags}
    after = {k: v for k, v in wanted.items() if v is not None and v != current[k]}
    before = {k: current[k] for k in after}
    if not after:
        return label, {}, {}
    conn.execute(update(FeatureViewVersionRow).where(FeatureViewVersionRow.id == row.id).values(**after))
    audit.record(
        conn,
        project=project,
        actor=actor,
        action="view_version.metadata",
        object_type="view_version",
        object_key=f"{view}@{label}",
        before=before,
        after={**after, "reason": reason} if reason else after,
    )
    return label, before, after
