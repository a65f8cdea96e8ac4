"""Plan/apply: load the Feast repo, then write featurelake's registry AND Feast's registry.

Order of an apply (both halves are idempotent, so re-running converges after any failure):

1. ``load_repo`` imports the repo and collects every definition problem (one DefinitionError);
2. our registry plans the change (more problems, e.g. a service naming a missing feature);
3. Feast's registry is applied (``FeatureStore.apply`` with the repo's feature_store.yaml;
   when our registry is PostgreSQL, Feast's ``sql`` registry shares that database);
4. our registry is applied in one transaction (retried on a concurrent-writer conflict).
"""

from __future__ import annotations

import json
import os
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import yaml

from featurelake.config.settings import OnlineSettings
from featurelake.errors import ConfigError, DefinitionError
from featurelake.registry import (
    Definitions,
    EntityDef,
    FeatureDef,
    JoinKey,
    Plan,
    Registry,
    ServiceDef,
    SourceDef,
    ViewDef,
)


def _source_def(source: Any) -> SourceDef:
    location = ""
    for attr in ("path", "table", "query", "file_url"):
        value = getattr(source, attr, None)
        if isinstance(value, str) and value:
            location = value
            break
    return SourceDef(
        name=source.name,
        kind=type(source).__name__,
        location=location,
        timestamp_field=getattr(source, "timestamp_field", "") or "",
        description=getattr(source, "description", "") or "",
        owner=getattr(source, "owner", "") or "",
        tags=dict(getattr(source, "tags", {}) or {}),
    )


def definitions_from_repo(contents: Any) -> Definitions:
    """Turn a loaded repo (``featurelake.repo.RepoContents``) into registry definitions.

    The view's stored definition is ``featurelake.spec.view_definition`` (Feast fields plus the
    spec's serialisable form, transformation text included), so the version rules follow the
    spec's breaking/non-breaking split.
    """
    from featurelake.spec import view_definition

    entities = tuple(
        EntityDef(
            name=e.name,
            join_keys=(JoinKey(e.join_key, e.value_type.name),),
            description=e.description or "",
            owner=e.owner or "",
            tags=dict(e.tags or {}),
        )
        for e in contents.entities
    )
    sources = tuple(_source_def(s) for s in contents.data_sources)
    views = []
    for fv in contents.feature_views:
        spec = contents.spec(fv.name)
        definition = view_definition(fv, spec)
        transform = definition["breaking"].get("transform")
        views.append(
            ViewDef(
                name=fv.name,
                entities=tuple(fv.entities),
                features=tuple(
                    FeatureDef(f.name, str(f.dtype), f.description or "", dict(f.tags or {}))
                    for f in fv.features
                ),
                ttl=fv.ttl,
                source=getattr(fv.batch_source, "name", "") or "",
                transformation="" if transform is None else json.dumps(transform, sort_keys=True, indent=1),
                description=fv.description or "",
                owner=fv.owner or "",
                tags=dict(fv.tags or {}),
                definition=definition,
            )
        )
    for odfv in getattr(contents, "on_demand_feature_views", []):
        # On-demand views are computed at request time: no entities, TTL or table of their own.
        udf = getattr(getattr(odfv, "feature_transformation", None), "udf_string", "") or ""
        inputs = sorted(getattr(odfv, "source_feature_view_projections", {}) or {}) + sorted(
            getattr(odfv, "source_request_sources", {}) or {}
        )
        views.append(
            ViewDef(
                name=odfv.name,
                entities=(),
                features=tuple(
                    FeatureDef(f.name, str(f.dtype), f.description or "", dict(f.tags or {}))
                    for f in odfv.features
                ),
                ttl=timedelta(0),
                source="",
                transformation=udf,
                description=odfv.description or "",
                owner=odfv.owner or "",
                tags=dict(odfv.tags or {}),
                definition={"on_demand": True, "inputs": inputs, "mode": getattr(odfv, "mode", "")},
            )
        )
    services = tuple(
        ServiceDef(
            name=s.name,
            features=tuple((p.name, tuple(f.name for f in p.features)) for p in s.feature_view_projections),
            description=s.description or "",
            owner=s.owner or "",
            tags=dict(s.tags or {}),
        )
        for s in contents.feature_services
    )
    return Definitions(entities=entities, sources=sources, views=tuple(views), services=services)


def load_definitions(repo_path: Path) -> tuple[Any, Definitions]:
    """Load and convert the repo (every definition problem reported at once).

    Raises:
        DefinitionError: the repo's problems.
    """
    from featurelake.repo import load_repo

    contents = load_repo(repo_path)
    return contents, definitions_from_repo(contents)


