"""The online SDK: ``get_online_features`` over the Redis cluster, with on-demand features.

A :class:`FeatureCatalog` holds what a request can name (Feast feature views, on-demand
feature views and feature services from the feature repo, plus each view's registry status);
:class:`OnlineFeatureClient` resolves a request against it, reads every needed view in one
pipelined round trip per cluster node, enforces TTLs, runs on-demand transforms over request
data and looked-up values, and returns values with a status each (Feast's ``FieldStatus``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from featurelake.errors import DefinitionError, RegistryError
from featurelake.lakehouse.online import (
    ClusterClient,
    FeatureColumn,
    FeatureStatus,
    InvalidRequestError,
    OnlineReader,
    OnlineView,
    RetryPolicy,
    ViewRequest,
)

_FEAST_DTYPE_KIND: dict[str, str] = {
    "Int32": "int32",
    "Int64": "int64",
    "Float32": "float",
    "Float64": "double",
    "String": "string",
    "Bytes": "bytes",
    "Bool": "bool",
    "UnixTimestamp": "unix_timestamp",
}
_ARRAY = re.compile(r"^Array\((\w+)\)$")


def kind_of_feast_dtype(dtype: str) -> str:
    """Our value kind for a Feast type name (``Float64``, ``Array(Int64)``, or ``INT64``).

    Raises:
        DefinitionError: a type the online store does not support.
    """
    if dtype in _FEAST_DTYPE_KIND:
        return _FEAST_DTYPE_KIND[dtype]
    m = _ARRAY.match(dtype)
    if m and m.group(1) in _FEAST_DTYPE_KIND:
        return _FEAST_DTYPE_KIND[m.group(1)] + "_list"
    lowered = dtype.lower()
    from featurelake.lakehouse.online.encoding import VALUE_KINDS

    if lowered in VALUE_KINDS:
        return lowered
    raise DefinitionError(
        f"Feast type {dtype!r} is not supported by the online store; use one of "
        f"{sorted(_FEAST_DTYPE_KIND)} or Array(...) of them"
    )


def online_view_from_feast(feature_view: Any) -> OnlineView:
    """The online layout of a Feast ``FeatureView``."""
    join_keys = tuple((c.name, c.dtype.to_value_type().name.lower()) for c in feature_view.entity_columns)
    features = tuple((f.name, f.dtype.to_value_type().name.lower()) for f in feature_view.features)
    ttl = feature_view.ttl if feature_view.ttl and feature_view.ttl > timedelta(0) else None
    return OnlineView(name=feature_view.name, join_keys=join_keys, features=features, ttl=ttl)


def online_view_from_registry(version: Any) -> OnlineView:
    """The online layout of a registry ``ViewVersion``."""
    return OnlineView(
        name=version.name,
        join_keys=tuple((k.name, kind_of_feast_dtype(k.dtype)) for k in version.entities),
        features=tuple((f.name, kind_of_feast_dtype(f.dtype)) for f in version.features),
        ttl=version.ttl if version.ttl and version.ttl > timedelta(0) else None,
    )


@dataclass(frozen=True)
class FeastErrorClass:
    """How Feast's feature server reports a request error: one of its own error classes.

    ``featurelake serve`` answers an :class:`InvalidRequestError` carrying one (its ``feast``
    attribute) as ``feast serve`` does: ``status`` and the body ``{"module": "feast.errors",
    "class": feast_class, "message": ...}`` (as a JSON string), the message starting with
    Feast's own text.

    Attributes:
        feast_class: the class in ``feast.errors`` Feast raises.
        message: the message Feast gives it.
        status: the HTTP status ``featurelake serve`` answers with.
    """

    feast_class: str
    message: str
    status: int


def feast_request_error(problems: list[str] | str, feast: FeastErrorClass) -> InvalidRequestError:
    """An :class:`InvalidRequestError` (``problems``: our messages) that Feast reports as ``feast``."""
    err = InvalidRequestError(problems)
    err.feast = feast  # type: ignore[attr-defined]
    return err


@dataclass(frozen=True)
class ServiceState:
    """The registry's word on one feature service reference (``name`` or ``name:vN``).

    Attributes:
        version: the service version the reference means, ``"name:vN"``.
        status: that version's lifecycle status (``active``, ``deprecated``, ``archived``...).
        archived_views: view versions it pins that are archived (``"view v1"``), which the
            online store no longer serves.
    """

    version: str
    status: str
    archived_views: tuple[str, ...] = ()


@dataclass
class FeatureCatalog:
    """What online requests may name.

    Attributes:
        project: the Feast project (suffix of every Redis key).
        views: feature view name -> online layout.
        on_demand: on-demand feature view name -> Feast ``OnDemandFeatureView``.
        services: service name (or ``name:vN``) -> ``[(view or on-demand view, features)]``.
        statuses: view name -> registry status (``active``, ``archived``...); missing = unknown.
        service_states: service name and ``name:vN`` -> registry status; missing = unknown
            (no registry, or a service that was never applied).
    """

    project: str
    views: dict[str, OnlineView] = field(default_factory=dict)
    on_demand: dict[str, Any] = field(default_factory=dict)
    services: dict[str, list[tuple[str, tuple[str, ...]]]] = field(default_factory=dict)
    statuses: dict[str, str] = field(default_factory=dict)
    service_states: dict[str, ServiceState] = field(default_factory=dict)

    @classmethod
    def from_feast(
        cls,
        project: str,
        *,
        feature_views: Sequence[Any] = (),
        on_demand_feature_views: Sequence[Any] = (),
        feature_services: Sequence[Any] = (),
        statuses: Mapping[str, str] | None = None,
    ) -> FeatureCatalog:
        """Build a catalog from Feast objects (e.g. ``featurelake.repo.load_repo(...)``'s)."""
        services = {
            s.name: [(p.name_to_use(), tuple(f.name for f in p.features)) for p in s.feature_view_projections]
            for s in feature_services
        }
        return cls(
            project=project,
            views={fv.name: online_view_from_feast(fv) for fv in feature_views if fv.online},
            on_demand={o.name: o for o in on_demand_feature_views},
            services=services,
            statuses=dict(statuses or {}),
        )

    def resolve(
        self, *, features: Sequence[str] | None, feature_service: str | None
    ) -> list[tuple[str, str]]:
        """``[(view, feature)]`` for a feature list or a service, in request order.

        Raises:
            InvalidRequestError: both or neither given, an unknown view/feature/service or
                service version, an archived service version, an archived or draft view
                (every problem listed).
        """
        if bool(features) == bool(feature_service):
            raise InvalidRequestError(
                "give either features=[...] or feature_service=..., not both or neither"
            )
        if feature_service:
            refs = [(v, f) for v, feats in self.services[self._service(feature_service)] for f in feats]
        else:
            refs = []
            bad = []
            for ref in features or []:
                view, sep, feat = ref.partition(":")
                if not sep or not view or not feat:
                    bad.append(
                        f"feature reference {ref!r} is not 'view:feature'; write e.g. 'driver_stats:conv_rate'"
                    )
                    continue
                refs.append((view, feat))
            if bad:
                raise InvalidRequestError(bad)
        problems = []
        unknown_views: list[str] = []
        for view, feat in refs:
            status = self.statuses.get(view)
            if status == "archived":
                problems.append(
                    f"feature view {view!r} is archived and cannot be served ({view}:{feat}); "
                    "request features of an active view instead"
                )
            elif status == "draft":
                problems.append(
                    f"feature view {view!r} is a draft and cannot be served; activate it with "
                    f"`featurelake registry status set {view} active`"
                )
            elif view in self.views:
                if feat not in self.views[view].feature_names:
                    problems.append(
                        f"feature view {view!r} has no feature {feat!r}; its features are {self.views[view].feature_names}"
                    )
            elif view in self.on_demand:
                names = [f.name for f in self.on_demand[view].features]
                if feat not in names:
                    problems.append(
                        f"on-demand view {view!r} has no feature {feat!r}; its features are {names}"
                    )
            else:
                unknown_views.append(view)
                problems.append(
                    f"unknown feature view {view!r} in {view}:{feat}; known views: "
                    f"{sorted([*self.views, *self.on_demand])}"
                )
        if unknown_views:
            raise feast_request_error(
                list(dict.fromkeys(problems)),
                FeastErrorClass(
                    "FeatureViewNotFoundException",
                    f"Feature view {unknown_views[0]} does not exist in project {self.project}",
                    status=404,
                ),
            )
        if problems:
            raise InvalidRequestError(list(dict.fromkeys(problems)))
        return refs

    def _service(self, ref: str) -> str:
        """The ``services`` key a service reference (``name`` or ``name:vN``) means, if it may be served.

        Raises:
            InvalidRequestError: an unknown service or version, or an archived service version
                (or one pinning an archived view version).
        """
        name, sep, _ = ref.partition(":")
        versions = sorted(k for k in self.services if k.startswith(f"{name}:"))
        if ref not in self.services:
            if not sep or name not in self.services or versions:
                known = sorted(k for k in self.services if ":" not in k)
                raise feast_request_error(
                    f"feature service {ref!r} does not exist; known services: {known}"
                    + (f"; versions of {name!r}: {versions}" if versions else ""),
                    FeastErrorClass(
                        "FeatureServiceNotFoundException",
                        f"Feature service {ref} does not exist in project {self.project}",
                        status=404,
                    ),
                )
            ref = name  # no registry: the repo's definition is the only version there is
        state = self.service_states.get(ref)
        if state is not None and state.status == "archived":
            if ref == name:
                fix = (
                    f"every version of {name!r} is archived; change its definition and run "
                    "`featurelake apply` to create a new version, or request another service"
                )
            else:
                fix = f"request an active version (`featurelake registry show {name}` lists them)"
            raise InvalidRequestError(
                f"feature service {state.version} is archived and cannot be served; {fix} "
                "(archived versions cannot be re-activated)"
            )
        if state is not None and state.archived_views:
            raise InvalidRequestError(
                f"feature service {state.version} ({state.status}) uses archived view version(s) "
                f"{list(state.archived_views)}, which are no longer served; request a version of "
                f"{name!r} built on active views (`featurelake registry show {name}`)"
            )
        return ref


@dataclass
class OnlineResponse:
    """The result of :meth:`OnlineFeatureClient.get_online_features`.

    ``columns`` are in the order Feast's feature server gives them: the request's join keys
    (in request order), then the requested features of each feature view (views in the order
    the request first names them, an on-demand view naming its source views at its place),
    then each on-demand view's requested outputs (in its transformation's output order). A
    column is named ``feature`` or ``view__feature`` (``full_feature_names``).

    Attributes:
        views: the feature views read, in that order (Feast's ``feature_view_metadata``).
    """

    names: list[str]
    values: list[list[Any]]
    statuses: list[list[FeatureStatus]]
    event_timestamps: list[list[datetime | None]]
    views: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, list[Any]]:
        """Column name -> values (like Feast's ``OnlineResponse.to_dict()``)."""
        return dict(zip(self.names, self.values, strict=True))

    def status_dict(self) -> dict[str, list[str]]:
        """Column name -> status names."""
        return {n: [s.value for s in col] for n, col in zip(self.names, self.statuses, strict=True)}

    def to_feast_json(self, *, include_feature_view_version_metadata: bool = False) -> dict[str, Any]:
        """Feast's feature server response: ``{"results": [...], "metadata": {"feature_names"}}``.

        Keys, column order and timestamps (RFC 3339, fractional digits as protobuf's JSON
        mapping writes them; 1970-01-01 for none) are Feast's; statuses are ours.

        Args:
            include_feature_view_version_metadata: add ``metadata.feature_view_metadata``
                (``[{"name": view}]`` per view read; featurelake's views are not Feast-versioned).
        """
        results = []
        for values, statuses, stamps in zip(self.values, self.statuses, self.event_timestamps, strict=True):
            results.append(
                {
                    "values": [_jsonable(v) for v in values],
                    "statuses": [s.value for s in statuses],
                    "event_timestamps": [_feast_timestamp(t) for t in stamps],
                }
            )
        metadata: dict[str, Any] = {"feature_names": list(self.names)}
        if include_feature_view_version_metadata:
            metadata["feature_view_metadata"] = [{"name": v} for v in self.views]
        return {"results": results, "metadata": metadata}


