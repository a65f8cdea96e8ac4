"""Erasure requests (right to erasure), their finished steps, and the training sets they marked.

A request stores a salted SHA-256 of each erased key, never the raw value. Each step (one Delta
delete, one Redis delete, one purge, one training-set mark) is inserted once it is done, so a
run that was killed resumes by skipping the steps already recorded. Every write also appends
an audit row: the audit log records what erasure did and is never edited.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, insert, select, update

from featurelake.errors import RegistryError
from featurelake.registry.models import ErasureRequestRow, ErasureStepRow, TrainingSetErasureRow
from featurelake.registry.stores import audit
from featurelake.registry.stores.projects import as_utc, find_project_id, jsonable, now, project_id
from featurelake.registry.types import (
    ErasureRequest,
    ErasureStep,
    JoinKey,
    TrainingSetErasure,
)

STATES = ("holds_erased_data", "superseded")


def new_salt() -> str:
    """A random salt for one request (32 hex characters)."""
    return secrets.token_hex(16)


def hash_key(salt: str, key: Sequence[tuple[str, Any]]) -> str:
    """The salted hash of one entity key: ``sha256(salt + canonical JSON of [[name, value], ...])``.

    Args:
        salt: the request's salt.
        key: ``(join key name, value)`` pairs; order does not matter.
    """
    canonical = json.dumps(sorted([str(n), str(v)] for n, v in key), separators=(",", ":"))
    return hashlib.sha256((salt + canonical).encode()).hexdigest()


def create(
    conn: Connection,
    *,
    project: str,
    join_keys: Sequence[JoinKey],
    salt: str,
    key_hashes: Sequence[str],
    reason: str,
    actor: str,
    dry_run: bool,
    options: dict[str, Any],
) -> str:
    """Insert a running request; returns its id."""
    if not reason.strip():
        raise RegistryError(
            "an erasure request needs a reason (--reason TEXT), e.g. 'GDPR Art. 17 ticket 123'"
        )
    pid = project_id(conn, project, create=True)
    request_id = str(uuid.uuid4())
    values = dict(
        id=request_id,
        project_id=pid,
        join_keys=[{"name": k.name, "dtype": k.dtype} for k in join_keys],
        salt=salt,
        key_hashes=list(key_hashes),
        reason=reason,
        actor=actor,
        dry_run=dry_run,
        options=jsonable(options),
        status="running",
        created_at=now(),
    )
    conn.execute(insert(ErasureRequestRow).values(**values))
    audit.record(
        conn,
        project=project,
        actor=actor,
        action="erasure.dry_run" if dry_run else "erasure.request",
        object_type="erasure_request",
        object_key=request_id,
        after={k: v for k, v in values.items() if k not in ("id", "project_id", "salt")},
    )
    return request_id


def _row(conn: Connection, request_id: str) -> Any:
    row = conn.execute(select(ErasureRequestRow).where(ErasureRequestRow.id == request_id)).first()
    if row is None:
        raise RegistryError(
            f"erasure request {request_id!r} does not exist; see `featurelake erase status` for the requests"
        )
    return row


def record_step(
    conn: Connection,
    *,
    request_id: str,
    step: str,
    kind: str,
    target: str,
    actor: str,
    version_before: int | None = None,
    version_after: int | None = None,
    rows_removed: int | None = None,
    detail: dict[str, Any] | None = None,
) -> bool:
    """Record a finished step; returns False (and writes nothing) if it was already recorded."""
    row = _row(conn, request_id)
    exists = conn.execute(
        select(ErasureStepRow.id).where(ErasureStepRow.request_id == request_id, ErasureStepRow.step == step)
    ).scalar()
    if exists is not None:
        return False
    values = dict(
        request_id=request_id,
        step=step,
        kind=kind,
        target=target,
        version_before=version_before,
        version_after=version_after,
        rows_removed=rows_removed,
        detail=jsonable(detail or {}),
        actor=actor,
        finished_at=now(),
    )
    conn.execute(insert(ErasureStepRow).values(**values))
    project = _project_name(conn, row.project_id)
    audit.record(
        conn,
        project=project,
        actor=actor,
        action=f"erasure.{kind}",
        object_type="erasure_request",
        object_key=request_id,
        after={k: v for k, v in values.items() if k != "request_id"},
    )
    return True


def finish(conn: Connection, request_id: str, *, status: str, report: dict[str, Any], actor: str) -> None:
    """Set a request's final status and report."""
    if status not in ("succeeded", "failed"):
        raise RegistryError(f"an erasure request finishes as 'succeeded' or 'failed', not {status!r}")
    row = _row(conn, request_id)
    conn.execute(
        update(ErasureRequestRow)
        .where(ErasureRequestRow.id == request_id)
        .values(status=status, finished_at=now(), report=jsonable(report))
    )
    audit.record(
        conn,
        project=_project_name(conn, row.project_id),
        actor=actor,
        action=f"erasure.{status}",
        object_type="erasure_request",
        object_key=request_id,
        before={"status": row.status},
        after={"status": status, "summary": jsonable(report.get("summary", {}))},
    )


