"""OpenLineage run events for job runs: START when a run is recorded, COMPLETE or FAIL when it ends.

Attached to a :class:`~featurelake.registry.Registry` as its run listener by
:func:`featurelake.jobs.wiring.open_job_registry` when ``openlineage.transport`` is set, so every
job that records a run (backfill, materialize, training set, monitor, stream, retention) emits
the same events from ONE place: the registry's ``start_run`` / ``finish_run``. The run id of an
event IS the registry run's id, and its datasets are the inputs and outputs the run recorded:

- a Delta table: namespace and name by OpenLineage's naming rules (``file`` + absolute path, or
  ``s3://bucket`` + key), with the ``version`` facet (the Delta version read or written), the
  ``featurelake_delta`` facet (table name, Delta version, URI), ``storage`` (delta/parquet),
  ``symlinks`` (``<project>.<table>`` in the job namespace) and, on COMPLETE and FAIL,
  ``schema`` (read from the Delta log at that version);
- the Redis online store a materialization wrote: ``redis://<first node>`` + ``<project>/<view>``
  with ``storage`` (redis) and ``featurelake_online`` (the registry's lineage node);
- a training set's table also carries ``featurelake_training_set`` (name, version, checksum).

A FAIL event carries the ``errorMessage`` facet (the run's recorded error and, when the job is
failing inside an exception handler, its Python stack trace). A run started while another run
is live in the same thread, or under an orchestrator that sets ``OPENLINEAGE_PARENT_ID``
(``namespace/job/runId``, as Airflow's OpenLineage provider passes it), carries the ``parent``
facet. Events are serialized by the openlineage-python client's own classes and transports.

Emission never fails or changes a job: every error is logged as a warning and counted
(:attr:`OpenLineageEmitter.failed`).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import traceback
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import attr
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    DatasetFacet,
    RunFacet,
    dataset_version_dataset,
    error_message_run,
    job_type_job,
    output_statistics_output_dataset,
    parent_run,
    processing_engine_run,
    schema_dataset,
    storage_dataset,
    symlinks_dataset,
)

if TYPE_CHECKING:
    from openlineage.client import OpenLineageClient

    from featurelake.config.settings import Settings
    from featurelake.lakehouse.storage import StorageRoot
    from featurelake.registry.types import Run as RegistryRun
    from featurelake.registry.types import TableVersion

log = logging.getLogger("featurelake.openlineage")


def _version(dist: str) -> str:
    try:
        return package_version(dist)
    except PackageNotFoundError:
        return "0"


FEATURELAKE_VERSION = _version("featurelake")
#: The ``producer`` of every event and facet (a URI, as the spec asks).
PRODUCER = f"urn:featurelake:{FEATURELAKE_VERSION}"
_FACET_SCHEMA = "urn:featurelake:openlineage:facets:1#/$defs/"
#: The env variable an orchestrator sets to make featurelake's runs children of its own run.
PARENT_ENV = "OPENLINEAGE_PARENT_ID"
_STACK_TRACE_CHARS = 8000


# --------------------------------------------------------------------------- custom facets


@attr.define
class FeaturelakeDeltaDatasetFacet(DatasetFacet):
    """A Delta table as featurelake's registry records it: name and the version read or written."""

    table: str
    version: int | None = attr.field(default=None)
    uri: str = attr.field(default="")

    @staticmethod
    def _get_schema() -> str:
        return _FACET_SCHEMA + "FeaturelakeDeltaDatasetFacet"


@attr.define
class FeaturelakeOnlineDatasetFacet(DatasetFacet):
    """The Redis cluster online store of one view (the registry's lineage node ``redis://project/view``)."""

    node: str
    project: str
    view: str

    @staticmethod
    def _get_schema() -> str:
        return _FACET_SCHEMA + "FeaturelakeOnlineDatasetFacet"


@attr.define
class FeaturelakeTrainingSetDatasetFacet(DatasetFacet):
    """The training set version a run registered (its Delta table is the dataset)."""

    name: str
    version: int | None = attr.field(default=None)
    checksum: str | None = attr.field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return _FACET_SCHEMA + "FeaturelakeTrainingSetDatasetFacet"


@attr.define
class FeaturelakeRunFacet(RunFacet):
    """The registry's record of the run: kind, target, who ran it, status, rows and parameters."""

    project: str
    kind: str
    target: str
    actor: str
    status: str
    rowsIn: int | None = attr.field(default=None)  # noqa: N815 - OpenLineage facets use camelCase
    rowsOut: int | None = attr.field(default=None)  # noqa: N815
    params: dict[str, Any] = attr.field(factory=dict)

    @staticmethod
    def _get_schema() -> str:
        return _FACET_SCHEMA + "FeaturelakeRunFacet"