def _feast_timestamp(t: datetime | None) -> str:
    """``t`` as Feast's feature server writes a protobuf Timestamp: no fraction, or 3 or 6 digits."""
    if t is None:
        return "1970-01-01T00:00:00Z"
    t = t.astimezone(UTC)
    base = t.strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond == 0:
        return base + "Z"
    if t.microsecond % 1000 == 0:
        return f"{base}.{t.microsecond // 1000:03d}Z"
    return f"{base}.{t.microsecond:06d}Z"


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode()
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value


def _rows(entity_rows: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    if isinstance(entity_rows, Mapping):
        lengths = {k: len(v) for k, v in entity_rows.items()}
        if len(set(lengths.values())) > 1:
            raise InvalidRequestError(
                f"entity columns have different lengths {lengths}; give one value per row in each"
            )
        n = next(iter(lengths.values()), 0)
        return [{k: entity_rows[k][i] for k in entity_rows} for i in range(n)]
    return [dict(r) for r in entity_rows]


class OnlineFeatureClient:
    """Reads online features for a project.

    Args:
        catalog: what requests may name.
        client: the Redis cluster client.
    """

    def __init__(self, catalog: FeatureCatalog, client: ClusterClient):
        self.catalog = catalog
        self.client = client
        self.reader = OnlineReader(client, project=catalog.project)

    @classmethod
    def connect(
        cls,
        catalog: FeatureCatalog,
        nodes: Sequence[str],
        *,
        password: str | None = None,
        username: str | None = None,
        ssl: bool = False,
        ssl_ca_file: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> OnlineFeatureClient:
        """Connect to the cluster at ``nodes`` (the slot map is read now: fails fast if it is down).

        Args:
            catalog: what requests may name.
            nodes: seed nodes ``host:port``.
            password: AUTH password (token), if the cluster has one.
            username: Redis 6+ ACL user for ``password`` (None: the default user).
            ssl: connect with TLS.
            ssl_ca_file: PEM CA bundle to trust besides the system CAs.
            retry: retry policy (default: a few quick attempts).

        Returns:
            A connected client.

        Raises:
            ConfigError: the password or the TLS trust is wrong (retrying cannot help).
            ServiceUnavailableError: the cluster does not answer.
        """
        client = ClusterClient(
            nodes,
            password=password,
            username=username,
            ssl=ssl,
            ssl_ca_file=ssl_ca_file,
            socket_timeout=1.0,
            connect_timeout=0.5,
            retry=retry or RetryPolicy(max_attempts=3, backoff_initial=0.05, deadline_seconds=3.0),
        )
        client.refresh()
        return cls(catalog, client)

    def get_online_features(
        self,
        *,
        entity_rows: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]],
        features: Sequence[str] | None = None,
        feature_service: str | None = None,
        full_feature_names: bool = False,
        now: datetime | None = None,
    ) -> OnlineResponse:
        """Look up features for entity rows, computing on-demand features in the same call.

        Args:
            entity_rows: join key (and request data) values: a list of row dicts or a dict of columns.
            features: ``"view:feature"`` references (of feature views or on-demand views).
            feature_service: a service name (instead of ``features``).
            full_feature_names: name columns ``view__feature`` instead of ``feature``.
            now: the time TTLs are measured from (default: now).

        Returns:
            Values and a status per value, join key columns first.

        Raises:
            InvalidRequestError: unknown view/feature/service or entity key name, an archived
                view, a value of the wrong type, missing request data (all problems listed).
            ServiceUnavailableError: the cluster did not answer within seconds.
        """
        if isinstance(features, str):  # one reference; iterating the string would list every character
            features = [features]
        rows = _rows(entity_rows)
        refs = self.catalog.resolve(features=features, feature_service=feature_service)
        _check_name_collisions(refs, full_feature_names)
        cat = self.catalog
        # Base features to read, per view in the order Feast's server lists views: each view where
        # the request first names it, an on-demand view naming its source views at its place.
        needed: dict[str, list[str]] = {}
        request_fields: set[str] = set()
        odfvs = list(dict.fromkeys(v for v, _ in refs if v in cat.on_demand))
        for view, feat in refs:
            if view in cat.views:
                if feat not in needed.setdefault(view, []):
                    needed[view].append(feat)
                continue
            odfv = cat.on_demand[view]
            for proj in odfv.source_feature_view_projections.values():
                if proj.name not in cat.views:
                    raise InvalidRequestError(
                        f"on-demand view {view!r} reads view {proj.name!r}, which is not online"
                    )
                for f in proj.features:
                    if f.name not in needed.setdefault(proj.name, []):
                        needed[proj.name].append(f.name)
            request_fields.update(odfv.get_request_data_schema())
        join_keys = list(dict.fromkeys(k for v in needed for k in cat.views[v].join_key_names))
        # Like Feast, every join key of the project the request gives comes back (in request order)
        # and other names are ignored, unless a needed join key is missing: then they are named,
        # as they are most likely misspelt join keys.
        given = list(dict.fromkeys(k for r in rows for k in r))
        project_keys = {k for v in cat.views.values() for k in v.join_key_names}
        problems = []
        unknown = sorted(set(given) - project_keys - request_fields)
        if unknown and any(k not in r for r in rows for k in join_keys):
            problems.append(
                f"unknown entity key name(s) {unknown} in entity rows; the requested features use join keys "
                f"{join_keys}" + (f" and request data {sorted(request_fields)}" if request_fields else "")
            )
        if not rows or not any(rows):
            problems.append(
                f"no entity rows: give one or more values for the join keys {join_keys}"
                + (f" and request data {sorted(request_fields)}" if request_fields else "")
                + ", e.g. entities={"
                + ", ".join(f'"{k}": [...]' for k in join_keys)
                + "}"
            )
        missing = sorted(f for f in request_fields if any(f not in r for r in rows))
        if missing and rows:
            raise feast_request_error(
                [
                    f"request data {missing} is missing from some entity rows; on-demand features need it",
                    *problems,
                ],
                FeastErrorClass(
                    "RequestDataNotFoundInEntityRowsException",
                    f"Required request data source features {missing} not found in the entity rows, "
                    "but required by feature views",
                    status=404,
                ),
            )
        if problems:
            raise InvalidRequestError(problems)
        columns = self.reader.read(
            [ViewRequest(cat.views[v], tuple(fs)) for v, fs in needed.items()], rows, now=now
        )
        by_ref = {c.ref: c for c in columns}
        for name in odfvs:
            by_ref.update(_run_on_demand(cat.on_demand[name], by_ref, rows))
        n = len(rows)
        keys_out = [k for k in given if k in project_keys]
        names = list(keys_out)
        values: list[list[Any]] = [[r.get(k) for r in rows] for k in keys_out]
        statuses = [[FeatureStatus.PRESENT] * n for _ in keys_out]
        stamps: list[list[datetime | None]] = [[None] * n for _ in keys_out]
        wanted = set(refs)
        ordered = [(v, f) for v in needed for f in needed[v] if (v, f) in wanted]
        # on-demand outputs: per on-demand view, in its transformation's output order (by_ref's)
        ordered += [
            (v, f) for ref in by_ref for v, _, f in [ref.partition(":")] if v in odfvs and (v, f) in wanted
        ]
        for view, feat in ordered:
            col = by_ref[f"{view}:{feat}"]
            names.append(f"{view}__{feat}" if full_feature_names else feat)
            values.append(col.values)
            statuses.append(col.statuses)
            stamps.append(col.event_timestamps)
        return OnlineResponse(names, values, statuses, stamps, views=list(needed))


