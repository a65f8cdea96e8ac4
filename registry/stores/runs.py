"""Job runs with leases (a crashed run shows as abandoned) and named watermarks."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from featurelake.errors import RegistryError, RunConflictError
from featurelake.registry.models import JobRunRow, ProjectRow, WatermarkRow
from featurelake.registry.stores import audit
from featurelake.registry.stores.projects import as_utc, find_project_id, jsonable, now, project_id
from featurelake.registry.types import RUN_KINDS, Run, RunKind, TableVersion


def _target(params: dict[str, Any], target: str | None) -> str:
    if target is not None:
        return target
    for key in ("view", "training_set", "service", "table"):
        if params.get(key):
            return str(params[key])
    return ""


def start(
    conn: Connection,
    *,
    project: str,
    kind: RunKind,
    params: dict[str, Any],
    actor: str,
    target: str | None,
    lease: timedelta,
    exclusive_span: tuple[str, str] | None = None,
) -> str:
    """Insert a running run; returns its id.

    With ``exclusive_span`` (ISO start and end, inclusive), the run is refused if a live run
    (running, lease not expired) of the same project, kind and target holds an overlapping
    span: the check and the insert are one transaction under a per-target lock (PostgreSQL
    advisory lock; SQLite's ``BEGIN IMMEDIATE`` serializes writers), so two runs started at the
    same moment cannot both pass.

    Raises:
        RunConflictError: an overlapping live run exists (named in the message).
    """
    if kind not in RUN_KINDS:
        raise RegistryError(f"run kind {kind!r} is not one of {', '.join(RUN_KINDS)}")
    pid = project_id(conn, project, create=True)
    run_id = str(uuid.uuid4())
    at = now()
    if exclusive_span is not None:
        _refuse_overlap(conn, pid, project, kind, _target(params, target), exclusive_span, at)
        params = {**params, "exclusive_span": list(exclusive_span)}
    conn.execute(
        insert(JobRunRow).values(
            id=run_id,
            project_id=pid,
            kind=kind,
            target=_target(params, target),
            params=jsonable(params),
            status="running",
            actor=actor,
            started_at=at,
            heartbeat_at=at,
            lease_expires_at=at + lease,
            inputs=[],
            outputs=[],
        )
    )
    audit.record(
        conn,
        project=project,
        actor=actor,
        action="run.start",
        object_type="run",
        object_key=run_id,
        after={"kind": kind, "params": params},
    )
    return run_id


def check_span(conn: Connection, project: str, kind: str, target: str, span: tuple[str, str]) -> None:
    """Refuse now what :func:`start` would refuse: a live run of ``kind`` on ``target`` overlapping ``span``.

    A read-only early check (a job calls it before starting Spark, so a refused run costs no JVM);
    :func:`start` repeats it under the lock, which is what makes the exclusion race-safe.

    Raises:
        RunConflictError: an overlapping live run exists (named in the message).
    """
    pid = find_project_id(conn, project)
    if pid is not None:
        _refuse_live_overlap(conn, pid, kind, target, span, now())


def _refuse_overlap(
    conn: Connection, pid: int, project: str, kind: str, target: str, span: tuple[str, str], at: datetime
) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"fl-run:{project}:{kind}:{target}"}
        )
    _refuse_live_overlap(conn, pid, kind, target, span, at)


def _refuse_live_overlap(
    conn: Connection, pid: int, kind: str, target: str, span: tuple[str, str], at: datetime
) -> None:
    live = conn.execute(
        select(JobRunRow).where(
            JobRunRow.project_id == pid,
            JobRunRow.kind == kind,
            JobRunRow.target == target,
            JobRunRow.status == "running",
            JobRunRow.lease_expires_at >= at,
        )
    )
    lo, hi = span
    for run in live:
        other = (run.params or {}).get("exclusive_span")
        if other and other[0] <= hi and lo <= other[1]:
            raise RunConflictError(
                f"{kind} of {target!r} {lo}..{hi} overlaps run {run.id} ({other[0]}..{other[1]}, started "
                f"{as_utc(run.started_at):%Y-%m-%d %H:%M:%S} UTC by {run.actor}), which is still running; wait for it "
                f"(or pass --wait), or cancel it with `featurelake registry cancel-run {run.id}` if it is dead"
            )


def _row(conn: Connection, run_id: str) -> tuple[JobRunRow, str]:
    row = conn.execute(select(JobRunRow).where(JobRunRow.id == run_id)).first()
    if row is None:
        raise RegistryError(f"job run {run_id!r} is not in the registry; see `featurelake registry runs`")
    project = conn.execute(select(ProjectRow.name).where(ProjectRow.id == row.project_id)).scalar_one()
    return row, project


def cancel(conn: Connection, run_ref: str, *, actor: str, reason: str) -> str:
    """Mark a running run (by id or a unique id prefix) failed as cancelled; returns its full id.

    For a run whose process died (killed, machine lost) and so never recorded its end: its
    lease and any range it held are released at once instead of when the lease expires. A live
    process that still heartbeats gets an error at its next heartbeat or finish.
    """
    if len(run_ref) < 4:
        raise RegistryError(f"run id {run_ref!r} is too short; give at least 4 characters of it")
    rows = conn.execute(select(JobRunRow.id).where(JobRunRow.id.like(f"{run_ref}%"))).all()
    if not rows:
        raise RegistryError(f"job run {run_ref!r} is not in the registry; see `featurelake registry runs`")
    if len(rows) > 1:
        raise RegistryError(f"run id prefix {run_ref!r} matches {len(rows)} runs; give more characters")
    run_id = rows[0][0]
    row, project = _row(conn, run_id)
    if row.status != "running":
        raise RegistryError(
            f"job run {run_id} already finished as {row.status}; only running runs can be cancelled"
        )
    conn.execute(
        update(JobRunRow)
        .where(JobRunRow.id == run_id)
        .values(
            status="failed", finished_at=now(), error=f"cancelled by {actor}: {reason}", lease_expires_at=None
        )
    )
    audit.record(
        conn,
        project=project,
        actor=actor,
        action="run.cancel",
        object_type="run",
        object_key=run_id,
        before={"status": "running"},
        after={"status": "failed", "reason": reason},
    )
    return run_id


def heartbeat(conn: Connection, run_id: str, *, lease: timedelta) -> None:
    """Extend a running run's lease."""
    row, _ = _row(conn, run_id)
    if row.status != "running":
        raise RegistryError(f"job run {run_id} is {row.status}; only running runs take heartbeats")
    at = now()
    conn.execute(
        update(JobRunRow).where(JobRunRow.id == run_id).values(heartbeat_at=at, lease_expires_at=at + lease)
    )


def finish(
    conn: Connection,
    run_id: str,
    *,
    status: str,
    rows_in: int | None,
    rows_out: int | None,
    inputs: list[TableVersion | dict[str, Any]],
    outputs: list[TableVersion | dict[str, Any]],
    error: str | None,
    report: dict[str, Any] | None,
    actor: str | None,
) -> str:
    """Record a run's result; returns the project name."""
    if status not in ("succeeded", "failed"):
        raise RegistryError(f"a run finishes as 'succeeded' or 'failed', not {status!r}")
    row, project = _row(conn, run_id)
    if row.status != "running":
        raise RegistryError(f"job run {run_id} already finished as {row.status}; start a new run")
    values = dict(
        status=status,
        finished_at=now(),
        rows_in=rows_in,
        rows_out=rows_out,
        inputs=[TableVersion.parse(i).as_dict() for i in inputs],
        outputs=[TableVersion.parse(o).as_dict() for o in outputs],
        error=error,
        report=None if report is None else jsonable(report),
        lease_expires_at=None,
    )
    conn.execute(update(JobRunRow).where(JobRunRow.id == run_id).values(**values))
    audit.record(
        conn,
        project=project,
        actor=actor or row.actor,
        action=f"run.{status}",
        object_type="run",
        object_key=run_id,
        before={"status": row.status},
        after=values,
    )
    return project


def _to_run(row: JobRunRow, project: str, at: datetime) -> Run:
    status = row.status
    lease = as_utc(row.lease_expires_at)
    if status == "running" and lease is not None and lease < at:
        status = "abandoned"
    return Run(
        run_id=row.id,
        project=project,
        kind=row.kind,
        target=row.target,
        params=row.params or {},  # type: ignore[arg-type]
        status=status,
        actor=row.actor,
        started_at=as_utc(row.started_at),  # type: ignore[arg-type]
        finished_at=as_utc(row.finished_at),
        heartbeat_at=as_utc(row.heartbeat_at),
        lease_expires_at=lease,
        rows_in=row.rows_in,
        rows_out=row.rows_out,
        inputs=tuple(TableVersion.parse(i) for i in row.inputs or []),
        outputs=tuple(TableVersion.parse(o) for o in row.outputs or []),
        error=row.error,
        report=row.report,
    )


def get(conn: Connection, run_id: str) -> Run:
    """One run."""
    row, project = _row(conn, run_id)
    return _to_run(row, project, now())


def list_runs(
    conn: Connection,
    project: str,
    *,
    kind: RunKind | None = None,
    status: str | None = None,
    target: str | None = None,
    limit: int = 50,
) -> list[Run]:
    """Runs, newest first. ``status='abandoned'`` selects running runs whose lease expired."""
    pid = find_project_id(conn, project)
    if pid is None:
        return []
    at = now()
    query = select(JobRunRow).where(JobRunRow.project_id == pid)
    if kind is not None:
        query = query.where(JobRunRow.kind == kind)
    if target is not None:
        query = query.where(JobRunRow.target == target)
    if status == "abandoned":
        query = query.where(JobRunRow.status == "running", JobRunRow.lease_expires_at < at)
    elif status == "running":
        query = query.where(JobRunRow.status == "running", JobRunRow.lease_expires_at >= at)
    elif status is not None:
        query = query.where(JobRunRow.status == status)
    rows = conn.execute(query.order_by(JobRunRow.started_at.desc()).limit(limit))
    return [_to_run(r, project, at) for r in rows]


def last_successful(conn: Connection, project: str, kind: RunKind, target: str) -> Run | None:
    """The newest succeeded run of ``kind`` for ``target`` (a view name, training set, ...)."""
    pid = find_project_id(conn, project)
    if pid is None:
        return None
    row = conn.execute(
        select(JobRunRow)
        .where(
            JobRunRow.project_id == pid,
            JobRunRow.kind == kind,
            JobRunRow.target == target,
            JobRunRow.status == "succeeded",
        )
        .order_by(JobRunRow.finished_at.desc())
        .limit(1)
    ).first()
    return None if row is None else _to_run(row, project, now())


def get_watermark(conn: Connection, project: str, view: str, major: int, name: str) -> datetime | None:
    """A named watermark of a view major version, or None."""
    pid = find_project_id(conn, project)
    if pid is None:
        return None
    value = conn.execute(
        select(WatermarkRow.value).where(
            WatermarkRow.project_id == pid,
            WatermarkRow.view_name == view,
            WatermarkRow.view_major == major,
            WatermarkRow.name == name,
        )
    ).scalar()
    return as_utc(value)


def set_watermark(
    conn: Connection,
    *,
    project: str,
    view: str,
    major: int,
    name: str,
    value: datetime,
    run_id: str | None,
    actor: str,
) -> None:
    """Upsert a named watermark (audited)."""
    if value.tzinfo is None:
        raise RegistryError(
            f"watermark {name!r} of {view!r} must be timezone-aware (got naive {value}); use UTC"
        )
    pid = project_id(conn, project, create=True)
    before = get_watermark(conn, project, view, major, name)
    at = now()
    values = dict(
        project_id=pid,
        view_name=view,
        view_major=major,
        name=name,
        value=value,
        run_id=run_id,
        updated_by=actor,
        updated_at=at,
    )
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(WatermarkRow).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["project_id", "view_name", "view_major", "name"],
        set_={"value": value, "run_id": run_id, "updated_by": actor, "updated_at": at},
    )
    conn.execute(stmt)
    audit.record(
        conn,
        project=project,
        actor=actor,
        action="watermark.set",
        object_type="watermark",
        object_key=f"{view}@{major}:{name}",
        before={"value": before},
        after={"value": value, "run_id": run_id},
    )
