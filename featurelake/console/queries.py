"""The console's read model: one function per page, returning plain JSON-ready dicts.

Pages and their ``/api/...`` twins are served from the same functions, so the HTML shows
exactly what the API returns. Everything here reads through :class:`RegistryReader` and a
table-facts callable (the lakehouse's ``describe``/``history``); nothing writes.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from featurelake.errors import FeatureStoreError, RegistryError
from featurelake.registry import Node, RegistryReader, ViewVersion
from featurelake.registry.versioning import classify

#: Tag keys or values that mark personal data (highlighted on the view page).
PII_MARKERS = ("pii", "personal", "gdpr", "sensitive")
TableFacts = Callable[[str], dict[str, Any]]


def plain(obj: Any) -> Any:
    """A dataclass tree as JSON-ready values (datetimes ISO, timedeltas seconds)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        if isinstance(obj, ViewVersion):
            out["version"] = obj.version
        if isinstance(obj, Node):
            out["id"] = str(obj)
        return out
    if isinstance(obj, list | tuple):
        return [plain(o) for o in obj]
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    if isinstance(obj, timedelta):
        return obj.total_seconds()
    return obj


def is_pii(key: str, value: str) -> bool:
    """Whether a tag marks personal data: a PII-like key that is not ``false``, or a PII-like value."""
    k, v = key.lower(), str(value).lower()
    if any(m in k for m in PII_MARKERS):
        return v not in ("false", "no", "0", "none", "")
    return any(m == v or v.startswith(m + ":") for m in PII_MARKERS)


def tag_list(tags: dict[str, str]) -> list[dict[str, Any]]:
    """Tags as ``[{"key", "value", "pii"}]``, sorted by key."""
    return [{"key": k, "value": str(v), "pii": is_pii(k, v)} for k, v in sorted(tags.items())]


# --------------------------------------------------------------------------- links


def node_href(node: Node) -> str:
    """The console page of a lineage node."""
    if node.kind == "feature_view_version":
        return f"/views/{quote(node.name, safe='')}?" + urlencode({"version": node.version})
    if node.kind == "training_set" and node.version.isdigit():
        return f"/training-sets/{quote(node.name, safe='')}/{node.version}"
    if node.kind == "monitor_run":
        return f"/runs/{quote(node.version, safe='')}"
    return "/lineage?" + urlencode({"node": str(node)})


# --------------------------------------------------------------------------- search