def _check_name_collisions(refs: Sequence[tuple[str, str]], full_feature_names: bool) -> None:
    """Refuse two requested features that would get the same column name (Feast does too).

    Raises:
        FeastRequestError: ``FeatureNameCollisionError``, naming the colliding references.
    """
    names = [f"{v}__{f}" if full_feature_names else f for v, f in refs]
    counts = Counter(names)
    clashing = [f"{v}:{f}" for (v, f), name in zip(refs, names, strict=True) if counts[name] > 1]
    if not clashing:
        return
    dup = ", ".join(dict.fromkeys(n for n in names if counts[n] > 1))
    if full_feature_names:
        fix = (
            "To resolve this collision, please ensure that the feature views or their own features have "
            "different names. If you're intentionally joining the same feature view twice on different sets "
            "of entities, please rename one of the feature views with '.with_name'."
        )
    else:
        fix = (
            "To resolve this collision, either use the full feature name by setting 'full_feature_names=True', "
            "or ensure that the features in question have different names."
        )
    raise feast_request_error(
        f"features {list(dict.fromkeys(clashing))} would all be returned as column(s) {dup}; request each "
        "once" + ("" if full_feature_names else ", or set full_feature_names=true"),
        FeastErrorClass(
            "FeatureNameCollisionError",
            f"Duplicate features named {dup} found.\n{fix}",
            status=400,
        ),
    )


