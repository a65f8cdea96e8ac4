"""Registry benchmark: lineage and `show` latency on a synthetic registry in PostgreSQL.

Builds (with COPY, in a fresh database on the local stack's PostgreSQL) a project with
10,000 feature view versions (2,000 views x 5 versions, 10 features each) and ~100,000
lineage edges in layers: data source versions -> feature view versions -> Delta outputs ->
feature service versions -> training sets -> models. Then measures, on the library call,
p50/p99 of ``lineage(data_source, downstream, depth=5)`` and of ``get_view_version``
(what ``featurelake registry show`` runs), plus each CLI command once for reference.

Run: .venv/bin/python bench/registry.py   (needs `featurelake services up`)
"""

from __future__ import annotations

import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from featurelake.registry import Node, open_registry  # noqa: E402

PROJECT = "bench"
VIEWS, VERSIONS, FEATURES = 2_000, 5, 10
TABLES, TABLE_VERSIONS = 1_000, 10
OUTPUTS_PER_FVV, SERVICES, SERVICE_VERSIONS = 4, 500, 4
SAMPLES = 300


def _pg_url() -> str:
    state = ROOT / ".featurelake" / "stack" / "stack.json"
    if not state.exists():
        sys.exit(f"{state} is missing: run `.venv/bin/featurelake services up` first")
    return json.loads(state.read_text())["postgres"]["url"]


def _copy(raw, table: str, columns: tuple[str, ...], rows) -> int:  # type: ignore[no-untyped-def]
    n = 0
    with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
        for row in rows:
            cp.write_row(row)
            n += 1
    return n


def build(url: str) -> tuple[int, int]:
    reg = open_registry(url, ready=False)
    reg.migrate()
    now = datetime.now(UTC)
    rnd = random.Random(7)
    with reg.engine.begin() as conn:
        pid = conn.execute(
            sa.text("INSERT INTO fl_projects (name, created_at) VALUES (:n, :t) RETURNING id"),
            {"n": PROJECT, "t": now},
        ).scalar_one()
        raw = conn.connection.dbapi_connection
        _copy(
            raw,
            "fl_feature_views",
            ("id", "project_id", "name", "created_at"),
            ((v + 1, pid, f"view_{v}", now) for v in range(VIEWS)),
        )
        feats = [
            {"name": f"f{i}", "dtype": "Float64", "description": "", "tags": {}} for i in range(FEATURES)
        ]
        entities = json.dumps({"names": ["user"], "join_keys": [{"name": "user_id", "dtype": "INT64"}]})

        def versions():  # type: ignore[no-untyped-def]
            vid = 0
            for v in range(VIEWS):
                for major in range(1, VERSIONS + 1):
                    vid += 1
                    definition = json.dumps(
                        {"name": f"view_{v}", "features": feats, "ttl_seconds": 86400 * major}
                    )
                    yield (
                        vid,
                        v + 1,
                        major,
                        0,
                        f"view_{v}__v{major}",
                        "active",
                        "",
                        "bench",
                        now,
                        "breaking",
                        definition,
                        uuid.uuid4().hex + uuid.uuid4().hex,
                        entities,
                        86400 * major,
                        "src",
                        "sum(x)",
                        "",
                        "bench",
                        "{}",
                        "bench",
                        now,
                    )

        n_versions = _copy(
            raw,
            "fl_feature_view_versions",
            (
                "id",
                "view_id",
                "major",
                "minor",
                "table_name",
                "status",
                "status_reason",
                "status_changed_by",
                "status_changed_at",
                "change",
                "definition",
                "definition_hash",
                "entities",
                "ttl_seconds",
                "source",
                "transformation",
                "description",
                "owner",
                "tags",
                "created_by",
                "created_at",
            ),
            versions(),
        )
        _copy(
            raw,
            "fl_features",
            ("view_version_id", "position", "name", "dtype", "description", "tags"),
            (
                (vv, i, f"f{i}", "Float64", "", "{}")
                for vv in range(1, n_versions + 1)
                for i in range(FEATURES)
            ),
        )

        nodes: list[tuple[int, int, str, str, str, datetime]] = []

        def node(kind: str, name: str, version: str) -> int:
            nodes.append((len(nodes) + 1, pid, kind, name, version, now))
            return len(nodes)

        ds = [node("data_source", f"raw_{t}", str(v)) for t in range(TABLES) for v in range(TABLE_VERSIONS)]
        svc = [
            node("feature_service_version", f"service_{s}", str(v))
            for s in range(SERVICES)
            for v in range(1, SERVICE_VERSIONS + 1)
        ]
        edges: list[tuple[int, int, str | None, datetime]] = []
        for v in range(VIEWS):
            for major in range(1, VERSIONS + 1):
                fvv = node("feature_view_version", f"view_{v}", f"{major}.0")
                run = str(uuid.UUID(int=rnd.getrandbits(128)))
                for src in rnd.sample(ds, 2):
                    edges.append((src, fvv, run, now))
                for out in range(OUTPUTS_PER_FVV):
                    d = node("delta_output", f"view_{v}__v{major}", str(out))
                    edges.append((fvv, d, run, now))
                    edges.append((d, rnd.choice(svc), None, now))
        for s in svc:
            for k in range(2):
                ts = node("training_set", f"ts_{s}_{k}", "1")
                edges.append((s, ts, None, now))
                edges.append((ts, node("model", f"s3://models/{s}/{k}", ""), None, now))
        _copy(raw, "fl_lineage_nodes", ("id", "project_id", "kind", "name", "version", "created_at"), nodes)
        n_edges = _copy(raw, "fl_lineage_edges", ("src_id", "dst_id", "run_id", "created_at"), edges)
        for table in ("fl_feature_views", "fl_feature_view_versions", "fl_lineage_nodes"):
            conn.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            )
    with reg.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE")
    reg.dispose()
    return n_versions, n_edges


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def measure(url: str) -> dict[str, float]:
    reg = open_registry(url)
    rnd = random.Random(11)
    lineage_ms, show_ms, sizes = [], [], []
    for _ in range(20):  # warm the pool and the caches
        reg.lineage(
            PROJECT,
            Node.data_source(f"raw_{rnd.randrange(TABLES)}", rnd.randrange(TABLE_VERSIONS)),
            direction="downstream",
            depth=5,
        )
    for _ in range(SAMPLES):
        start = Node.data_source(f"raw_{rnd.randrange(TABLES)}", rnd.randrange(TABLE_VERSIONS))
        t = time.perf_counter()
        try:
            edges = reg.lineage(PROJECT, start, direction="downstream", depth=5)
        except Exception:  # a source version no view sampled: not part of the figure
            continue
        lineage_ms.append((time.perf_counter() - t) * 1000)
        sizes.append(len(edges))
        view = f"view_{rnd.randrange(VIEWS)}"
        t = time.perf_counter()
        reg.get_view_version(PROJECT, view, str(rnd.randrange(1, VERSIONS + 1)))
        show_ms.append((time.perf_counter() - t) * 1000)
    reg.dispose()
    return {
        "lineage_samples": len(lineage_ms),
        "lineage_edges_mean": statistics.mean(sizes),
        "lineage_p50_ms": _pct(lineage_ms, 50),
        "lineage_p99_ms": _pct(lineage_ms, 99),
        "show_p50_ms": _pct(show_ms, 50),
        "show_p99_ms": _pct(show_ms, 99),
    }