class SearchIndex:
    """The searchable text of a project's views, features, services, sources and entities, kept in memory.

    Rebuilt only when the project's audit log has grown: every definition and status change is
    audited, so the newest audit id is a cheap change marker (one indexed query per search
    instead of loading every current view version).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._marker: tuple[str, int | None] | None = None
        self._rows: list[tuple[str, dict[str, Any]]] = []

    def rows(self, reader: RegistryReader, project: str) -> list[tuple[str, dict[str, Any]]]:
        """``(lower-cased text, result)`` pairs, current as of the newest audit entry."""
        newest = reader.audit(project=project, limit=1)
        marker = (project, newest[0].id if newest else None)
        with self._lock:
            if marker != self._marker:
                self._rows = _index_rows(reader, project)
                self._marker = marker
            return self._rows


def _index_rows(reader: RegistryReader, project: str) -> list[tuple[str, dict[str, Any]]]:
    def text(*parts: Any) -> str:
        return " ".join(str(p) for p in parts if p).lower()

    def tags_text(tags: dict[str, str]) -> str:
        return " ".join(f"{k}={v}" for k, v in tags.items())

    rows: list[tuple[str, dict[str, Any]]] = []
    for vv in reader.list_views(project):
        href = f"/views/{quote(vv.name, safe='')}"
        rows.append(
            (
                text(vv.name, vv.owner, vv.description, tags_text(vv.tags)),
                _result("view", vv.name, vv.version, vv.owner, vv.description, vv.tags, vv.status, href),
            )
        )
        for f in vv.features:
            rows.append(
                (
                    text(f"{vv.name}:{f.name}", f.description, tags_text(f.tags), vv.owner),
                    _result(
                        "feature",
                        f"{vv.name}:{f.name}",
                        vv.version,
                        vv.owner,
                        f.description,
                        f.tags,
                        vv.status,
                        href,
                    ),
                )
            )
    for sv in reader.list_services(project):
        href = "/lineage?" + urlencode({"node": str(Node.feature_service_version(sv.name, sv.version))})
        rows.append(
            (
                text(
                    sv.name, sv.owner, sv.description, tags_text(sv.tags), " ".join(g.view for g in sv.views)
                ),
                _result(
                    "service", sv.name, str(sv.version), sv.owner, sv.description, sv.tags, sv.status, href
                ),
            )
        )
    for src in reader.list_sources(project):
        href = "/lineage?" + urlencode({"node": str(Node.data_source(src.name))})
        rows.append(
            (
                text(src.name, src.owner, src.description, src.location, tags_text(src.tags)),
                _result("source", src.name, "", src.owner, src.description, src.tags, "", href),
            )
        )
    for ent in reader.list_entities(project):
        rows.append(
            (
                text(ent.name, ent.owner, ent.description, " ".join(k.name for k in ent.join_keys)),
                _result("entity", ent.name, "", ent.owner, ent.description, ent.tags, "", ""),
            )
        )
    return rows


def search(
    reader: RegistryReader, project: str, q: str, *, limit: int = 200, index: SearchIndex | None = None
) -> dict[str, Any]:
    """Views, features, services, sources and entities whose name, owner, tags or description match.

    Args:
        reader: the registry.
        project: project name.
        q: case-insensitive words; every word must match somewhere (empty: list everything).
        limit: at most this many results.
        index: a kept index (rebuilt when the registry changed); None builds one for this call.
    """
    words = [w.lower() for w in q.split()]
    rows = (index or SearchIndex()).rows(reader, project)
    results = [result for blob, result in rows if all(w in blob for w in words)]
    return {"project": project, "query": q, "count": len(results), "results": results[:limit]}


def _result(
    kind: str,
    name: str,
    version: str,
    owner: str,
    description: str,
    tags: dict[str, str],
    status: str,
    href: str,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "name": name,
        "version": version,
        "status": status,
        "owner": owner,
        "description": description,
        "tags": tag_list(tags),
        "href": href,
    }


# --------------------------------------------------------------------------- view


def _definition_lines(vv: ViewVersion) -> list[str]:
    return json.dumps(plain(vv.definition), indent=2, sort_keys=True, default=str).splitlines()


def diff_versions(old: ViewVersion, new: ViewVersion) -> dict[str, Any]:
    """A side-by-side diff of two versions' definitions and the breaking/minor classification.

    Returns:
        ``{"from", "to", "kind", "reasons", "rows"}``; each row has ``op`` (equal, replace,
        delete, insert) and the left/right line numbers and texts.
    """
    kind, reasons = classify(old.definition, new.definition)
    left, right = _definition_lines(old), _definition_lines(new)
    rows: list[dict[str, Any]] = []
    matcher = difflib.SequenceMatcher(a=left, b=right, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        for k in range(max(i2 - i1, j2 - j1)):
            li, rj = i1 + k, j1 + k
            rows.append(
                {
                    "op": op,
                    "left_no": li + 1 if li < i2 else None,
                    "left": left[li] if li < i2 else "",
                    "right_no": rj + 1 if rj < j2 else None,
                    "right": right[rj] if rj < j2 else "",
                }
            )
    return {"from": old.version, "to": new.version, "kind": kind, "reasons": reasons, "rows": rows}


def view_page(
    reader: RegistryReader,
    project: str,
    name: str,
    *,
    version: str | None = None,
    diff_from: str | None = None,
    diff_to: str | None = None,
    table_facts: TableFacts | None = None,
) -> dict[str, Any]:
    """Everything the view page shows.

    Args:
        reader: the registry.
        project: project name.
        name: the feature view.
        version: the version to show (None: the current one).
        diff_from: the older version of the diff (default: the one before ``version``).
        diff_to: the newer version of the diff (default: ``version``).
        table_facts: returns the Delta table facts of a table name (None: not shown).

    Raises:
        RegistryError: unknown view or version.
    """
    versions = reader.list_view_versions(project, name)
    if not versions:
        raise RegistryError(f"no feature view named {name!r} in project {project!r}; search for it on /")
    current = reader.get_view_version(project, name, version)
    by_label = {v.version: v for v in versions}
    to_label = diff_to or current.version
    idx = [v.version for v in versions].index(current.version)
    from_label = diff_from or (versions[idx - 1].version if idx > 0 else None)
    diff = None
    if from_label is not None:
        for label in (from_label, to_label):
            if label not in by_label:
                raise RegistryError(
                    f"feature view {name!r} has no version {label!r}; versions: {', '.join(by_label)}"
                )
        diff = diff_versions(by_label[from_label], by_label[to_label])
    history = sorted(reader.audit(project=project, object_prefix=f"{name}@", limit=1000), key=lambda e: e.id)
    status_history = [
        {
            "at": e.at.isoformat(),
            "actor": e.actor,
            "action": e.action,
            "object": e.object_key,
            "from": (e.before or {}).get("status", ""),
            "to": (e.after or {}).get("status")
            or (e.after or {}).get("change")
            or (
                "edited " + ", ".join(sorted(set(e.after or {}) - {"reason"}))
                if e.action.endswith(".metadata")
                else ""
            ),
            "reason": (e.after or {}).get("reason") or "; ".join((e.after or {}).get("reasons") or []),
        }
        for e in history
        if e.object_type == "view_version"
    ]
    table: dict[str, Any] | None = None
    if table_facts is not None:
        table = table_facts(current.table_name)
    return {
        "project": project,
        "name": name,
        "current": {**plain(current), "tags": tag_list(current.tags)},
        "features": [{**plain(f), "tags": tag_list(f.tags)} for f in current.features],
        "definition": "\n".join(_definition_lines(current)),
        "versions": [
            {
                "version": v.version,
                "status": v.status,
                "change": v.change,
                "created_by": v.created_by,
                "created_at": v.created_at.isoformat(),
                "status_reason": v.status_reason,
                "table_name": v.table_name,
            }
            for v in versions
        ],
        "diff": diff,
        "status_history": status_history,
        "dependents": reader.dependents(project, name, current.major),
        "table": table,
        "lineage_href": node_href(Node.feature_view_version(name, current.version)),
    }


# --------------------------------------------------------------------------- lineage


def lineage_graph(
    reader: RegistryReader, project: str, node: Node, *, depth: int = 3, direction: str = "both"
) -> dict[str, Any]:
    """The lineage DAG around ``node``: nodes (with links to their pages) and edges.

    Args:
        reader: the registry.
        project: project name.
        node: the centre node.
        depth: hops in each direction (1-10).
        direction: ``upstream``, ``downstream`` or ``both``.

    Raises:
        RegistryError: the node is not in the lineage graph, or a bad depth/direction.
    """
    if direction not in ("upstream", "downstream", "both"):
        raise RegistryError(f"direction {direction!r} must be upstream, downstream or both")
    if not 1 <= depth <= 10:
        raise RegistryError(f"depth {depth} must be between 1 and 10")
    edges = []
    for d in ("upstream", "downstream"):
        if direction in (d, "both"):
            edges += reader.lineage(project, node, direction=d, depth=depth)  # type: ignore[arg-type]
    nodes: dict[str, Node] = {str(node): node}
    seen: set[tuple[str, str]] = set()
    out_edges = []
    for e in edges:
        nodes.setdefault(str(e.src), e.src)
        nodes.setdefault(str(e.dst), e.dst)
        key = (str(e.src), str(e.dst))
        if key not in seen:
            seen.add(key)
            out_edges.append({"source": key[0], "target": key[1], "run_id": e.run_id})
    return {
        "project": project,
        "root": str(node),
        "depth": depth,
        "direction": direction,
        "nodes": [
            {
                "id": nid,
                "kind": n.kind,
                "name": n.name,
                "version": n.version,
                "label": n.name + (f"@{n.version}" if n.version and n.kind != "monitor_run" else ""),
                "href": node_href(n),
                "root": nid == str(node),
            }
            for nid, n in sorted(nodes.items())
        ],
        "edges": out_edges,
    }


def lineage_roots(reader: RegistryReader, project: str) -> list[dict[str, str]]:
    """Starting points for the lineage page: every data source and current view version."""
    out = [
        {"label": f"source {s.name}", "href": node_href(Node.data_source(s.name))}
        for s in reader.list_sources(project)
    ]
    out += [
        {
            "label": f"view {v.name}@{v.version}",
            "href": "/lineage?" + urlencode({"node": str(Node.feature_view_version(v.name, v.version))}),
        }
        for v in reader.list_views(project)
    ]
    return out


# --------------------------------------------------------------------------- runs, training sets


def runs_page(
    reader: RegistryReader,
    project: str,
    *,
    kind: str | None = None,
    status: str | None = None,
    limit: int = 100,
) -> dict[str, Any]:
    """Runs, newest first, with durations."""
    runs = reader.list_runs(project, kind=kind, status=status, limit=limit)  # type: ignore[arg-type]
    return {"project": project, "kind": kind, "status": status, "runs": [_run(r) for r in runs]}


def _run(r: Any) -> dict[str, Any]:
    out = plain(r)
    out["seconds"] = (
        None if r.finished_at is None else round((r.finished_at - r.started_at).total_seconds(), 3)
    )
    return out


def run_page(reader: RegistryReader, run_id: str) -> dict[str, Any]:
    """One run with its report (a failed backfill's validation report included)."""
    r = reader.get_run(run_id)
    out = _run(r)
    out["report_text"] = (
        "" if r.report is None else json.dumps(plain(r.report), indent=2, sort_keys=True, default=str)
    )
    out["params_text"] = json.dumps(plain(r.params), indent=2, sort_keys=True, default=str)
    return out


def training_sets_page(reader: RegistryReader, project: str) -> dict[str, Any]:
    """Every training set version, newest first per name."""
    sets = reader.list_training_sets(project)
    return {
        "project": project,
        "training_sets": [
            {**plain(t), "href": f"/training-sets/{quote(t.name, safe='')}/{t.version}"} for t in sets
        ],
    }


def training_set_page(reader: RegistryReader, project: str, name: str, version: int) -> dict[str, Any]:
    """One training set version: pinned inputs, checksum, reproduce status, the commands to use it."""
    ts = reader.get_training_set(project, name, version)
    marks = reader.training_set_erasures(project, name, version)
    if any(m.state == "superseded" for m in marks):
        reproduce = "superseded after an erasure request: reproducing it would bring erased data back"
    elif marks:
        reproduce = "holds data erased since; reproduce is refused"
    elif ts.entity_source.version is None or any(f.version is None for f in ts.feature_tables):
        reproduce = "not reproducible: an input has no pinned Delta version"
    else:
        reproduce = "reproducible from pinned Delta versions"
    run = None
    if ts.run_id:
        try:
            run = _run(reader.get_run(ts.run_id))
        except FeatureStoreError:
            run = None
    return {
        **plain(ts),
        "erasures": plain(marks),
        "reproduce_status": reproduce,
        "run": run,
        "commands": {
            "read": f"featurelake training-set show {name} --version {version}",
            "export": f"featurelake training-set export {name} --version {version} --path {name}-v{version}.parquet",
            "reproduce": f"featurelake training-set reproduce {name} --version {version}",
            "python": (
                "from deltalake import DeltaTable; "
                f"DeltaTable({ts.output.table!r}, version={ts.output.version}).to_pandas()"
            ),
        },
        "lineage_href": "/lineage?" + urlencode({"node": str(Node.training_set(name, version))}),
    }


# --------------------------------------------------------------------------- monitoring


def monitoring_page(reader: RegistryReader, project: str, *, view: str | None = None) -> dict[str, Any]:
    """Freshness per view, drift metrics over time (with plot points), online/offline skew."""
    latest = reader.monitor_checks(project, view=view, latest_run=True, limit=5000)
    history = reader.monitor_checks(project, view=view, limit=5000)
    freshness = [plain(c) for c in latest if c.metric.startswith("freshness")]
    skew = [plain(c) for c in latest if c.metric in ("skew", "online_coverage")]
    series: dict[tuple[str, str, str], list[Any]] = {}
    for c in sorted(history, key=lambda c: (c.day or date.min, c.created_at or datetime.min)):
        if c.metric.startswith("freshness") or c.metric in ("skew", "online_coverage") or c.value is None:
            continue
        series.setdefault((c.view, c.feature, c.metric), []).append(c)
    plots = [
        _plot(view_name, feature, metric, checks)
        for (view_name, feature, metric), checks in sorted(series.items())
    ]
    return {
        "project": project,
        "view": view,
        "freshness": freshness,
        "skew": skew,
        "drift": plots,
        "latest": [
            plain(c)
            for c in latest
            if c.metric not in ("freshness_offline", "freshness_online", "skew", "online_coverage")
        ],
    }


def _plot(view: str, feature: str, metric: str, checks: list[Any]) -> dict[str, Any]:
    """An SVG polyline of a metric over time (x: check order, y: value; thresholds drawn)."""
    width, height, pad = 320.0, 90.0, 6.0
    values = [float(c.value) for c in checks]
    warn, fail = checks[-1].warn, checks[-1].fail
    top = max([*values, *(t for t in (warn, fail) if t is not None), 1e-9])
    step = (width - 2 * pad) / max(len(values) - 1, 1)

    def y(v: float) -> float:
        return round(height - pad - (v / top) * (height - 2 * pad), 2)

    points = " ".join(f"{round(pad + i * step, 2)},{y(v)}" for i, v in enumerate(values))
    return {
        "view": view,
        "feature": feature,
        "metric": metric,
        "width": width,
        "height": height,
        "points": points,
        "warn_y": None if warn is None else y(warn),
        "fail_y": None if fail is None else y(fail),
        "last": values[-1],
        "status": checks[-1].status,
        "values": [
            {"day": None if c.day is None else c.day.isoformat(), "value": float(c.value), "status": c.status}
            for c in checks
        ],
    }


# --------------------------------------------------------------------------- audit


def audit_page(
    reader: RegistryReader,
    project: str,
    *,
    actor: str | None = None,
    obj: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 500,
) -> dict[str, Any]:
    """The audit log, newest first, filtered by actor, object (key prefix) and time."""
    entries = reader.audit(
        project=project, actor=actor or None, object_prefix=obj or None, since=since, until=until, limit=limit
    )
    return {
        "project": project,
        "filters": {
            "actor": actor or "",
            "object": obj or "",
            "since": since.isoformat() if since else "",
            "until": until.isoformat() if until else "",
        },
        "entries": [
            {
                **plain(e),
                "before_text": "" if e.before is None else json.dumps(e.before, sort_keys=True, default=str),
                "after_text": "" if e.after is None else json.dumps(e.after, sort_keys=True, default=str),
            }
            for e in entries
        ],
    }