def _run_on_demand(
    odfv: Any, by_ref: dict[str, FeatureColumn], rows: list[dict[str, Any]]
) -> dict[str, FeatureColumn]:
    """Run one on-demand view over looked-up values and request data."""
    inputs: dict[str, list[Any]] = {}
    for proj in odfv.source_feature_view_projections.values():
        for f in proj.features:
            col = by_ref[f"{proj.name}:{f.name}"]
            inputs[f.name] = list(col.values)
            inputs[f"{proj.name}__{f.name}"] = inputs[f.name]
    for name in odfv.get_request_data_schema():
        inputs[name] = [r[name] for r in rows]
    try:
        if odfv.mode == "pandas":
            import pandas as pd

            out_df = odfv.feature_transformation.transform(pd.DataFrame(inputs))
            output = {c: out_df[c].tolist() for c in out_df.columns}
        elif getattr(odfv, "singleton", False):
            per_row = [odfv.transform_dict({k: v[i] for k, v in inputs.items()}) for i in range(len(rows))]
            output = {f.name: [r.get(f.name) for r in per_row] for f in odfv.features}
        else:
            output = odfv.transform_dict(inputs)
    except Exception as err:
        raise DefinitionError(
            f"on-demand feature view {odfv.name!r} failed: {type(err).__name__}: {err}; fix its transformation"
        ) from err
    declared = [f.name for f in odfv.features]
    # the transformation's output order first (Feast's server returns them in that order)
    order = [c for c in output if c in declared] + [c for c in declared if c not in output]
    result = {}
    for name in order:
        vals = list(output.get(name, [None] * len(rows)))
        stat = [FeatureStatus.NULL_VALUE if v is None or v != v else FeatureStatus.PRESENT for v in vals]
        # no event time: computed at request time (Feast's server gives none either)
        col = FeatureColumn(odfv.name, name, vals, stat, [None] * len(rows))
        result[col.ref] = col
    return result


