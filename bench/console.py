"""Console benchmark: page and API latency on the synthetic registry of bench/registry.py.

Builds the same synthetic project in a fresh database on the local stack's PostgreSQL (10,000
feature view versions, ~100,000 lineage edges), serves the console with uvicorn on a free
loopback port (bearer-token sign-in, as in production), and measures over HTTP p50/p99 of the
view page, the lineage graph at depth 5 (page and API) and search. In the same run it times the
library calls behind them (the baseline) and prints the ratio, i.e. what the console adds.

Run: .venv/bin/python bench/console.py   (needs `featurelake services up`)
"""

from __future__ import annotations

import importlib.util
import os
import platform
import random
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import requests
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from featurelake.config.settings import ConsoleIdentity, ConsoleSettings  # noqa: E402
from featurelake.console import queries  # noqa: E402
from featurelake.console.access import AccessControl, token_hash  # noqa: E402
from featurelake.console.app import create_app  # noqa: E402
from featurelake.console.delta import table_facts  # noqa: E402
from featurelake.lakehouse import Lakehouse  # noqa: E402
from featurelake.registry import Node, open_registry  # noqa: E402

SAMPLES = 200
TOKEN = "bench-viewer-token"


def _synthetic():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_registry", ROOT / "bench" / "registry.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pct(values: list[float], q: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def _time(fn: Callable[[], object], samples: int) -> list[float]:
    out = []
    for _ in range(samples):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    syn = _synthetic()
    admin_url = syn._pg_url()
    name = f"fl_bench_console_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    server = None
    try:
        t = time.perf_counter()
        n_versions, n_edges = syn.build(url)
        build_s = time.perf_counter() - t
        reg = open_registry(url)
        lake = Lakehouse(tempfile.mkdtemp(prefix="fl-bench-console-"))
        access = AccessControl(
            ConsoleSettings(
                identities=[ConsoleIdentity(name="bench", role="viewer", token_sha256=token_hash(TOKEN))]
            )
        )
        app = create_app(reg, project=syn.PROJECT, access=access, table_facts=lambda n: table_facts(lake, n))
        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
        )
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {TOKEN}"
        rnd = random.Random(7)

        def source() -> str:
            return str(
                Node.data_source(f"raw_{rnd.randrange(syn.TABLES)}", rnd.randrange(syn.TABLE_VERSIONS))
            )

        def get(path: str, **params: object) -> None:
            r = http.get(base + path, params=params, timeout=30)
            if r.status_code not in (200, 404):  # 404: a source version no view sampled
                raise SystemExit(f"{path} {params}: {r.status_code} {r.text[:300]}")

        cases: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
            "view page (/views/NAME?version=V)": (
                lambda: get(
                    f"/views/view_{rnd.randrange(syn.VIEWS)}", version=str(rnd.randrange(1, syn.VERSIONS + 1))
                ),
                lambda: reg.get_view_version(
                    syn.PROJECT, f"view_{rnd.randrange(syn.VIEWS)}", str(rnd.randrange(1, 6))
                ),
            ),
            "lineage page, depth 5 (/lineage?node=...)": (
                lambda: get("/lineage", node=source(), depth=5, direction="downstream"),
                lambda: _lineage(reg, syn.PROJECT, source()),
            ),
            "lineage API, depth 5 (/api/lineage)": (
                lambda: get("/api/lineage", node=source(), depth=5, direction="downstream"),
                lambda: _lineage(reg, syn.PROJECT, source()),
            ),
            "search page (/?q=view_N)": (
                lambda: get("/", q=f"view_{rnd.randrange(syn.VIEWS)}"),
                lambda: reg.audit(project=syn.PROJECT, limit=1),  # the index's change check
            ),
        }
        cold = _time(lambda: queries.search(reg, syn.PROJECT, "view_1"), 3)  # a fresh index each call
        results = {}
        for label, (console_call, library_call) in cases.items():
            _time(console_call, 10)  # warm-up
            _time(library_call, 10)
            results[label] = (_time(console_call, SAMPLES), _time(library_call, SAMPLES))
        reg.dispose()
    finally:
        if server is not None:
            server.should_exit = True
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        "PostgreSQL (local stack), console on uvicorn over loopback HTTP, bearer-token auth"
    )
    print(
        f"registry: {n_versions:,} feature view versions, {n_edges:,} lineage edges (built in {build_s:.1f} s)"
    )
    print(f"{SAMPLES} requests each after warm-up; baseline = the library call behind the page, same run")
    print(
        f"{'operation':<44} {'p50 ms':>8} {'p99 ms':>8} {'library p50':>12} {'library p99':>12} {'p50 ratio':>10}"
    )
    for label, (console_ms, library_ms) in results.items():
        print(
            f"{label:<44} {_pct(console_ms, 50):>8.1f} {_pct(console_ms, 99):>8.1f} "
            f"{_pct(library_ms, 50):>12.1f} {_pct(library_ms, 99):>12.1f} "
            f"{_pct(console_ms, 50) / max(_pct(library_ms, 50), 1e-9):>9.1f}x"
        )
    print(
        f"search with a cold index (rebuilt after a definition or status change): "
        f"{', '.join(f'{c:.0f}' for c in cold)} ms (3 runs)"
    )
    print("target: p99 < 200 ms for the view page, the lineage graph at depth 5 and search")


def _lineage(reg, project: str, node: str) -> object:  # type: ignore[no-untyped-def]
    try:
        return queries.lineage_graph(reg, project, Node.parse(node), depth=5, direction="downstream")
    except Exception:  # noqa: BLE001 - a source version no view sampled, as the console's 404
        return None


if __name__ == "__main__":
    main()