def cli_once(url: str, *args: str) -> float:
    env = {**os.environ, "FEATURELAKE_REGISTRY_URL": url, "FEATURELAKE_PROJECT": PROJECT}
    t = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "featurelake.cli.main", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"CLI failed: {out.stderr}")
    return (time.perf_counter() - t) * 1000


def main() -> None:
    admin_url = _pg_url()
    name = f"fl_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        t = time.perf_counter()
        n_versions, n_edges = build(url)
        build_s = time.perf_counter() - t
        figures = measure(url)
        cli_lineage = cli_once(
            url,
            "registry",
            "lineage",
            "data_source:raw_1@1",
            "--downstream",
            "--depth",
            "5",
            "--format",
            "json",
        )
        cli_show = cli_once(url, "registry", "show", "view_1:3", "-o", "json")
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, PostgreSQL (local stack)"
    )
    print(
        f"registry: {n_versions:,} feature view versions, {n_edges:,} lineage edges (built with COPY in {build_s:.1f} s)"
    )
    print(
        f"lineage --downstream --depth 5 from a data source: p50 {figures['lineage_p50_ms']:.1f} ms, "
        f"p99 {figures['lineage_p99_ms']:.1f} ms ({figures['lineage_samples']} samples, "
        f"{figures['lineage_edges_mean']:.0f} edges per answer on average) [target p99 < 50 ms]"
    )
    print(
        f"show (get_view_version): p50 {figures['show_p50_ms']:.1f} ms, p99 {figures['show_p99_ms']:.1f} ms"
    )
    print(f"CLI process once (start-up included): lineage {cli_lineage:.0f} ms, show {cli_show:.0f} ms")


if __name__ == "__main__":
    main()