def catalog_from_repo(
    repo: Any, project: str, *, status_of: Callable[[], Mapping[str, str]] | None = None
) -> FeatureCatalog:
    """A catalog from a loaded feature repo (``featurelake.repo.load_repo``) and registry statuses."""
    return FeatureCatalog.from_feast(
        project,
        feature_views=repo.feature_views,
        on_demand_feature_views=repo.on_demand_feature_views,
        feature_services=repo.feature_services,
        statuses=status_of() if status_of else None,
    )


def find_feature_repo(settings: Any) -> Path | None:
    """The feature repo folder: ``settings.feature_repo`` (relative to the working directory, else
    to the settings file's folder), else the working directory when it is a Feast repo (holds
    ``feature_store.yaml``: ``featurelake serve`` started inside ``feature_repo/``, as Feast users
    run ``feast serve``). None if there is none.
    """
    configured = Path(settings.feature_repo)
    candidates = [configured]
    source = getattr(settings, "source_file", None)
    if not configured.is_absolute() and source is not None:
        candidates.append(Path(source).resolve().parent / configured)
    for path in candidates:
        if path.is_dir():
            return path
    cwd = Path.cwd()
    return cwd if (cwd / "feature_store.yaml").is_file() else None


def load_catalog(settings: Any, *, registry: Any | None = None) -> FeatureCatalog:
    """The catalog for ``settings.project``: the feature repo's views, on-demand views and services,
    with statuses (and versioned services ``name:vN``) from the registry when one is given.

    Raises:
        DefinitionError: the feature repo does not load.
        RegistryError: the registry cannot be read.
    """
    views: list[Any] = []
    odfvs: list[Any] = []
    services: list[Any] = []
    repo_path = find_feature_repo(settings)
    if repo_path is not None:
        from featurelake.repo import load_repo

        repo = load_repo(repo_path)
        views, odfvs, services = repo.feature_views, repo.on_demand_feature_views, repo.feature_services
    catalog = FeatureCatalog.from_feast(
        settings.project, feature_views=views, on_demand_feature_views=odfvs, feature_services=services
    )
    if registry is not None:
        for vv in registry.list_views(settings.project):
            catalog.statuses[vv.name] = vv.status
            if vv.entities and vv.name not in catalog.on_demand:  # on-demand views have no stored values
                catalog.views.setdefault(vv.name, online_view_from_registry(vv))
        names = {s.name for s in services} | {s.name for s in registry.list_services(settings.project)}
        for name in sorted(names):
            _add_service_versions(catalog, registry, settings.project, name)
    return catalog


