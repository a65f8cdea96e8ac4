"""Push events into a view's event log (``featurelake push``, ``POST /push``).

Pushed rows are raw events of a stream feature view (its source columns: entity columns, event
time, aggregated columns), checked against the view's event schema (every problem names its
column; nothing is appended when one is wrong) and appended to the view's Redis Stream, which
the streaming job (``featurelake stream run --view V --source redis``) folds into the view's
windows, its Delta table and Redis.

Feast's push request has ``to``: ``online``, ``offline`` or ``online_and_offline``. Here every
pushed event goes through the stream, which writes BOTH sinks from the same aggregation (that
is what keeps online and offline values equal); ``to`` is accepted for compatibility and
recorded, never used to write one sink alone.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from featurelake.errors import ConfigError, FeatureStoreError, RegistryError

if TYPE_CHECKING:
    import pyarrow as pa

    from featurelake.config.settings import Settings

PUSH_MODES = ("online", "offline", "online_and_offline")


@dataclass(frozen=True)
class PushResult:
    """Where the rows went."""

    view: str
    key: str
    rows: int
    first_id: str | None
    last_id: str | None


# registry changes that can change what a push resolves to: views applied, their status moved
_VIEW_CHANGES = ("view", "view_version")


@dataclass
class Pusher:
    """Resolves views to their event logs and appends validated rows (one per process; thread-safe).

    What a view's pushes are checked against (its stream definition and event schema, read
    from the registry and the source table's Delta log) and which view a push source name
    feeds are cached, and dropped as soon as the registry records a change to a view (a new
    version applied, a status moved: a newer audit entry of a view): each push costs one small
    registry query instead of reading every view's definition.

    Attributes:
        settings: featurelake settings (project, online nodes, storage).
        registry: a registry reader (views, push sources).
    """

    settings: Settings
    registry: Any
    _views: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    _sources: dict[str, str] = field(default_factory=dict)
    _seen: tuple[int, ...] | None = None
    _client: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _fresh(self) -> None:
        """Drop the caches when the registry recorded a change to a view since they were filled."""
        token = tuple(
            next(
                (e.id for e in self.registry.audit(project=self.settings.project, object_type=kind, limit=1)),
                0,
            )
            for kind in _VIEW_CHANGES
        )
        with self._lock:
            if token != self._seen:
                self._views.clear()
                self._sources.clear()
                self._seen = token

    def _resolve(self, view: str) -> tuple[Any, pa.Schema]:
        from featurelake.jobs.stream_plan import event_schema, stream_definition
        from featurelake.jobs.wiring import lakehouse_from_settings

        cached = self._views.get(view)
        if cached is None:
            vv = self.registry.assert_usable(self.settings.project, view, None, "materialize")
            definition = stream_definition(vv)
            schema = event_schema(lakehouse_from_settings(self.settings), definition)
            cached = self._views[view] = (definition, schema)
        return cached

    def client(self) -> Any:
        """The cluster client (opened on first use)."""
        from featurelake.jobs.materialize import redis_target

        if self._client is None:
            self._client = redis_target(self.settings).client()
        return self._client

    def push(self, view: str, table: pa.Table, *, to: str = "online_and_offline") -> PushResult:
        """Validate ``table`` against the view's event schema and append it to its event log.

        Raises:
            ConfigError: ``to`` is not a Feast push mode.
            RegistryError: unknown or archived view.
            DefinitionError: the view cannot stream (not an aggregation view).
            InvalidEventsError: a missing, unknown, null or mistyped column (named); nothing appended.
            ServiceUnavailableError: Redis did not accept the rows.
        """
        from featurelake.lakehouse.streaming.event_log import (
            append_events,
            conform_rows,
            encode_rows,
            event_log_key,
        )

        if to not in PUSH_MODES:
            raise ConfigError(f"to={to!r} is not one of {', '.join(PUSH_MODES)}")
        self._fresh()
        definition, schema = self._resolve(view)
        rows = conform_rows(view, table, schema, required=definition.required_columns)
        key = event_log_key(self.settings.project, view)
        ids = append_events(
            self.client(), key, encode_rows(rows), replica_acks=self.settings.online.replica_acks
        )
        return PushResult(view, key, len(ids), ids[0] if ids else None, ids[-1] if ids else None)

    def view_for_push_source(self, name: str) -> str:
        """The stream view a Feast push source name feeds: a view of that name, or the one view
        whose source table is the push source's name.

        Raises:
            RegistryError: no view or several views match (named).
        """
        from featurelake.jobs.stream_plan import stream_definition

        self._fresh()
        found = self._sources.get(name)
        if found is not None:
            return found
        views = {v.name: v for v in self.registry.list_views(self.settings.project)}
        if name in views:
            self._sources[name] = name
            return name
        matches = []
        for v in views.values():
            try:
                if stream_definition(v).source == name:
                    matches.append(v.name)
            except FeatureStoreError:  # a view that cannot stream (not an aggregation view) does not match
                continue
        if len(matches) == 1:
            self._sources[name] = matches[0]
            return matches[0]
        if not matches:
            raise RegistryError(
                f"push source {name!r} feeds no stream feature view of project {self.settings.project!r}; "
                f"name a view ({', '.join(sorted(views)) or 'none registered'}) or its source table"
            )
        raise RegistryError(
            f"push source {name!r} feeds several views ({', '.join(sorted(matches))}); push to one view by name"
        )

    def close(self) -> None:
        """Close the Redis connections."""
        if self._client is not None:
            self._client.close()
            self._client = None


def read_rows_file(path: str) -> pa.Table:
    """Rows from a parquet (or CSV / JSON lines) file.

    Raises:
        ConfigError: the file does not exist or cannot be read.
    """
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.json as pjson
    import pyarrow.parquet as pq

    try:
        if path.endswith(".csv"):
            return pcsv.read_csv(path)
        if path.endswith((".json", ".jsonl")):
            return pjson.read_json(path)
        return pq.read_table(path)
    except FileNotFoundError:
        raise ConfigError(f"--file {path!r} does not exist; give a parquet, CSV or JSON-lines file") from None
    except (pa.ArrowInvalid, OSError) as err:
        raise ConfigError(f"--file {path!r} cannot be read as parquet/CSV/JSON lines: {err}") from None