# --------------------------------------------------------------------------- datasets


@dataclass(frozen=True)
class JobRef:
    """A run of a job, as a parent facet names it."""

    namespace: str
    name: str
    run_id: str


def job_name(run: RegistryRun) -> str:
    """``<project>.<kind>.<target>`` (``<project>.<kind>`` for a run without a target)."""
    return ".".join(p for p in (run.project, run.kind, run.target) if p)


def delta_dataset_id(uri: str) -> tuple[str, str]:
    """OpenLineage (namespace, name) of a Delta table URI: ``s3://bucket`` + key, or ``file`` + path."""
    parsed = urlparse(uri)
    if parsed.scheme in ("s3", "s3a", "gs", "abfss", "az"):
        return f"{'s3' if parsed.scheme == 's3a' else parsed.scheme}://{parsed.netloc}", parsed.path.strip(
            "/"
        )
    if parsed.scheme == "file":
        return "file", parsed.path
    return "file", os.path.abspath(uri)


class DatasetNamer:
    """Turns the ``{"table", "version"}`` entries a run recorded into OpenLineage datasets."""

    def __init__(self, settings: Settings, *, schema_facets: bool) -> None:
        from featurelake.lakehouse.storage import StorageRoot

        self.namespace = settings.openlineage.namespace
        self.nodes = sorted(settings.online.nodes)
        self.schema_facets = schema_facets
        self._root: StorageRoot | None = None
        self._root_error: str | None = None
        try:
            self._root = StorageRoot.parse(settings.storage_root, settings.storage.storage_options())
        except Exception as err:  # noqa: BLE001 - names alone still identify tables
            self._root_error = str(err)

    def _uri(self, table: str) -> str:
        if "://" in table or table.startswith("/"):
            return table
        if self._root is None:
            raise ValueError(f"the storage root is unusable ({self._root_error})")
        return self._root.table_uri(table)

    def _schema(self, uri: str, version: int) -> schema_dataset.SchemaDatasetFacet | None:
        from deltalake import DeltaTable

        options = self._root.delta_options() if self._root is not None and uri.startswith("s3://") else None
        try:
            fields = DeltaTable(uri, version=version, storage_options=options).schema().fields
        except Exception as err:  # noqa: BLE001 - a schema facet is a nicety; the event goes out without it
            log.info("OpenLineage: no schema facet for %s@%s: %s", uri, version, err)
            return None
        return schema_dataset.SchemaDatasetFacet(
            fields=[
                schema_dataset.SchemaDatasetFacetFields(
                    name=f.name, type=str(getattr(f.type, "type", None) or f.type), ordinal_position=i + 1
                )
                for i, f in enumerate(fields)
            ],
            producer=PRODUCER,
        )

    def facets(
        self, entry: TableVersion, run: RegistryRun, *, with_schema: bool
    ) -> tuple[str, str, dict[str, DatasetFacet]]:
        """(namespace, name, facets) of one recorded input or output."""
        if entry.table.startswith("redis://"):
            project, _, view = entry.table[len("redis://") :].partition("/")
            namespace = f"redis://{self.nodes[0]}" if self.nodes else "redis://online-store"
            return (
                namespace,
                f"{project}/{view}",
                {
                    "storage": storage_dataset.StorageDatasetFacet(storageLayer="redis", producer=PRODUCER),
                    "featurelake_online": FeaturelakeOnlineDatasetFacet(
                        node=entry.table, project=project, view=view, producer=PRODUCER
                    ),
                },
            )
        uri = self._uri(entry.table)
        namespace, name = delta_dataset_id(uri)
        found: dict[str, DatasetFacet] = {
            "featurelake_delta": FeaturelakeDeltaDatasetFacet(
                table=entry.table, version=entry.version, uri=uri, producer=PRODUCER
            ),
            "storage": storage_dataset.StorageDatasetFacet(
                storageLayer="delta", fileFormat="parquet", producer=PRODUCER
            ),
            "symlinks": symlinks_dataset.SymlinksDatasetFacet(
                identifiers=[
                    symlinks_dataset.Identifier(
                        namespace=self.namespace, name=f"{run.project}.{entry.table}", type="TABLE"
                    )
                ],
                producer=PRODUCER,
            ),
        }
        if entry.version is not None:
            found["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
                datasetVersion=str(entry.version), producer=PRODUCER
            )
            if with_schema and self.schema_facets:
                schema = self._schema(uri, entry.version)
                if schema is not None:
                    found["schema"] = schema
        return namespace, name, found


# --------------------------------------------------------------------------- events