def _add_service_versions(catalog: FeatureCatalog, registry: Any, project: str, name: str) -> None:
    """Every registry version of service ``name`` as ``name:vN``, and ``name``'s current status."""
    try:
        versions = registry.list_service_versions(project, name)
    except RegistryError:
        return  # in the feature repo but never applied: nothing the registry can say
    archived_majors: dict[tuple[str, int], bool] = {}
    for sv in versions:
        ref = f"{name}:v{sv.version}"
        catalog.services[ref] = [(f.view, tuple(f.features)) for f in sv.views]
        pinned = []
        for part in sv.views:
            key = (part.view, part.view_major)
            if key not in archived_majors:
                try:
                    status = registry.get_view_version(project, part.view, str(part.view_major)).status
                except RegistryError:
                    status = "unknown"
                archived_majors[key] = status == "archived"
            if archived_majors[key]:
                pinned.append(f"{part.view} v{part.view_major}")
        catalog.service_states[ref] = ServiceState(ref, sv.status, tuple(pinned))
    # ``name`` alone means what the registry resolves it to (newest active, else newest
    # non-archived); when every version is archived, the newest, which _service() refuses.
    try:
        current = registry.get_service_version(project, name)
    except RegistryError:
        current = versions[-1] if versions else None
    if current is not None:
        catalog.services.setdefault(name, catalog.services[f"{name}:v{current.version}"])
        catalog.service_states[name] = catalog.service_states[f"{name}:v{current.version}"]