def reopen(conn: Connection, request_id: str, *, actor: str) -> None:
    """Mark a failed or interrupted request running again (a resumed run)."""
    row = _row(conn, request_id)
    if row.status == "succeeded":
        raise RegistryError(f"erasure request {request_id} already succeeded; nothing to resume")
    conn.execute(update(ErasureRequestRow).where(ErasureRequestRow.id == request_id).values(status="running"))
    audit.record(
        conn,
        project=_project_name(conn, row.project_id),
        actor=actor,
        action="erasure.resume",
        object_type="erasure_request",
        object_key=request_id,
        before={"status": row.status},
        after={"status": "running"},
    )


def _project_name(conn: Connection, pid: int) -> str:
    from featurelake.registry.models import ProjectRow

    return conn.execute(select(ProjectRow.name).where(ProjectRow.id == pid)).scalar_one()


def _steps(conn: Connection, request_id: str) -> tuple[ErasureStep, ...]:
    rows = conn.execute(
        select(ErasureStepRow).where(ErasureStepRow.request_id == request_id).order_by(ErasureStepRow.id)
    )
    return tuple(
        ErasureStep(
            step=r.step,
            kind=r.kind,
            target=r.target,
            version_before=r.version_before,
            version_after=r.version_after,
            rows_removed=r.rows_removed,
            detail=r.detail or {},
            actor=r.actor,
            finished_at=as_utc(r.finished_at),  # type: ignore[arg-type]
        )
        for r in rows
    )


def _to_request(conn: Connection, project: str, r: Any) -> ErasureRequest:
    return ErasureRequest(
        request_id=r.id,
        project=project,
        join_keys=tuple(JoinKey(k["name"], k["dtype"]) for k in r.join_keys),
        salt=r.salt,
        key_hashes=tuple(r.key_hashes),
        reason=r.reason,
        actor=r.actor,
        dry_run=bool(r.dry_run),
        options=r.options or {},
        status=r.status,
        created_at=as_utc(r.created_at),  # type: ignore[arg-type]
        finished_at=as_utc(r.finished_at),
        report=r.report,
        steps=_steps(conn, r.id),
    )


def get(conn: Connection, request_id: str) -> ErasureRequest:
    """One request with its steps."""
    row = _row(conn, request_id)
    return _to_request(conn, _project_name(conn, row.project_id), row)


def list_requests(
    conn: Connection, project: str, *, status: str | None = None, limit: int = 50
) -> list[ErasureRequest]:
    """Requests of a project, newest first."""
    pid = find_project_id(conn, project)
    if pid is None:
        return []
    query = select(ErasureRequestRow).where(ErasureRequestRow.project_id == pid)
    if status is not None:
        query = query.where(ErasureRequestRow.status == status)
    rows = conn.execute(query.order_by(ErasureRequestRow.created_at.desc()).limit(limit)).all()
    return [_to_request(conn, project, r) for r in rows]


def mark_training_set(
    conn: Connection,
    *,
    project: str,
    name: str,
    version: int,
    request_id: str,
    state: str,
    actor: str,
    superseded_by: int | None = None,
) -> bool:
    """Mark a training set version as holding erased data or superseded; False if already marked so."""
    if state not in STATES:
        raise RegistryError(f"training set erasure state {state!r} is not one of {', '.join(STATES)}")
    _row(conn, request_id)
    pid = project_id(conn, project)
    existing = conn.execute(
        select(TrainingSetErasureRow).where(
            TrainingSetErasureRow.project_id == pid,
            TrainingSetErasureRow.name == name,
            TrainingSetErasureRow.version == version,
            TrainingSetErasureRow.request_id == request_id,
        )
    ).first()
    if existing is not None and existing.state == state and existing.superseded_by == superseded_by:
        return False
    if existing is None:
        conn.execute(
            insert(TrainingSetErasureRow).values(
                project_id=pid,
                name=name,
                version=version,
                request_id=request_id,
                state=state,
                superseded_by=superseded_by,
                created_at=now(),
            )
        )
    else:
        conn.execute(
            update(TrainingSetErasureRow)
            .where(TrainingSetErasureRow.id == existing.id)
            .values(state=state, superseded_by=superseded_by)
        )
    audit.record(
        conn,
        project=project,
        actor=actor,
        action=f"training_set.{state}",
        object_type="training_set",
        object_key=f"{name}@{version}",
        before=None if existing is None else {"state": existing.state},
        after={"state": state, "erasure_request": request_id, "superseded_by": superseded_by},
    )
    return True


def training_set_marks(
    conn: Connection, project: str, name: str | None = None, version: int | None = None
) -> list[TrainingSetErasure]:
    """The erasure marks of training set versions, oldest first."""
    pid = find_project_id(conn, project)
    if pid is None:
        return []
    query = select(TrainingSetErasureRow).where(TrainingSetErasureRow.project_id == pid)
    if name is not None:
        query = query.where(TrainingSetErasureRow.name == name)
    if version is not None:
        query = query.where(TrainingSetErasureRow.version == version)
    rows = conn.execute(query.order_by(TrainingSetErasureRow.id))
    return [
        TrainingSetErasure(
            project=project,
            name=r.name,
            version=r.version,
            request_id=r.request_id,
            state=r.state,
            superseded_by=r.superseded_by,
            created_at=as_utc(r.created_at),  # type: ignore[arg-type]
        )
        for r in rows
    ]
