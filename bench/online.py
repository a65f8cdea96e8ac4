"""Online lookup benchmark: single-entity lookups of 10 features across two views.

Same keys, same Redis cluster, one run:

* featurelake SDK (``OnlineFeatureClient.get_online_features``) vs Feast's SDK
  (``FeatureStore.get_online_features`` with ``redis_type: redis_cluster``): p50/p99 of one call;
* featurelake's HTTP server (``featurelake serve``'s app under uvicorn, 127.0.0.1) under a steady
  open-loop load from a second process (default 500 requests/s for 20 s): p50/p99 and the
  achieved rate.

Data: 10,000 users; view ``bench_activity`` (6 features) and ``bench_profile`` (4 features),
written with featurelake's writer under a fresh project and deleted afterwards.

Usage:
    .venv/bin/python bench/online.py [--lookups 3000] [--rate 500] [--seconds 20]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from featurelake.lakehouse.online import ClusterClient, Command, OnlineView, OnlineWriter  # noqa: E402
from featurelake.lakehouse.online.encoding import serialize_entity_key, to_epoch_micros  # noqa: E402

USERS = 10_000
NOW = datetime.now(UTC).replace(microsecond=0)
ACTIVITY = OnlineView(
    "bench_activity",
    (("user_id", "int64"),),
    (
        ("clicks_1d", "int64"),
        ("clicks_7d", "int64"),
        ("spend_1d", "double"),
        ("spend_7d", "double"),
        ("sessions_7d", "int64"),
        ("avg_basket", "double"),
    ),
    ttl=timedelta(days=2),
)
PROFILE = OnlineView(
    "bench_profile",
    (("user_id", "int64"),),
    (("age_days", "int64"), ("country", "string"), ("tier", "string"), ("score", "double")),
    ttl=timedelta(days=2),
)
REFS = [f"{v.name}:{f}" for v in (ACTIVITY, PROFILE) for f in v.feature_names]


def stack_nodes() -> list[str]:
    home = Path(os.environ.get("FEATURELAKE_HOME", ROOT / ".featurelake"))
    return json.loads((home / "stack" / "stack.json").read_text())["redis"]["nodes"]


def load(nodes: list[str], project: str) -> None:
    client = ClusterClient(nodes)
    ts = to_epoch_micros(NOW - timedelta(hours=1))
    OnlineWriter(client, project=project, view=ACTIVITY).write_rows(
        ([u], ts, [u % 50, u % 300, u * 0.5, u * 3.5, u % 20, 12.25]) for u in range(USERS)
    )
    OnlineWriter(client, project=project, view=PROFILE).write_rows(
        ([u], ts, [u % 4000, ["US", "GB", "DE"][u % 3], "gold", u / USERS]) for u in range(USERS)
    )


def cleanup(nodes: list[str], project: str) -> None:
    client = ClusterClient(nodes)
    keys = [serialize_entity_key(ACTIVITY.join_keys, [u]) + project.encode() for u in range(USERS)]
    for lo in range(0, USERS, 5000):
        client.execute([Command(k, ("DEL", k)) for k in keys[lo : lo + 5000]])


def catalog(project: str):
    from featurelake.jobs.online import FeatureCatalog

    return FeatureCatalog(project=project, views={ACTIVITY.name: ACTIVITY, PROFILE.name: PROFILE})


def feast_store(tmp: Path, project: str, nodes: list[str]):
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, RepoConfig, ValueType
    from feast.repo_config import RegistryConfig
    from feast.types import Float64, Int64, String

    store = FeatureStore(
        config=RepoConfig(
            project=project,
            provider="local",
            registry=RegistryConfig(path=str(tmp / "registry.db")),
            online_store={
                "type": "redis",
                "redis_type": "redis_cluster",
                "connection_string": ",".join(nodes),
            },
            entity_key_serialization_version=3,
        )
    )
    user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64)
    src = FileSource(path=str(tmp / "unused.parquet"), timestamp_field="event_timestamp")
    dtype = {"int64": Int64, "double": Float64, "string": String}
    views = [
        FeatureView(
            name=v.name,
            entities=[user],
            ttl=v.ttl,
            source=src,
            online=True,
            schema=[Field(name="user_id", dtype=Int64)]
            + [Field(name=f, dtype=dtype[k]) for f, k in v.features],
        )
        for v in (ACTIVITY, PROFILE)
    ]
    store.apply([user, *views])
    return store


def percentiles(samples: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return q[49] * 1000, q[98] * 1000


def time_calls(fn, keys: list[int]) -> tuple[float, float]:
    for k in keys[:200]:  # warm-up
        fn(k)
    samples = []
    for k in keys:
        t = time.perf_counter()
        fn(k)
        samples.append(time.perf_counter() - t)
    return percentiles(samples)


# --------------------------------------------------------------------------- server
def serve_main(project: str, nodes: list[str], port: int) -> None:
    from featurelake.jobs.online import OnlineFeatureClient
    from featurelake.server.app import create_app, serve

    sdk = OnlineFeatureClient.connect(catalog(project), nodes)
    serve(create_app(sdk), host="127.0.0.1", port=port)


def load_main(port: int, rate: float, seconds: float, out: str) -> None:
    """Open-loop load: request i is due at t0 + i/rate; latency counts from when it was due."""
    conn = http.client.HTTPConnection("127.0.0.1", port)
    rng = random.Random(5)
    headers = {"content-type": "application/json"}
    total = int(rate * seconds)
    latencies, errors = [], 0
    t0 = time.perf_counter() + 0.2
    for i in range(total):
        due = t0 + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        body = json.dumps({"features": REFS, "entities": {"user_id": [rng.randrange(USERS)]}})
        conn.request("POST", "/get-online-features", body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            errors += 1
        latencies.append(time.perf_counter() - due)
    elapsed = time.perf_counter() - t0
    Path(out).write_text(json.dumps({"latencies": latencies, "errors": errors, "elapsed": elapsed}))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_server_load(project: str, nodes: list[str], rate: float, seconds: float) -> dict:
    port = free_port()
    server = subprocess.Popen(  # noqa: S603 - our own script
        [sys.executable, __file__, "--serve", project, ",".join(nodes), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                c.request("GET", "/health")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("feature server did not start")
        out = tempfile.mktemp(suffix=".json")
        proc = mp.get_context("spawn").Process(target=load_main, args=(port, rate, seconds, out))
        proc.start()
        proc.join()
        data = json.loads(Path(out).read_text())
        Path(out).unlink()
    finally:
        server.terminate()
        server.wait(timeout=20)
    p50, p99 = percentiles(data["latencies"])
    return {
        "p50": p50,
        "p99": p99,
        "errors": data["errors"],
        "rate": len(data["latencies"]) / data["elapsed"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lookups", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    nodes = stack_nodes()
    project = "bench_online_" + uuid.uuid4().hex[:6]
    rng = random.Random(1)
    keys = [rng.randrange(USERS) for _ in range(args.lookups)]
    load(nodes, project)
    try:
        from featurelake.jobs.online import OnlineFeatureClient

        sdk = OnlineFeatureClient.connect(catalog(project), nodes)
        ours = time_calls(
            lambda k: sdk.get_online_features(features=REFS, entity_rows=[{"user_id": k}]).to_dict(), keys
        )
        check = sdk.get_online_features(features=REFS, entity_rows=[{"user_id": 7}]).to_dict()
        with tempfile.TemporaryDirectory() as tmp:
            store = feast_store(Path(tmp), project, nodes)
            feast_check = store.get_online_features(features=REFS, entity_rows=[{"user_id": 7}]).to_dict()
            assert {k: v for k, v in feast_check.items()} == check, (feast_check, check)
            theirs = time_calls(
                lambda k: store.get_online_features(features=REFS, entity_rows=[{"user_id": k}]).to_dict(),
                keys,
            )
        server = run_server_load(project, nodes, args.rate, args.seconds)
    finally:
        cleanup(nodes, project)
    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"{USERS:,} users; 10 features from 2 views per lookup; {args.lookups} lookups per SDK"
    )
    print(f"{'lookup path':<46} {'p50 ms':>8} {'p99 ms':>8}")
    print(f"{'featurelake SDK':<46} {ours[0]:>8.3f} {ours[1]:>8.3f}")
    print(f"{'Feast SDK (FeatureStore.get_online_features)':<46} {theirs[0]:>8.3f} {theirs[1]:>8.3f}")
    print(
        f"{f'featurelake HTTP server @ {args.rate:.0f} req/s offered':<46} {server['p50']:>8.3f} {server['p99']:>8.3f}"
        f"   (achieved {server['rate']:.0f} req/s, {server['errors']} errors)"
    )
    print(
        f"\nSDK p99 {ours[1]:.2f} ms (target <= 2 ms); Feast is {theirs[0] / ours[0]:.1f}x slower at p50; "
        f"server p99 {server['p99']:.2f} ms (target <= 10 ms at 500 req/s)"
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve_main(sys.argv[2], sys.argv[3].split(","), int(sys.argv[4]))
    else:
        main()