def connect(settings: Any, catalog: FeatureCatalog) -> OnlineFeatureClient:
    """An SDK client for ``settings.online`` (fails fast if the cluster is down).

    Raises:
        ConfigError: no nodes configured, an unset ``*_env`` variable, or a wrong password or TLS trust.
        ServiceUnavailableError: the cluster does not answer.
    """
    online = settings.online
    return OnlineFeatureClient.connect(
        catalog,
        online.nodes,
        password=online.password(),
        username=online.username(),
        ssl=online.ssl,
        ssl_ca_file=online.ca_file(),
    )


def _offline_latest(spark: Any, lakehouse: Any, vv: Any, view: OnlineView, now: datetime) -> Any:
    from pyspark.sql import functions as F

    from featurelake.lakehouse.online.spark_writer import latest_per_entity

    cols = [*view.join_key_names, "event_timestamp", "created_timestamp", *view.feature_names]
    df = lakehouse.read(spark, vv.table_name, columns=cols).where(F.col("event_timestamp") <= F.lit(now))
    return latest_per_entity(df, join_keys=view.join_key_names)


def check_online(
    spark: Any,
    *,
    settings: Any,
    registry: Any,
    lakehouse: Any,
    view: str,
    sample: int,
    seed: int = 0,
    now: datetime | None = None,
) -> Any:
    """Compare online values with the offline latest-as-of-now values for ``sample`` entities.

    Returns:
        A :class:`featurelake.lakehouse.online.consistency.CheckReport`.

    Raises:
        RegistryError: unknown or archived view.
        ServiceUnavailableError: Redis is down.
    """
    from pyspark.sql import functions as F

    from featurelake.lakehouse.online.consistency import compare

    vv = registry.assert_usable(settings.project, view, None, "serve")
    online_view = online_view_from_registry(vv)
    now = now or datetime.now(UTC)
    latest = _offline_latest(spark, lakehouse, vv, online_view, now)
    rows = [r.asDict() for r in latest.orderBy(F.rand(seed)).limit(sample).collect()]
    client = connect(settings, FeatureCatalog(settings.project)).client
    return compare(OnlineReader(client, project=settings.project), online_view, rows, now=now)


def estimate_online_size(
    spark: Any, *, settings: Any, registry: Any, lakehouse: Any, view: str, sample: int, seed: int = 0
) -> Any:
    """Estimate the view's Redis memory from ``sample`` of its entities.

    Returns:
        A :class:`featurelake.lakehouse.online.sizing.SizeEstimate`.
    """
    from pyspark.sql import functions as F

    from featurelake.lakehouse.online.sizing import estimate_size

    vv = registry.assert_usable(settings.project, view, None, "serve")
    online_view = online_view_from_registry(vv)
    keys_df = lakehouse.read(spark, vv.table_name, columns=online_view.join_key_names).distinct()
    entities = keys_df.count()
    keys = [list(r) for r in keys_df.orderBy(F.rand(seed)).limit(sample).collect()]
    client = connect(settings, FeatureCatalog(settings.project)).client
    return estimate_size(
        client, project=settings.project, view=online_view, sample_keys=keys, entities=entities
    )
