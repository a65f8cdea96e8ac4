"""The write side: :class:`Registry` extends the reader; every write is one transaction with audit rows."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from sqlalchemy import Connection, Engine

from featurelake.errors import RegistryError
from featurelake.registry.database import check_connection, make_engine, migrate, run_write
from featurelake.registry.reader import RegistryReader
from featurelake.registry.stores import (
    definitions,
    erasure,
    lifecycle,
    lineage,
    monitoring,
    runs,
    training,
    views,
)
from featurelake.registry.types import (
    Definitions,
    JoinKey,
    MonitorCheck,
    Node,
    Plan,
    Run,
    RunKind,
    Status,
    TableVersion,
)

DEFAULT_LEASE = timedelta(minutes=10)

log = logging.getLogger("featurelake.registry")


class RunListener(Protocol):
    """Told about each run this :class:`Registry` starts and finishes, after the write committed.

    The composition root attaches one (OpenLineage run events, ``featurelake.jobs.lineage_events``);
    a listener that raises is logged and ignored: the run's record is already written.
    """

    def run_started(self, run: Run) -> None:
        """A run was recorded as running."""

    def run_finished(self, run: Run) -> None:
        """A run was recorded as succeeded or failed (inputs, outputs and error as recorded)."""


class Registry(RegistryReader):
    """Read and write access to one registry database."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._run_listeners: list[RunListener] = []

    def add_run_listener(self, listener: RunListener) -> None:
        """Tell ``listener`` about every run started and finished through this registry object."""
        if listener not in self._run_listeners:
            self._run_listeners.append(listener)

    @property
    def run_listeners(self) -> tuple[RunListener, ...]:
        """The listeners :meth:`add_run_listener` attached."""
        return tuple(self._run_listeners)

    def _notify(self, run_id: str, *, started: bool) -> None:
        if not self._run_listeners:
            return
        try:
            run = self.get_run(run_id)
        except Exception as err:  # noqa: BLE001 - the run is recorded; telling listeners is best effort
            log.warning("could not read run %s back for its listeners: %s", run_id, err)
            return
        for listener in self._run_listeners:
            try:
                (listener.run_started if started else listener.run_finished)(run)
            except Exception as err:  # noqa: BLE001 - a listener never fails the job that records the run
                log.warning("run listener %r failed on run %s: %s", listener, run_id, err)

    # ---------------------------------------------------------------- schema

    def migrate(self) -> tuple[str | None, str]:
        """Upgrade the schema to the newest migration.

        Returns:
            (revision before, revision after); before is None for an empty database.
        """
        return migrate(self._engine)

    def ensure_ready(self) -> None:
        """Make the registry usable: SQLite auto-migrates; PostgreSQL must be at head.

        Raises:
            RegistryError: PostgreSQL migrations are behind (run ``featurelake registry migrate``).
        """
        if self._engine.dialect.name == "sqlite":
            have = self.revision()
            if have is None or int(have) < int(self._expected()):
                self.migrate()
        self.check_schema()

    @staticmethod
    def _expected() -> str:
        from featurelake.registry.database import schema_revision

        return schema_revision()

    # ---------------------------------------------------------------- definitions

    def plan(self, project: str, defs: Definitions) -> Plan:
        """What :meth:`apply_definitions` would change, without writing.

        Raises:
            DefinitionError: every problem in the definitions.
        """
        with self._engine.connect() as conn:
            return definitions.plan(conn, project, defs)

    def apply_definitions(
        self, project: str, defs: Definitions, *, actor: str, status: Literal["draft", "active"] = "active"
    ) -> Plan:
        """Apply a repo's definitions in one transaction (retried on a write conflict).

        Unchanged definitions are a no-op; minor changes add a minor version; breaking changes a
        new major version with its own Delta table. New versions start as ``status``.

        Returns:
            The plan that was applied.

        Raises:
            DefinitionError: every problem in the definitions (nothing is written).
        """
        if status not in ("draft", "active"):
            raise RegistryError(f"apply creates versions as 'draft' or 'active', not {status!r}")
        return run_write(
            self._engine, lambda conn: definitions.apply(conn, project, defs, actor=actor, status=status)
        )

    def apply_lock(self, project: str, *, timeout_s: float = 600.0) -> AbstractContextManager[None]:
        """Hold the project's apply lock (one ``apply`` of both registries at a time).

        Raises:
            RegistryError: another apply held it for ``timeout_s`` seconds.
        """
        from featurelake.registry.stores.projects import apply_lock

        return apply_lock(self._engine, project, timeout_s=timeout_s)

    def set_status(
        self,
        project: str,
        name: str,
        version: str | int | None,
        status: Status,
        *,
        reason: str,
        actor: str,
        force: bool = False,
        object_type: Literal["view", "service"] | None = None,
    ) -> tuple[str, str, str]:
        """Change the lifecycle status of a view version (``"3.1"``, ``"3"`` = newest minor of 3) or service version.

        Allowed: draft -> active -> deprecated -> archived, and deprecated -> active.

        Returns:
            (version, old status, new status).

        Raises:
            RegistryError: illegal transition, empty reason, or active feature services depend on
                the view version (listed) and ``force`` is false.
        """
        return run_write(
            self._engine,
            lambda conn: lifecycle.set_status(
                conn,
                project=project,
                name=name,
                version=version,
                status=status,
                reason=reason,
                actor=actor,
                force=force,
                object_type=object_type,
            ),
        )

    def edit_view_metadata(
        self,
        project: str,
        view: str,
        version: str | int | None,
        *,
        actor: str,
        description: str | None = None,
        owner: str | None = None,
        tags: dict[str, str] | None = None,
        reason: str = "",
    ) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """Curate a view version's description, owner and tags (None keeps a field), audited.

        The applied definition and its hash are unchanged; a version ``apply`` creates later
        takes the repo's values again.

        Returns:
            (version, the changed fields before, after); both empty when nothing changed.

        Raises:
            RegistryError: unknown view or version, an archived version, or bad values.
        """
        return run_write(
            self._engine,
            lambda conn: views.edit_metadata(
                conn,
                project=project,
                view=view,
                version=version,
                actor=actor,
                description=description,
                owner=owner,
                tags=tags,
                reason=reason,
            ),
        )

    # ---------------------------------------------------------------- runs

    def start_run(
        self,
        project: str,
        kind: RunKind,
        params: dict[str, Any],
        actor: str,
        *,
        target: str | None = None,
        lease: timedelta = DEFAULT_LEASE,
        exclusive_span: tuple[str, str] | None = None,
    ) -> str:
        """Record a running job; returns its run id.

        Args:
            project: project name.
            kind: backfill, materialize, training-set or maintenance.
            params: JSON-serialisable parameters (dates become ISO strings).
            actor: who started it.
            target: what the run works on (default: ``params["view"]``, ``["training_set"]``,
                ``["service"]`` or ``["table"]``); used by :meth:`last_successful_run`.
            lease: the run shows as ``abandoned`` if no heartbeat arrives within this time.
            exclusive_span: (start, end) ISO days this run holds; a live run of the same kind and
                target with an overlapping span makes this one fail with RunConflictError.

        Raises:
            RunConflictError: an overlapping live run holds the target.
        """
        run_id = run_write(
            self._engine,
            lambda conn: runs.start(
                conn,
                project=project,
                kind=kind,
                params=params,
                actor=actor,
                target=target,
                lease=lease,
                exclusive_span=exclusive_span,
            ),
        )
        self._notify(run_id, started=True)
        return run_id

    def heartbeat(self, run_id: str, *, lease: timedelta = DEFAULT_LEASE) -> None:
        """Extend a running run's lease (call at least every ``lease``)."""
        run_write(self._engine, lambda conn: runs.heartbeat(conn, run_id, lease=lease))

    def cancel_run(self, run_ref: str, *, actor: str, reason: str) -> str:
        """Mark a running run whose process died as failed (cancelled); returns its full id.

        Args:
            run_ref: the run id or a unique prefix of it (at least 4 characters).
            actor: who cancels it (audited).
            reason: why (audited, shown as the run's error).

        Raises:
            RegistryError: unknown or ambiguous id, or the run already finished.
        """
        return run_write(self._engine, lambda conn: runs.cancel(conn, run_ref, actor=actor, reason=reason))

    def finish_run(
        self,
        run_id: str,
        *,
        status: Literal["succeeded", "failed"],
        rows_in: int | None = None,
        rows_out: int | None = None,
        inputs: Sequence[TableVersion | dict[str, Any]] = (),
        outputs: Sequence[TableVersion | dict[str, Any]] = (),
        error: str | None = None,
        report: dict[str, Any] | None = None,
        lineage_edges: Sequence[tuple[Node, Node]] = (),
        actor: str | None = None,
    ) -> None:
        """Record a run's result, and the lineage edges it produced, in one transaction.

        Args:
            run_id: from :meth:`start_run`.
            status: succeeded or failed.
            rows_in: rows read.
            rows_out: rows written.
            inputs: Delta tables read, ``{"table": ..., "version": ...}``.
            outputs: Delta tables written, ``{"table": ..., "version": ...}``.
            error: error text of a failed run.
            report: any JSON-serialisable report (validation results, timings).
            lineage_edges: ``(src, dst)`` pairs recorded with this run id.
            actor: who finished it (default: who started it).

        Raises:
            RegistryError: unknown run, or it already finished.
        """

        def write(conn: Connection) -> None:
            project = runs.finish(
                conn,
                run_id,
                status=status,
                rows_in=rows_in,
                rows_out=rows_out,
                inputs=list(inputs),
                outputs=list(outputs),
                error=error,
                report=report,
                actor=actor,
            )
            for src, dst in lineage_edges:
                lineage.add_edge(conn, project=project, src=src, dst=dst, run_id=run_id)

        run_write(self._engine, write)
        self._notify(run_id, started=False)

    def finish_monitor_run(
        self,
        run_id: str,
        *,
        checks: Sequence[MonitorCheck],
        rows_in: int | None = None,
        inputs: Sequence[TableVersion | dict[str, Any]] = (),
        outputs: Sequence[TableVersion | dict[str, Any]] = (),
        report: dict[str, Any] | None = None,
        lineage_edges: Sequence[tuple[Node, Node]] = (),
    ) -> None:
        """Finish a monitor run as succeeded with its check outcomes and lineage, in one transaction.

        Raises:
            RegistryError: unknown or finished run, or a check with an unknown status.
        """

        def write(conn: Connection) -> None:
            project = runs.finish(
                conn,
                run_id,
                status="succeeded",
                rows_in=rows_in,
                rows_out=len(checks),
                inputs=list(inputs),
                outputs=list(outputs),
                error=None,
                report=report,
                actor=None,
            )
            monitoring.insert_checks(conn, project=project, run_id=run_id, checks=checks)
            for src, dst in lineage_edges:
                lineage.add_edge(conn, project=project, src=src, dst=dst, run_id=run_id)

        run_write(self._engine, write)
        self._notify(run_id, started=False)

    def set_watermark(
        self,
        project: str,
        view: str,
        major: int,
        name: str,
        value: datetime,
        *,
        actor: str,
        run_id: str | None = None,
    ) -> None:
        """Set a named watermark of a view major version (e.g. ``materialize`` = last event time written)."""
        run_write(
            self._engine,
            lambda conn: runs.set_watermark(
                conn,
                project=project,
                view=view,
                major=major,
                name=name,
                value=value,
                run_id=run_id,
                actor=actor,
            ),
        )

    # ---------------------------------------------------------------- lineage

    def add_lineage_edge(
        self, src: Node, dst: Node, *, project: str | None = None, run_id: str | None = None
    ) -> bool:
        """Record ``src -> dst``; the project is the run's unless given. Returns False if it existed.

        Raises:
            RegistryError: neither ``project`` nor ``run_id`` given, or a self-edge.
        """

        def write(conn: Connection) -> bool:
            proj = project
            if proj is None:
                if run_id is None:
                    raise RegistryError(f"lineage edge {src} -> {dst} needs project= or run_id=")
                proj = runs.get(conn, run_id).project
            return lineage.add_edge(conn, project=proj, src=src, dst=dst, run_id=run_id)

        return run_write(self._engine, write)

    # ---------------------------------------------------------------- training sets

    def register_training_set(
        self,
        project: str,
        name: str,
        *,
        service: str,
        service_version: int,
        entity_source: TableVersion | dict[str, Any],
        feature_tables: Sequence[TableVersion | dict[str, Any]],
        features: Sequence[str],
        output: TableVersion | dict[str, Any],
        row_count: int,
        checksum: str,
        actor: str,
        run_id: str | None = None,
    ) -> int:
        """Register the next version of a training set with its pinned inputs and lineage; returns the version."""
        return run_write(
            self._engine,
            lambda conn: training.register(
                conn,
                project=project,
                name=name,
                service=service,
                service_version=service_version,
                entity_source=entity_source,
                feature_tables=list(feature_tables),
                features=list(features),
                output=output,
                row_count=row_count,
                checksum=checksum,
                actor=actor,
                run_id=run_id,
            ),
        )

    def register_model(
        self,
        project: str,
        name: str,
        *,
        training_set: str,
        training_set_version: int,
        actor: str,
        uri: str = "",
        run_id: str | None = None,
    ) -> None:
        """Record a model trained on a training set version (lineage leaf)."""
        run_write(
            self._engine,
            lambda conn: training.register_model(
                conn,
                project=project,
                name=name,
                uri=uri,
                training_set=training_set,
                training_set_version=training_set_version,
                actor=actor,
                run_id=run_id,
            ),
        )

    # ---------------------------------------------------------------- erasure

    def create_erasure_request(
        self,
        project: str,
        *,
        join_keys: Sequence[JoinKey],
        salt: str,
        key_hashes: Sequence[str],
        reason: str,
        actor: str,
        dry_run: bool = False,
        options: dict[str, Any] | None = None,
    ) -> str:
        """Record a running erasure request (salted key hashes only); returns its id.

        Raises:
            RegistryError: an empty reason.
        """
        return run_write(
            self._engine,
            lambda conn: erasure.create(
                conn,
                project=project,
                join_keys=join_keys,
                salt=salt,
                key_hashes=key_hashes,
                reason=reason,
                actor=actor,
                dry_run=dry_run,
                options=dict(options or {}),
            ),
        )

    def record_erasure_step(
        self,
        request_id: str,
        step: str,
        *,
        kind: str,
        target: str,
        actor: str,
        version_before: int | None = None,
        version_after: int | None = None,
        rows_removed: int | None = None,
        detail: dict[str, Any] | None = None,
    ) -> bool:
        """Record one finished step of a request; False if that step was already recorded."""
        return run_write(
            self._engine,
            lambda conn: erasure.record_step(
                conn,
                request_id=request_id,
                step=step,
                kind=kind,
                target=target,
                actor=actor,
                version_before=version_before,
                version_after=version_after,
                rows_removed=rows_removed,
                detail=detail,
            ),
        )

    def finish_erasure_request(
        self, request_id: str, *, status: Literal["succeeded", "failed"], report: dict[str, Any], actor: str
    ) -> None:
        """Set a request's final status and its report."""
        run_write(
            self._engine,
            lambda conn: erasure.finish(conn, request_id, status=status, report=report, actor=actor),
        )

    def reopen_erasure_request(self, request_id: str, *, actor: str) -> None:
        """Mark an interrupted or failed request running again (resume).

        Raises:
            RegistryError: the request already succeeded.
        """
        run_write(self._engine, lambda conn: erasure.reopen(conn, request_id, actor=actor))

    def mark_training_set_erasure(
        self,
        project: str,
        name: str,
        version: int,
        *,
        request_id: str,
        state: Literal["holds_erased_data", "superseded"],
        actor: str,
        superseded_by: int | None = None,
    ) -> bool:
        """Mark a training set version as holding erased data or superseded by a rewritten version."""
        return run_write(
            self._engine,
            lambda conn: erasure.mark_training_set(
                conn,
                project=project,
                name=name,
                version=version,
                request_id=request_id,
                state=state,
                actor=actor,
                superseded_by=superseded_by,
            ),
        )


def open_registry(
    url: str, *, connect_timeout_s: float = 5, ready: bool = True, create: bool = True
) -> Registry:
    """Connect to a registry database.

    Args:
        url: SQLAlchemy URL: ``postgresql+psycopg://...`` or ``sqlite:///path``.
        connect_timeout_s: give up connecting after this many seconds.
        ready: call :meth:`Registry.ensure_ready` (SQLite auto-migrates; PostgreSQL must be
            migrated). Pass False for ``migrate`` itself.
        create: a SQLite registry that does not exist yet may be created (the library default).
            Commands other than ``apply`` / ``registry init`` pass False, so a mistyped path is
            refused instead of becoming a new, empty registry.

    Raises:
        ServiceUnavailableError: the database did not answer within the timeout.
        RegistryError: a bad URL, or PostgreSQL migrations are behind.
    """
    engine = make_engine(url, connect_timeout_s=connect_timeout_s, create=create)
    try:
        check_connection(engine)
        registry = Registry(engine)
        if ready:
            registry.ensure_ready()
    except BaseException:
        engine.dispose()
        raise
    return registry
