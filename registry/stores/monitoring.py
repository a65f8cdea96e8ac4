"""Monitor check outcomes (``fl_monitor_checks``), queryable per view, feature, metric and time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from featurelake.errors import RegistryError
from featurelake.registry.models import JobRunRow, MonitorCheckRow
from featurelake.registry.stores.projects import as_utc, find_project_id, jsonable, now, project_id
from featurelake.registry.types import MonitorCheck

STATUSES = ("ok", "warn", "fail")


def insert_checks(conn: Connection, *, project: str, run_id: str, checks: Sequence[MonitorCheck]) -> int:
    """Insert a run's check outcomes; returns how many.

    Raises:
        RegistryError: a check has an unknown status.
    """
    bad = sorted({c.status for c in checks} - set(STATUSES))
    if bad:
        raise RegistryError(f"monitor check status {bad[0]!r} is not one of {', '.join(STATUSES)}")
    if not checks:
        return 0
    pid = project_id(conn, project, create=True)
    at = now()
    conn.execute(
        insert(MonitorCheckRow),
        [
            {
                "project_id": pid,
                "run_id": run_id,
                "view": c.view,
                "view_version": c.view_version,
                "feature": c.feature,
                "metric": c.metric,
                "day": c.day,
                "window_start": c.window_start,
                "window_end": c.window_end,
                "value": c.value,
                "status": c.status,
                "warn": c.warn,
                "fail": c.fail,
                "reference": c.reference,
                "delta_versions": jsonable(dict(c.delta_versions)),
                "details": None if c.details is None else jsonable(c.details),
                "created_at": at,
            }
            for c in checks
        ],
    )
    return len(checks)


def _to_check(row: Any) -> MonitorCheck:
    return MonitorCheck(
        view=row.view,
        feature=row.feature,
        metric=row.metric,
        status=row.status,
        value=row.value,
        day=row.day,
        window_start=row.window_start,
        window_end=row.window_end,
        warn=row.warn,
        fail=row.fail,
        reference=row.reference,
        delta_versions=dict(row.delta_versions or {}),
        details=row.details,
        view_version=row.view_version,
        run_id=row.run_id,
        created_at=as_utc(row.created_at),
    )


def query(
    conn: Connection,
    project: str,
    *,
    view: str | None = None,
    feature: str | None = None,
    metric: str | None = None,
    status: str | None = None,
    run_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    latest_run: bool = False,
    limit: int = 10_000,
) -> list[MonitorCheck]:
    """Check outcomes, newest first, filtered.

    Args:
        latest_run: only the checks of each view's newest monitor run that recorded any.
    """
    pid = find_project_id(conn, project)
    if pid is None:
        return []
    q = select(MonitorCheckRow).where(MonitorCheckRow.project_id == pid)
    for col, value in (
        (MonitorCheckRow.view, view),
        (MonitorCheckRow.feature, feature),
        (MonitorCheckRow.metric, metric),
        (MonitorCheckRow.status, status),
        (MonitorCheckRow.run_id, run_id),
    ):
        if value is not None:
            q = q.where(col == value)
    if since is not None:
        q = q.where(MonitorCheckRow.created_at >= since)
    if until is not None:
        q = q.where(MonitorCheckRow.created_at <= until)
    if latest_run:
        newest = (
            select(JobRunRow.target, JobRunRow.id, JobRunRow.started_at)
            .where(JobRunRow.project_id == pid, JobRunRow.kind == "monitor", JobRunRow.status == "succeeded")
            .order_by(JobRunRow.started_at.desc())
        )
        seen: dict[str, str] = {}
        for target, rid, _ in conn.execute(newest):
            seen.setdefault(target, rid)
        if not seen:
            return []
        q = q.where(MonitorCheckRow.run_id.in_(list(seen.values())))
    rows = conn.execute(q.order_by(MonitorCheckRow.created_at.desc(), MonitorCheckRow.id).limit(limit))
    return [_to_check(r) for r in rows]