def feast_repo_config(
    repo_path: Path,
    *,
    project: str,
    registry_url: str,
    online_nodes: list[str] | None = None,
    online: OnlineSettings | None = None,
) -> Any:
    """Feast's RepoConfig from the repo's feature_store.yaml, aligned with featurelake's settings.

    The project is featurelake's; a PostgreSQL registry URL makes Feast use its ``sql`` registry
    in the same database. The online store's ``connection_string`` is expanded like Feast does
    (see :func:`featurelake.config.redis_connection.expand_connection_string`): a bare
    ``${FEATURELAKE_ONLINE_NODES}`` that is unset takes nodes, TLS and AUTH from ``online``.

    Args:
        repo_path: the Feast repo folder.
        project: featurelake's project.
        registry_url: featurelake's registry URL.
        online_nodes: shorthand for ``online`` with nodes only (no TLS, no AUTH).
        online: featurelake's online settings (wins over ``online_nodes``).

    Raises:
        ConfigError: no feature_store.yaml, an unset variable in the connection string, a
            connection string that disagrees with ``online``, or Feast rejects the file.
    """
    from feast.repo_config import RepoConfig

    from featurelake.config.redis_connection import (
        check_agrees,
        expand_connection_string,
        parse_connection_string,
    )

    file = repo_path / "feature_store.yaml"
    if not file.is_file():
        raise ConfigError(
            f"feature repo {str(repo_path)!r} has no feature_store.yaml; create one (see feature_repo/)"
        )
    text = file.read_text()
    raw = yaml.safe_load(os.path.expandvars(text)) or {}  # exactly what Feast's loader does
    raw["project"] = project
    if registry_url.startswith("postgresql"):
        raw["registry"] = {"registry_type": "sql", "path": registry_url, "cache_ttl_seconds": 60}
    elif isinstance(raw.get("registry"), dict) and raw["registry"].get("registry_type", "file") == "file":
        path = Path(raw["registry"]["path"])
        path = path if path.is_absolute() else (repo_path / path).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        raw["registry"]["path"] = str(path)
    store = raw.get("online_store")
    unexpanded = (yaml.safe_load(text) or {}).get("online_store")
    template = unexpanded.get("connection_string") if isinstance(unexpanded, dict) else None
    if isinstance(store, dict) and store.get("type") == "redis" and isinstance(template, str):
        if online is None:
            online = OnlineSettings(nodes=online_nodes or [])
        if not online.nodes:  # `feast apply` needs no Redis server: a placeholder node will do
            online = online.model_copy(update={"nodes": ["127.0.0.1:6379"]})
        where = f"online_store.connection_string in {file}"
        conn_text = expand_connection_string(template, online=online, source=where, environ=os.environ)
        check_agrees(parse_connection_string(conn_text, source=where), online, source=where)
        store["connection_string"] = conn_text
    try:
        config = RepoConfig(**raw)
    except Exception as err:  # feast raises pydantic/FeastConfigError subclasses
        raise ConfigError(f"{file} is not a valid Feast configuration: {err}; fix it") from None
    config.repo_path = repo_path
    return config


def apply_feast(contents: Any, config: Any) -> None:
    """Apply the repo to Feast's registry (adds, updates and deletes like ``feast apply``)."""
    from feast import FeatureStore
    from feast.repo_operations import extract_objects_for_apply_delete

    store = FeatureStore(config=config)
    feast_repo = contents.to_feast()
    to_apply, to_delete, _, _ = extract_objects_for_apply_delete(config.project, store.registry, feast_repo)
    with warnings.catch_warnings():
        # Feast's notice about on-demand views being experimental is not a problem of the repo.
        warnings.filterwarnings(
            "ignore", message="On demand feature view is an experimental", category=RuntimeWarning
        )
        store.apply(to_apply, objects_to_delete=to_delete, partial=False)


def plan_repo(registry: Registry, *, project: str, repo_path: Path) -> Plan:
    """What ``apply`` would change in featurelake's registry, writing nothing.

    Raises:
        DefinitionError: every problem in the repo.
    """
    _, defs = load_definitions(repo_path)
    return registry.plan(project, defs)


def apply_repo(
    registry: Registry,
    *,
    project: str,
    repo_path: Path,
    actor: str,
    status: Literal["draft", "active"] = "active",
    registry_url: str,
    online_nodes: list[str] | None = None,
    online: OnlineSettings | None = None,
    feast: bool = True,
) -> Plan:
    """Apply the repo to Feast's registry and ours (see the module docstring for the order).

    Raises:
        DefinitionError: every problem in the repo (nothing written).
        ConfigError: feature_store.yaml is invalid.
    """
    contents, defs = load_definitions(repo_path)
    # One apply of both registries at a time per project: Feast's own registry writes are not
    # safe against a concurrent apply; behind the lock a second apply is a no-op on both.
    with registry.apply_lock(project):
        registry.plan(project, defs)  # validates: no Feast write for definitions we would refuse
        if feast:
            apply_feast(
                contents,
                feast_repo_config(
                    repo_path,
                    project=project,
                    registry_url=registry_url,
                    online_nodes=online_nodes,
                    online=online,
                ),
            )
        return registry.apply_definitions(project, defs, actor=actor, status=status)


__all__ = ["DefinitionError", "apply_repo", "definitions_from_repo", "plan_repo"]
