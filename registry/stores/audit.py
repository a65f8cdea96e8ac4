"""The append-only audit log: the application only ever inserts here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from featurelake.registry.models import AuditRow
from featurelake.registry.stores.projects import as_utc, jsonable, now
from featurelake.registry.types import AuditEntry


def record(
    conn: Connection,
    *,
    project: str,
    actor: str,
    action: str,
    object_type: str,
    object_key: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Append one audit row in the caller's transaction."""
    conn.execute(
        insert(AuditRow).values(
            at=now(),
            actor=actor,
            project=project,
            action=action,
            object_type=object_type,
            object_key=object_key,
            before=None if before is None else jsonable(before),
            after=None if after is None else jsonable(after),
        )
    )


def entries(
    conn: Connection,
    *,
    project: str | None = None,
    object_type: str | None = None,
    object_key: str | None = None,
    object_prefix: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    actor: str | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """Audit rows, newest first, filtered by any of the arguments (``until`` inclusive)."""
    query = select(AuditRow)
    if project is not None:
        query = query.where(AuditRow.project == project)
    if object_type is not None:
        query = query.where(AuditRow.object_type == object_type)
    if object_key is not None:
        query = query.where(AuditRow.object_key == object_key)
    if object_prefix is not None:
        # startswith escapes LIKE metacharacters in user-given names
        query = query.where(AuditRow.object_key.startswith(object_prefix, autoescape=True))
    if action is not None:
        query = query.where(AuditRow.action == action)
    if since is not None:
        query = query.where(AuditRow.at >= since)
    if until is not None:
        query = query.where(AuditRow.at <= until)
    if actor is not None:
        query = query.where(AuditRow.actor == actor)
    query = query.order_by(AuditRow.id.desc()).limit(limit)
    return [
        AuditEntry(
            id=r.id,
            at=as_utc(r.at),  # type: ignore[arg-type]
            actor=r.actor,
            project=r.project,
            action=r.action,
            object_type=r.object_type,
            object_key=r.object_key,
            before=r.before,
            after=r.after,
        )
        for r in conn.execute(query)
    ]
