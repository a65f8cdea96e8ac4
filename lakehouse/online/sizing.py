"""Estimate the Redis memory of a view from a sample of its entities (MEMORY USAGE per key)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from featurelake.lakehouse.online.cluster import ClusterClient, Command
from featurelake.lakehouse.online.encoding import serialize_entity_key
from featurelake.lakehouse.online.layout import OnlineView


@dataclass(frozen=True)
class SizeEstimate:
    """Memory estimate for one view.

    Attributes:
        view: the view.
        sampled: entity keys sampled.
        found: sampled keys present in Redis.
        bytes_per_key: mean ``MEMORY USAGE`` of an entity's whole hash (every view sharing it).
        view_bytes_per_entity: mean bytes of this view's own fields and values (payload only).
        entities: entities in the view's table (the multiplier).
        estimated_total_bytes: ``bytes_per_key * entities`` (upper bound if views share keys).
    """

    view: str
    sampled: int
    found: int
    bytes_per_key: float
    view_bytes_per_entity: float
    entities: int
    estimated_total_bytes: int


def estimate_size(
    client: ClusterClient,
    *,
    project: str,
    view: OnlineView,
    sample_keys: Sequence[Sequence[Any]],
    entities: int,
) -> SizeEstimate:
    """Estimate memory from ``sample_keys`` (join key values) of a view with ``entities`` entities."""
    keys = [serialize_entity_key(view.join_keys, k) + project.encode("utf8") for k in sample_keys]
    fields = [view.field(f) for f in view.feature_names] + [view.ts_field]
    cmds = [Command(k, ("MEMORY", "USAGE", k, "SAMPLES", "0")) for k in keys]
    cmds += [Command(k, ("HMGET", k, *fields)) for k in keys]
    replies = client.execute(cmds)
    usage, values = replies[: len(keys)], replies[len(keys) :]
    found = [u for u in usage if isinstance(u, int)]
    payload = [
        sum(len(f) + len(v) for f, v in zip(fields, vals, strict=True) if v is not None)
        for u, vals in zip(usage, values, strict=True)
        if isinstance(u, int)
    ]
    per_key = sum(found) / len(found) if found else 0.0
    per_view = sum(payload) / len(payload) if payload else 0.0
    return SizeEstimate(
        view.name,
        len(keys),
        len(found),
        round(per_key, 1),
        round(per_view, 1),
        entities,
        int(per_key * entities),
    )