def _parent_from_env() -> JobRef | None:
    value = os.environ.get(PARENT_ENV, "").strip()
    if not value:
        return None
    namespace, _, rest = value.partition("/")
    name, _, run_id = rest.rpartition("/")
    try:
        uuid.UUID(run_id)
    except ValueError:
        log.warning(
            "OpenLineage: %s=%r is not namespace/job/runId with a UUID run id; runs get no parent facet",
            PARENT_ENV,
            value,
        )
        return None
    if not namespace or not name:
        log.warning(
            "OpenLineage: %s=%r has no namespace or job name; runs get no parent facet", PARENT_ENV, value
        )
        return None
    return JobRef(namespace, name, run_id)


def build_event(
    run: RegistryRun,
    state: RunState,
    *,
    namer: DatasetNamer,
    parent: JobRef | None = None,
    stack_trace: str | None = None,
) -> RunEvent:
    """The OpenLineage event for one state of a registry run.

    Args:
        run: the run as the registry recorded it (after the write committed).
        state: START, COMPLETE or FAIL.
        namer: turns the run's recorded tables into datasets.
        parent: the run this one runs inside, if any.
        stack_trace: the Python traceback of a failing job (FAIL only).

    Returns:
        The event (serialize with ``openlineage.client.serde.Serde``).
    """
    finished = state != RunState.START
    run_facets: dict[str, RunFacet] = {
        "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
            version=FEATURELAKE_VERSION,
            name="featurelake",
            openlineageAdapterVersion=_version("openlineage-python"),
            producer=PRODUCER,
        ),
        "featurelake_run": FeaturelakeRunFacet(
            project=run.project,
            kind=run.kind,
            target=run.target,
            actor=run.actor,
            status=run.status,
            rowsIn=run.rows_in,
            rowsOut=run.rows_out,
            params=dict(run.params),
            producer=PRODUCER,
        ),
    }
    if parent is not None:
        run_facets["parent"] = parent_run.ParentRunFacet(
            run=parent_run.Run(runId=parent.run_id),
            job=parent_run.Job(namespace=parent.namespace, name=parent.name),
            producer=PRODUCER,
        )
    if state == RunState.FAIL:
        run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=run.error or "failed (no message recorded)",
            programmingLanguage="python",
            stackTrace=stack_trace,
            producer=PRODUCER,
        )
    inputs = []
    for entry in run.inputs if finished else ():
        namespace, name, facets = namer.facets(entry, run, with_schema=True)
        inputs.append(InputDataset(namespace=namespace, name=name, facets=facets))
    outputs = []
    for entry in run.outputs if finished else ():
        namespace, name, facets = namer.facets(entry, run, with_schema=True)
        out_facets: dict[str, Any] = {}
        if state == RunState.COMPLETE and len(run.outputs) == 1 and run.rows_out is not None:
            out_facets["outputStatistics"] = (
                output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                    rowCount=run.rows_out, producer=PRODUCER
                )
            )
        if run.kind == "training-set" and run.report and "training_set_version" in run.report:
            facets["featurelake_training_set"] = FeaturelakeTrainingSetDatasetFacet(
                name=run.target,
                version=run.report.get("training_set_version"),
                checksum=run.report.get("checksum"),
                producer=PRODUCER,
            )
        outputs.append(OutputDataset(namespace=namespace, name=name, facets=facets, outputFacets=out_facets))
    when = run.finished_at if finished and run.finished_at is not None else run.started_at
    return RunEvent(
        eventType=state,
        eventTime=when.isoformat(),
        run=Run(runId=run.run_id, facets=run_facets),
        job=Job(
            namespace=namer.namespace,
            name=job_name(run),
            facets={
                "jobType": job_type_job.JobTypeJobFacet(
                    processingType="STREAMING" if run.kind == "stream" else "BATCH",
                    integration="FEATURELAKE",
                    jobType=run.kind.upper().replace("-", "_"),
                    producer=PRODUCER,
                )
            },
        ),
        inputs=inputs,
        outputs=outputs,
        producer=PRODUCER,
    )


