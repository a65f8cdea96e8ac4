"""Lineage: typed nodes, edges carrying the run that produced them, recursive traversal."""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, select, text
from sqlalchemy.dialects import postgresql, sqlite

from featurelake.errors import RegistryError
from featurelake.registry.models import LineageEdgeRow, LineageNodeRow
from featurelake.registry.stores.projects import find_project_id, now, project_id
from featurelake.registry.types import NODE_KINDS, Direction, LineageEdge, Node

# The walk keeps (src, dst, run, depth) rows; UNION drops repeats, the depth bound stops cycles.
_WALK = {
    "downstream": """
        WITH RECURSIVE walk(src_id, dst_id, run_id, depth) AS (
            SELECT e.src_id, e.dst_id, e.run_id, 1 FROM fl_lineage_edges e WHERE e.src_id IN :starts
            UNION
            SELECT e.src_id, e.dst_id, e.run_id, w.depth + 1
            FROM fl_lineage_edges e JOIN walk w ON e.src_id = w.dst_id
            WHERE w.depth < :depth
        )
        SELECT src_id, dst_id, run_id, MIN(depth) AS depth FROM walk GROUP BY src_id, dst_id, run_id
    """,
    "upstream": """
        WITH RECURSIVE walk(src_id, dst_id, run_id, depth) AS (
            SELECT e.src_id, e.dst_id, e.run_id, 1 FROM fl_lineage_edges e WHERE e.dst_id IN :starts
            UNION
            SELECT e.src_id, e.dst_id, e.run_id, w.depth + 1
            FROM fl_lineage_edges e JOIN walk w ON e.dst_id = w.src_id
            WHERE w.depth < :depth
        )
        SELECT src_id, dst_id, run_id, MIN(depth) AS depth FROM walk GROUP BY src_id, dst_id, run_id
    """,
}


def _check(node: Node) -> None:
    if node.kind not in NODE_KINDS:
        raise RegistryError(f"lineage node kind {node.kind!r} is not one of {', '.join(NODE_KINDS)}")
    if not node.name:
        raise RegistryError(f"lineage node {node} has an empty name; name the table, view, service or model")


def node_id(conn: Connection, pid: int, node: Node) -> int:
    """Get or create a node's id (safe under concurrent writers)."""
    _check(node)
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(
        dialect.insert(LineageNodeRow)
        .values(project_id=pid, kind=node.kind, name=node.name, version=node.version, created_at=now())
        .on_conflict_do_nothing(index_elements=["project_id", "kind", "name", "version"])
    )
    return conn.execute(
        select(LineageNodeRow.id).where(
            LineageNodeRow.project_id == pid,
            LineageNodeRow.kind == node.kind,
            LineageNodeRow.name == node.name,
            LineageNodeRow.version == node.version,
        )
    ).scalar_one()


def add_edge(conn: Connection, *, project: str, src: Node, dst: Node, run_id: str | None) -> bool:
    """Add ``src -> dst``; returns False if the edge already existed."""
    if src == dst:
        raise RegistryError(f"lineage edge from {src} to itself; an edge links two different nodes")
    pid = project_id(conn, project, create=True)
    s, d = node_id(conn, pid, src), node_id(conn, pid, dst)
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    result = conn.execute(
        dialect.insert(LineageEdgeRow)
        .values(src_id=s, dst_id=d, run_id=run_id, created_at=now())
        .on_conflict_do_nothing(index_elements=["src_id", "dst_id"])
    )
    return bool(result.rowcount)


def _start_ids(conn: Connection, pid: int, node: Node) -> list[int]:
    query = select(LineageNodeRow.id).where(
        LineageNodeRow.project_id == pid, LineageNodeRow.kind == node.kind, LineageNodeRow.name == node.name
    )
    if node.version:
        if node.kind == "feature_view_version" and "." not in node.version:
            # a major version names all of its minor versions
            query = query.where(LineageNodeRow.version.startswith(node.version + ".", autoescape=True))
        else:
            query = query.where(LineageNodeRow.version == node.version)
    return list(conn.execute(query).scalars())


def traverse(
    conn: Connection, project: str, node: Node, *, direction: Direction, depth: int
) -> list[LineageEdge]:
    """Edges reachable from ``node`` within ``depth`` hops, nearest first.

    A node without a version (``data_source:raw.tx``) starts from every version of it; a
    feature view version given as a major (``feature_view_version:stats@2``) from all its minors.

    Raises:
        RegistryError: bad direction/depth, or the node is not in the lineage graph.
    """
    if direction not in _WALK:
        raise RegistryError(f"lineage direction {direction!r} must be 'upstream' or 'downstream'")
    if depth < 1:
        raise RegistryError(f"lineage depth {depth} must be at least 1")
    _check(node)
    pid = find_project_id(conn, project)
    starts = [] if pid is None else _start_ids(conn, pid, node)
    if not starts:
        raise RegistryError(
            f"lineage node {node} is not in project {project!r}; jobs record lineage when they run "
            "(check the name and version, e.g. data_source:TABLE@DELTA_VERSION)"
        )
    stmt = text(_WALK[direction]).bindparams(bindparam("starts", expanding=True))
    rows = conn.execute(stmt, {"starts": starts, "depth": depth}).all()
    ids = {r.src_id for r in rows} | {r.dst_id for r in rows}
    nodes: dict[int, Node] = {}
    if ids:
        for n in conn.execute(select(LineageNodeRow).where(LineageNodeRow.id.in_(list(ids)))):
            nodes[n.id] = Node(n.kind, n.name, n.version)  # type: ignore[arg-type]
    edges = [LineageEdge(nodes[r.src_id], nodes[r.dst_id], r.run_id, r.depth) for r in rows]
    return sorted(edges, key=lambda e: (e.depth, str(e.src), str(e.dst)))
