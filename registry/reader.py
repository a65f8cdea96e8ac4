"""The read side of the registry: every query jobs, the CLI and reviewers need."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from featurelake.errors import RegistryError
from featurelake.registry.database import current_revision, describe, schema_revision
from featurelake.registry.stores import (
    audit,
    erasure,
    lifecycle,
    lineage,
    monitoring,
    runs,
    services,
    training,
    views,
)
from featurelake.registry.types import (
    AuditEntry,
    DataSource,
    Direction,
    Entity,
    ErasureRequest,
    LineageEdge,
    MonitorCheck,
    Node,
    Purpose,
    Run,
    RunKind,
    ServiceVersion,
    TrainingSet,
    TrainingSetErasure,
    ViewVersion,
)


class RegistryReader:
    """Read-only access to one registry database. Each call runs in its own short transaction."""

    def __init__(self, engine: Engine):
        self._engine = engine

    @property
    def url(self) -> str:
        """The database URL without the password."""
        return describe(self._engine)

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for tests and tools; prefer the methods)."""
        return self._engine

    def dispose(self) -> None:
        """Close pooled connections."""
        self._engine.dispose()

    # ---------------------------------------------------------------- schema

    def revision(self) -> str | None:
        """The migration revision the database is at (None: empty database)."""
        with self._engine.connect() as conn:
            return current_revision(conn)

    def check_schema(self) -> None:
        """Raise unless the database is at the revision this code expects.

        Raises:
            RegistryError: migrations are behind (or ahead), naming the fix.
        """
        have, want = self.revision(), schema_revision()
        if have == want:
            return
        if have is None:
            raise RegistryError(
                f"the registry database {self.url} has no featurelake schema; run `featurelake registry migrate`"
            )
        if int(have) < int(want):
            raise RegistryError(
                f"the registry database {self.url} is at migration {have}, this featurelake needs {want}; "
                "run `featurelake registry migrate`"
            )
        raise RegistryError(
            f"the registry database {self.url} is at migration {have}, newer than this featurelake ({want}); "
            "upgrade featurelake"
        )

    # ---------------------------------------------------------------- definitions

    def get_view_version(self, project: str, view: str, version: str | int | None = None) -> ViewVersion:
        """One feature view version.

        Args:
            project: project name.
            view: feature view name.
            version: ``"3"`` (newest minor of major 3), ``"3.1"`` (exactly), or None (the newest
                ACTIVE version, else the newest non-archived one).

        Raises:
            RegistryError: unknown view or version.
        """
        with self._engine.connect() as conn:
            return views.get_view_version(conn, project, view, version)

    def list_view_versions(self, project: str, view: str) -> list[ViewVersion]:
        """Every version of a view, oldest first."""
        with self._engine.connect() as conn:
            return views.list_view_versions(conn, project, view)

    def list_views(self, project: str, *, include_removed: bool = False) -> list[ViewVersion]:
        """The current version of every view (newest active, else newest non-archived)."""
        with self._engine.connect() as conn:
            return views.list_views(conn, project, include_removed=include_removed)

    def get_service_version(
        self, project: str, service: str, version: int | str | None = None
    ) -> ServiceVersion:
        """One feature service version (None = newest active, else newest non-archived).

        Raises:
            RegistryError: unknown service or version.
        """
        with self._engine.connect() as conn:
            return services.get_service_version(conn, project, service, version)

    def list_service_versions(self, project: str, service: str) -> list[ServiceVersion]:
        """Every version of a service, oldest first."""
        with self._engine.connect() as conn:
            return services.list_service_versions(conn, project, service)

    def list_services(self, project: str) -> list[ServiceVersion]:
        """The current version of every service."""
        with self._engine.connect() as conn:
            return services.list_services(conn, project)

    def list_entities(self, project: str) -> list[Entity]:
        """Every entity of a project."""
        with self._engine.connect() as conn:
            return views.list_entities(conn, project)

    def list_sources(self, project: str) -> list[DataSource]:
        """Every data source of a project."""
        with self._engine.connect() as conn:
            return views.list_sources(conn, project)

    def assert_usable(
        self, project: str, view: str, version: str | int | None, purpose: Purpose
    ) -> ViewVersion:
        """The view version if it may be used for ``purpose``.

        Archived versions cannot be backfilled, materialized, served or trained on (only read
        to reproduce a training set); drafts cannot be served.

        Raises:
            RegistryError: naming the version, its status and the fix.
        """
        with self._engine.connect() as conn:
            return lifecycle.assert_usable(conn, project, view, version, purpose)

    def dependents(self, project: str, view: str, major: int) -> list[str]:
        """Active feature service versions (``name@version``) using a view's major version."""
        with self._engine.connect() as conn:
            vid = views.view_id(conn, project, view)
            return [] if vid is None else lifecycle.view_dependents(conn, vid, major)

    # ---------------------------------------------------------------- runs

    def get_run(self, run_id: str) -> Run:
        """One job run (status ``abandoned`` when a running run's lease expired)."""
        with self._engine.connect() as conn:
            return runs.get(conn, run_id)

    def list_runs(
        self,
        project: str,
        *,
        kind: RunKind | None = None,
        status: str | None = None,
        target: str | None = None,
        limit: int = 50,
    ) -> list[Run]:
        """Runs, newest first, optionally filtered."""
        with self._engine.connect() as conn:
            return runs.list_runs(conn, project, kind=kind, status=status, target=target, limit=limit)

    def check_run_span(self, project: str, kind: RunKind, target: str, span: tuple[str, str]) -> None:
        """Refuse early what :meth:`start_run` with ``exclusive_span`` would refuse (read-only).

        Raises:
            RunConflictError: a live run of ``kind`` on ``target`` holds an overlapping span.
        """
        with self._engine.connect() as conn:
            runs.check_span(conn, project, kind, target, span)

    def last_successful_run(self, project: str, kind: RunKind, view: str) -> Run | None:
        """The newest succeeded run of ``kind`` whose target is ``view`` (or training set name)."""
        with self._engine.connect() as conn:
            return runs.last_successful(conn, project, kind, view)

    def get_watermark(
        self, project: str, view: str, major: int, name: str = "materialize"
    ) -> datetime | None:
        """A named watermark of a view major version (e.g. the last materialized event time)."""
        with self._engine.connect() as conn:
            return runs.get_watermark(conn, project, view, major, name)

    # ---------------------------------------------------------------- lineage

    def lineage(
        self, project: str, node: Node, *, direction: Direction = "downstream", depth: int = 3
    ) -> list[LineageEdge]:
        """Edges reachable from ``node`` within ``depth`` hops, nearest first.

        Raises:
            RegistryError: the node is not in the lineage graph.
        """
        with self._engine.connect() as conn:
            return lineage.traverse(conn, project, node, direction=direction, depth=depth)

    # ---------------------------------------------------------------- training sets

    def get_training_set(self, project: str, name: str, version: int | None = None) -> TrainingSet:
        """A training set version (None = newest)."""
        with self._engine.connect() as conn:
            return training.get(conn, project, name, version)

    def list_training_sets(self, project: str, name: str | None = None) -> list[TrainingSet]:
        """Training set versions, newest first per name."""
        with self._engine.connect() as conn:
            return training.list_all(conn, project, name)

    # ---------------------------------------------------------------- erasure

    def get_erasure_request(self, request_id: str) -> ErasureRequest:
        """One erasure request with its finished steps.

        Raises:
            RegistryError: unknown request id.
        """
        with self._engine.connect() as conn:
            return erasure.get(conn, request_id)

    def list_erasure_requests(
        self, project: str, *, status: str | None = None, limit: int = 50
    ) -> list[ErasureRequest]:
        """Erasure requests of a project, newest first (``status``: running, succeeded, failed)."""
        with self._engine.connect() as conn:
            return erasure.list_requests(conn, project, status=status, limit=limit)

    def training_set_erasures(
        self, project: str, name: str | None = None, version: int | None = None
    ) -> list[TrainingSetErasure]:
        """The erasure marks (holds erased data / superseded) of training set versions."""
        with self._engine.connect() as conn:
            return erasure.training_set_marks(conn, project, name, version)

    # ---------------------------------------------------------------- monitoring

    def monitor_checks(
        self,
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
        """Monitor check outcomes, newest first, filtered by view, feature, metric, status, run or time.

        Args:
            project: project name.
            view: one view's checks.
            feature: one feature's checks ("" for the view-level ones).
            metric: one metric (``psi``, ``freshness_offline``, ...).
            status: ``ok``, ``warn`` or ``fail``.
            run_id: one monitor run's checks.
            since: recorded at or after this time.
            until: recorded at or before this time.
            latest_run: only each view's newest succeeded monitor run.
            limit: at most this many.
        """
        with self._engine.connect() as conn:
            return monitoring.query(
                conn,
                project,
                view=view,
                feature=feature,
                metric=metric,
                status=status,
                run_id=run_id,
                since=since,
                until=until,
                latest_run=latest_run,
                limit=limit,
            )

    # ---------------------------------------------------------------- audit

    def audit(
        self,
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
        """Audit log entries, newest first, filtered by any of the arguments (``until`` inclusive)."""
        with self._engine.connect() as conn:
            return audit.entries(
                conn,
                project=project,
                object_type=object_type,
                object_key=object_key,
                object_prefix=object_prefix,
                action=action,
                since=since,
                until=until,
                actor=actor,
                limit=limit,
            )
