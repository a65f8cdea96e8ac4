"""The demo's online steps: start a Redis cluster when none is configured, materialize, look up.

Kept out of materialize.py and online.py so those two stay independent of each other and of the
local stack (``featurelake.jobs.demo_run`` calls these lazily).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from featurelake.jobs.materialize import describe, materialize_view
from featurelake.jobs.online import connect, load_catalog


def ensure_online_nodes(ctx: Any) -> None:
    """Demo helper: with no Redis configured, start the local stack's Redis cluster and use it."""
    if ctx.settings.online.nodes:
        return
    from featurelake.localstack import up

    state = up(
        ctx.settings, services=["redis"], echo=lambda line: ctx.console.print(f"  {line}", markup=False)
    )
    nodes = list(state["redis"]["nodes"])
    online = ctx.settings.online.model_copy(update={"nodes": nodes})
    ctx.settings = ctx.settings.model_copy(update={"online": online})
    ctx.console.print(f"  using the local Redis cluster {','.join(nodes)}", markup=False)


def demo_materialize(ctx: Any) -> None:
    """Demo step: materialize every active online view (incrementally) into the Redis cluster."""
    ensure_online_nodes(ctx)
    registry, lakehouse = ctx.registry(), ctx.lakehouse()
    results = {}
    try:
        for vv in registry.list_views(ctx.settings.project):
            if vv.status != "active" or not vv.entities:  # on-demand views are computed at request time
                continue
            result = materialize_view(
                ctx.spark,
                settings=ctx.settings,
                registry=registry,
                lakehouse=lakehouse,
                view=vv.name,
                actor=ctx.actor,
                incremental=True,
            )
            results[vv.name] = result
            ctx.console.print(f"  {describe(result)}", markup=False)
    finally:
        registry.dispose()
    ctx.state["materialized"] = results


def demo_lookup(ctx: Any) -> None:
    """Demo step: one online lookup of the first feature service for entities that exist offline."""
    ensure_online_nodes(ctx)
    registry = ctx.registry()
    try:
        catalog = load_catalog(ctx.settings, registry=registry)
        services = sorted(s for s in catalog.services if ":" not in s)
        if not services:
            ctx.console.print("  no feature service defined; nothing to look up", markup=False)
            return
        service = services[0]
        refs = catalog.resolve(features=None, feature_service=service)
        row: dict[str, Any] = {}
        lakehouse = ctx.lakehouse()
        for view in dict.fromkeys(v for v, _ in refs if v in catalog.views):
            missing = [k for k in catalog.views[view].join_key_names if k not in row]
            if missing:
                vv = registry.get_view_version(ctx.settings.project, view)
                first = lakehouse.read(ctx.spark, vv.table_name, columns=missing).limit(1).collect()
                if first:
                    row.update(first[0].asDict())
    finally:
        registry.dispose()
    sdk = connect(ctx.settings, catalog)
    start = datetime.now(UTC)
    resp = sdk.get_online_features(feature_service=service, entity_rows=[row], full_feature_names=True)
    took = (datetime.now(UTC) - start).total_seconds() * 1000
    ctx.console.print(
        f"  get_online_features(feature_service={service!r}, entity_rows=[{row}])  ({took:.1f} ms)",
        markup=False,
    )
    for name, values, statuses in zip(resp.names, resp.values, resp.statuses, strict=True):
        ctx.console.print(f"    {name:<44} {values[0]!r:<22} {statuses[0].value}", markup=False)
    ctx.state["online_lookup"] = resp
    for name, odfv in sorted(catalog.on_demand.items())[:1]:
        sources = [p.name for p in odfv.source_feature_view_projections.values()]
        keys = {k for v in sources if v in catalog.views for k in catalog.views[v].join_key_names}
        request = {field: 100.0 for field in odfv.get_request_data_schema()}
        odfv_row = {**{k: v for k, v in row.items() if k in keys}, **request}
        refs = [f"{name}:{f.name}" for f in odfv.features]
        resp = sdk.get_online_features(features=refs, entity_rows=[odfv_row])
        ctx.console.print(
            f"  on-demand: get_online_features(features={refs}, entity_rows=[{odfv_row}])", markup=False
        )
        for col, values, statuses in zip(resp.names, resp.values, resp.statuses, strict=True):
            ctx.console.print(f"    {col:<44} {values[0]!r:<22} {statuses[0].value}", markup=False)