def build_client(settings: Settings) -> OpenLineageClient:
    """An openlineage-python client with the transport ``settings.openlineage.transport`` describes.

    Raises:
        ValueError: no transport is configured, or its URL is unusable.
    """
    from openlineage.client import OpenLineageClient

    transport_settings = settings.openlineage.transport
    if transport_settings is None:
        raise ValueError("openlineage.transport is not set")
    if transport_settings.type == "file":
        from openlineage.client.transport.file import FileConfig, FileTransport

        path = Path(transport_settings.path).expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        transport: Any = FileTransport(FileConfig(log_file_path=str(path), append=True))
    else:
        from openlineage.client.transport.http import (
            ApiKeyTokenProvider,
            HttpConfig,
            HttpTransport,
            TokenProvider,
        )
        from openlineage.client.transport.http_common import DEFAULT_RETRY_CONFIG

        token_provider = TokenProvider({})
        if transport_settings.api_key_env:
            key = os.environ.get(transport_settings.api_key_env)
            if not key:
                raise ValueError(
                    f"openlineage.transport.api_key_env names {transport_settings.api_key_env!r}, which is not "
                    f"set; export it or remove api_key_env"
                )
            token_provider = ApiKeyTokenProvider({"api_key": key})
        retries = transport_settings.retries
        transport = HttpTransport(
            HttpConfig(
                url=transport_settings.url,
                endpoint=transport_settings.endpoint,
                timeout=transport_settings.timeout_s,
                auth=token_provider,
                retry={**DEFAULT_RETRY_CONFIG, "total": retries, "connect": retries, "read": retries},
            )
        )
    # config={} still lets OPENLINEAGE_DISABLED=true and the client's own yaml/env facets apply
    return OpenLineageClient(transport=transport, config={})


_ACTIVE: ContextVar[tuple[JobRef, ...]] = ContextVar("featurelake_openlineage_active_runs", default=())


class OpenLineageEmitter:
    """A registry run listener that sends OpenLineage events; never raises.

    Attributes:
        emitted: events sent.
        failed: events that could not be built or sent (each logged as a warning).
    """

    def __init__(self, settings: Settings, *, client: OpenLineageClient | None = None) -> None:
        self.emitted = 0
        self.failed = 0
        self._lock = threading.Lock()
        self._parents: dict[str, JobRef | None] = {}
        self._target = _describe_transport(settings)
        self.namer = DatasetNamer(settings, schema_facets=settings.openlineage.schema_facets)
        self._client_error: str | None = None
        self.client: OpenLineageClient | None = client
        if client is None:
            try:
                self.client = build_client(settings)
            except Exception as err:  # noqa: BLE001 - lineage must never stop a job from running
                self._client_error = str(err)
                log.warning("OpenLineage: events are off for this job: %s", err)

    def __repr__(self) -> str:
        return f"OpenLineageEmitter({self._target})"

    def run_started(self, run: RegistryRun) -> None:
        """Send START; the run becomes the parent of runs started inside it (same thread)."""
        active = _ACTIVE.get()
        parent = active[-1] if active else _parent_from_env()
        self._parents[run.run_id] = parent
        _ACTIVE.set((*active, JobRef(self.namer.namespace, job_name(run), run.run_id)))
        self._emit(run, RunState.START, parent)

    def run_finished(self, run: RegistryRun) -> None:
        """Send COMPLETE (succeeded) or FAIL (failed, with the error message facet)."""
        _ACTIVE.set(tuple(r for r in _ACTIVE.get() if r.run_id != run.run_id))
        parent = self._parents.pop(run.run_id) if run.run_id in self._parents else _parent_from_env()
        if run.status == "succeeded":
            self._emit(run, RunState.COMPLETE, parent)
            return
        trace = None
        exc = sys.exc_info()[1]  # finish_run(status="failed") is called from the job's except block
        if exc is not None:
            trace = "".join(traceback.format_exception(exc))[-_STACK_TRACE_CHARS:]
        self._emit(run, RunState.FAIL, parent, stack_trace=trace)

    def _emit(
        self, run: RegistryRun, state: RunState, parent: JobRef | None, *, stack_trace: str | None = None
    ) -> None:
        try:
            if self.client is None:
                raise RuntimeError(self._client_error or "no OpenLineage client")
            event = build_event(run, state, namer=self.namer, parent=parent, stack_trace=stack_trace)
            self.client.emit(event)
        except Exception as err:  # noqa: BLE001 - an emission failure never fails or changes the job
            with self._lock:
                self.failed += 1
                failed = self.failed
            log.warning(
                "OpenLineage: could not send the %s event of %s run %s to %s: %s: %s "
                "(the run itself is unaffected; %d event(s) failed in this process)",
                state.value,
                run.kind,
                run.run_id,
                self._target,
                type(err).__name__,
                str(err)[:500],
                failed,
            )
            return
        with self._lock:
            self.emitted += 1


def _describe_transport(settings: Settings) -> str:
    transport = settings.openlineage.transport
    if transport is None:
        return "nowhere (openlineage.transport is not set)"
    if transport.type == "file":
        return f"file {transport.path}"
    return f"{transport.url.rstrip('/')}/{transport.endpoint.lstrip('/')}"
