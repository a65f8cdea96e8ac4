"""Version rules: canonical definitions, their hashes, and minor/breaking classification.

Pure functions, no database. The rules (docs/registry.md):

- the same definition hash as the newest version: **no-op**;
- only added features, or changed descriptions, owner or tags (of the view or a feature):
  **minor** (same major version, same Delta table, minor number + 1);
- anything else (a removed feature, a changed dtype, entity, join key, TTL, source,
  transformation or any other spec field): **breaking** (new major version, new Delta table
  ``<view>__v<major>``; the old one stays readable).
"""

from __future__ import annotations

from typing import Any, Literal

from featurelake.registry.stores.projects import stable_hash
from featurelake.registry.types import EntityDef, ServiceDef, SourceDef, ViewDef

#: Top-level spec keys whose change is documentation only (minor).
MINOR_SPEC_KEYS = frozenset({"description", "tags", "owner", "documentation"})


def table_name(view: str, major: int) -> str:
    """The Delta table name of a view's major version, e.g. ``user_stats__v2``."""
    return f"{view}__v{major}"


def canonical_view(view: ViewDef, entities: dict[str, EntityDef]) -> dict[str, Any]:
    """The stored, hashed form of a view definition (entity join keys and types included)."""
    join_keys = [
        {"name": k.name, "dtype": k.dtype}
        for e in view.entities
        if e in entities
        for k in entities[e].join_keys
    ]
    return {
        "name": view.name,
        "entities": list(view.entities),
        "join_keys": join_keys,
        "features": [
            {"name": f.name, "dtype": f.dtype, "description": f.description, "tags": dict(f.tags)}
            for f in view.features
        ],
        "ttl_seconds": int(view.ttl.total_seconds()),
        "source": view.source,
        "transformation": view.transformation,
        "description": view.description,
        "owner": view.owner,
        "tags": dict(view.tags),
        "spec": view.definition,
    }


def canonical_entity(entity: EntityDef) -> dict[str, Any]:
    """The stored, hashed form of an entity."""
    return {
        "name": entity.name,
        "join_keys": [{"name": k.name, "dtype": k.dtype} for k in entity.join_keys],
        "description": entity.description,
        "owner": entity.owner,
        "tags": dict(entity.tags),
    }


def canonical_source(source: SourceDef) -> dict[str, Any]:
    """The stored, hashed form of a data source."""
    return {
        "name": source.name,
        "kind": source.kind,
        "location": source.location,
        "timestamp_field": source.timestamp_field,
        "description": source.description,
        "owner": source.owner,
        "tags": dict(source.tags),
    }


def canonical_service(service: ServiceDef, majors: dict[str, int]) -> dict[str, Any]:
    """The hashed form of a service: features pinned to view major versions."""
    return {
        "name": service.name,
        "features": [
            {"view": view, "view_major": majors.get(view), "features": list(features)}
            for view, features in service.features
        ],
        "description": service.description,
        "owner": service.owner,
        "tags": dict(service.tags),
    }


def definition_hash(canonical: dict[str, Any]) -> str:
    """SHA-256 of the canonical definition's stable JSON."""
    return stable_hash(canonical)


def classify(
    old: dict[str, Any], new: dict[str, Any]
) -> tuple[Literal["unchanged", "minor", "breaking"], list[str]]:
    """Compare two canonical view definitions.

    Returns:
        The change kind and human-readable reasons (breaking reasons first).
    """
    if definition_hash(old) == definition_hash(new):
        return "unchanged", []
    breaking: list[str] = []
    minor: list[str] = []
    old_features = {f["name"]: f for f in old.get("features", [])}
    new_features = {f["name"]: f for f in new.get("features", [])}
    for name, feature in old_features.items():
        if name not in new_features:
            breaking.append(f"feature {name!r} removed")
        elif new_features[name]["dtype"] != feature["dtype"]:
            breaking.append(f"feature {name!r} type {feature['dtype']} -> {new_features[name]['dtype']}")
        elif (new_features[name].get("description"), new_features[name].get("tags")) != (
            feature.get("description"),
            feature.get("tags"),
        ):
            minor.append(f"feature {name!r} description/tags changed")
    for name in new_features:
        if name not in old_features:
            minor.append(f"feature {name!r} added")
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    # A definition from featurelake.spec.view_definition carries its own breaking/non-breaking
    # split (aggregations added = minor, source name = documentation): let it decide those parts.
    spec_form = all(
        isinstance(d, dict) and {"breaking", "non_breaking"} <= set(d) for d in (old_spec, new_spec)
    )
    structural = [("entities", "entities"), ("join_keys", "entity join keys/types"), ("ttl_seconds", "TTL")]
    if not spec_form:
        structural += [("source", "source"), ("transformation", "transformation")]
    for key, label in structural:
        if old.get(key) != new.get(key):
            breaking.append(f"{label} changed: {old.get(key)!r} -> {new.get(key)!r}")
    for key in ("description", "owner", "tags"):
        if old.get(key) != new.get(key):
            minor.append(f"{key} changed")
    if spec_form:
        from featurelake.spec import classify_change

        spec_change = classify_change(old_spec, new_spec)
        if spec_change.kind != "unchanged":
            target = breaking if spec_change.kind == "breaking" else minor
            target.extend(r for r in spec_change.reasons if r not in breaking and r not in minor)
    else:
        for key in sorted(set(old_spec) | set(new_spec)):
            if old_spec.get(key) != new_spec.get(key):
                (minor if key in MINOR_SPEC_KEYS else breaking).append(f"spec field {key!r} changed")
    if breaking:
        return "breaking", breaking + minor
    return "minor", minor or ["definition changed"]
