"""Lifecycle status: audited transitions, dependent checks, usability checks."""

from __future__ import annotations

from typing import Literal, get_args

from sqlalchemy import Connection, and_, select, update

from featurelake.errors import RegistryError
from featurelake.registry.models import (
    FeatureServiceRow,
    FeatureServiceVersionRow,
    FeatureViewVersionRow,
    ServiceFeatureRow,
)
from featurelake.registry.stores import audit, services, views
from featurelake.registry.stores.projects import lock_project, now
from featurelake.registry.types import ALLOWED_TRANSITIONS, STATUSES, Purpose, Status, ViewVersion

ObjectType = Literal["view", "service"]


def _check_transition(label: str, current: str, target: str) -> None:
    if target not in STATUSES:
        raise RegistryError(f"status {target!r} for {label} is not one of {', '.join(STATUSES)}")
    if (current, target) not in ALLOWED_TRANSITIONS:
        allowed = sorted(t for s, t in ALLOWED_TRANSITIONS if s == current)
        hint = f"allowed from {current}: {', '.join(allowed)}" if allowed else f"{current} is final"
        raise RegistryError(f"{label} is {current}; it cannot become {target} ({hint})")


def view_dependents(conn: Connection, vid: int, major: int) -> list[str]:
    """Active service versions that use a view's major version, as ``service@version``."""
    rows = conn.execute(
        select(FeatureServiceRow.name, FeatureServiceVersionRow.version)
        .select_from(ServiceFeatureRow)
        .join(FeatureServiceVersionRow, FeatureServiceVersionRow.id == ServiceFeatureRow.service_version_id)
        .join(FeatureServiceRow, FeatureServiceRow.id == FeatureServiceVersionRow.service_id)
        .where(
            and_(
                ServiceFeatureRow.view_id == vid,
                ServiceFeatureRow.view_major == major,
                FeatureServiceVersionRow.status == "active",
            )
        )
        .distinct()
    ).all()
    return sorted(f"{name}@{version}" for name, version in rows)


def resolve_object_type(
    conn: Connection, project: str, name: str, object_type: ObjectType | None
) -> ObjectType:
    """Decide whether ``name`` is a view or a service.

    Raises:
        RegistryError: neither, or both without ``object_type``.
    """
    if object_type is not None:
        return object_type
    is_view = views.view_id(conn, project, name) is not None
    is_service = services.service_id(conn, project, name) is not None
    if is_view and is_service:
        raise RegistryError(
            f"{name!r} is both a feature view and a feature service; say which (--kind view|service)"
        )
    if is_view:
        return "view"
    if is_service:
        return "service"
    raise RegistryError(
        f"{name!r} is neither a feature view nor a feature service of project {project!r}; see `featurelake registry list`"
    )


def set_status(
    conn: Connection,
    *,
    project: str,
    name: str,
    version: str | int | None,
    status: Status,
    reason: str,
    actor: str,
    force: bool = False,
    object_type: ObjectType | None = None,
) -> tuple[str, str, str]:
    """Change one version's status in the caller's transaction.

    Returns:
        (version label, old status, new status).

    Raises:
        RegistryError: illegal transition, missing reason, or active dependents without ``force``.
    """
    if not reason or not reason.strip():
        raise RegistryError(f"a status change of {name!r} needs a reason; pass --reason '...'")
    lock_project(conn, project)  # the dependents check holds against a concurrent apply
    kind = resolve_object_type(conn, project, name, object_type)
    at = now()
    if kind == "view":
        vid, row = views.resolve_row(conn, project, name, version)
        label = f"feature view {name!r} version {row.major}.{row.minor}"
        _check_transition(label, row.status, status)
        if status in ("deprecated", "archived"):
            still_active = conn.execute(
                select(FeatureViewVersionRow.id).where(
                    FeatureViewVersionRow.view_id == vid,
                    FeatureViewVersionRow.major == row.major,
                    FeatureViewVersionRow.id != row.id,
                    FeatureViewVersionRow.status == "active",
                )
            ).first()
            dependents = [] if still_active else view_dependents(conn, vid, row.major)
            if dependents and not force:
                raise RegistryError(
                    f"cannot make {label} {status}: active feature services use it: {', '.join(dependents)}; "
                    "deprecate those services first, or pass --force"
                )
        conn.execute(
            update(FeatureViewVersionRow)
            .where(FeatureViewVersionRow.id == row.id, FeatureViewVersionRow.status == row.status)
            .values(status=status, status_reason=reason, status_changed_by=actor, status_changed_at=at)
        )
        key, old, object_kind = f"{name}@{row.major}.{row.minor}", row.status, "view_version"
        shown = f"{row.major}.{row.minor}"
    else:
        srow = services.resolve_row(conn, project, name, version)
        label = f"feature service {name!r} version {srow.version}"
        _check_transition(label, srow.status, status)
        conn.execute(
            update(FeatureServiceVersionRow)
            .where(FeatureServiceVersionRow.id == srow.id, FeatureServiceVersionRow.status == srow.status)
            .values(status=status, status_reason=reason, status_changed_by=actor, status_changed_at=at)
        )
        key, old, object_kind = f"{name}@{srow.version}", srow.status, "service_version"
        shown = str(srow.version)
    audit.record(
        conn,
        project=project,
        actor=actor,
        action="status.set" + (".forced" if force else ""),
        object_type=object_kind,
        object_key=key,
        before={"status": old},
        after={"status": status, "reason": reason},
    )
    return shown, old, status


def assert_usable(
    conn: Connection, project: str, view: str, version: str | int | None, purpose: Purpose
) -> ViewVersion:
    """The view version, if it may be used for ``purpose``.

    Archived versions cannot be backfilled, materialized, served or trained on (they can be
    read to reproduce a training set built before they were archived); drafts cannot be served.

    Raises:
        RegistryError: naming the version, its status and the fix.
    """
    allowed = get_args(Purpose)
    if purpose not in allowed:
        raise RegistryError(f"purpose {purpose!r} is not one of {', '.join(allowed)}; pass one of them")
    vv = views.get_view_version(conn, project, view, version)
    if vv.status == "archived" and purpose != "reproduce":
        raise RegistryError(
            f"feature view {view!r} version {vv.version} is archived and cannot be used to {purpose}; "
            f"use an active version (`featurelake registry show {view}`) or re-apply the definition"
        )
    if vv.status == "draft" and purpose == "serve":
        raise RegistryError(
            f"feature view {view!r} version {vv.version} is a draft and cannot be served; activate it with "
            f"`featurelake registry status set {view}:{vv.version} active --reason ...`"
        )
    return vv
