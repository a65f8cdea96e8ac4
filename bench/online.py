"""Online lookup benchmark: HTTP servers and in-process SDKs, open loop, in one run.

Same Redis data, one run, the demo feature repo (``feature_repo/``) copied under a fresh
project and applied with ``featurelake apply`` (which writes Feast's registry too), as
``tests/online/test_serve_feast_parity.py`` does; 10,000 users written into ``user_profile``
and ``user_transaction_stats`` by featurelake's writer (Feast's layout). Each request asks for
10 features from those two views (6 + 4), for one user (``single``) or 100 users (``batch``).

Paths, each at every offered rate (default 500, 1,000 and 2,000 requests/s) and both shapes:

* ``featurelake serve --workers W`` and ``feast serve -w W`` (Feast 0.67's Python feature
  server), both started inside the repo copy, answering over loopback;
* the in-process SDKs: featurelake's ``OnlineFeatureClient.get_online_features`` and Feast's
  ``FeatureStore.get_online_features`` (one thread calling at the due times).

The load is OPEN LOOP: request i is due at ``t0 + i / rate`` whatever happened before, and its
latency runs from when it was due to when its response was read, so a stall (queueing, the
coordinated omission of closed-loop tools) is counted in full. The HTTP load generator is one
separate process (asyncio on uvloop, raw HTTP/1.1 over a pool of keep-alive connections,
sending every request whose time has come on each wake-up); it shares the machine's cores with
the servers and Redis, and its own lateness (due -> handed to a connection task) is printed as ``gen lag p99``.
``server CPU ms/req`` is the server processes' CPU time (``/proc``, workers included) per
answered request: unlike latency, it hardly moves with the machine's load.
Requests not answered within ``--timeout`` seconds, non-200 answers and requests never sent
because the path fell more than ``--timeout`` behind count as errors.

Usage:
    .venv/bin/python bench/online.py [--rates 500,1000,2000] [--seconds 5] [--workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
USERS = 10_000
BATCH = 100
NOW = datetime.now(UTC).replace(microsecond=0)


def stack_nodes() -> list[str]:
    home = Path(os.environ.get("FEATURELAKE_HOME", ROOT / ".featurelake"))
    return json.loads((home / "stack" / "stack.json").read_text())["redis"]["nodes"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def quantiles(samples: list[float]) -> tuple[float, float, float]:
    """p50, p99, p99.9 in milliseconds (nearest rank)."""
    if not samples:
        return (float("nan"),) * 3
    s = sorted(samples)

    def q(p: float) -> float:
        return s[min(len(s) - 1, int(p * len(s)))] * 1000

    return q(0.50), q(0.99), q(0.999)


# --------------------------------------------------------------------------- setup
def setup(tmp: Path, nodes: list[str]) -> tuple[Path, dict[str, str], list[str]]:
    """Apply a copy of the demo repo under a new project; write USERS users. Returns (repo, env, refs)."""
    from featurelake.jobs.online import online_view_from_feast
    from featurelake.lakehouse.online import ClusterClient, OnlineWriter
    from featurelake.lakehouse.online.encoding import to_epoch_micros
    from featurelake.repo import load_repo

    project = "bench_online_" + uuid.uuid4().hex[:6]
    repo = tmp / "feature_repo"
    shutil.copytree(ROOT / "feature_repo", repo, ignore=shutil.ignore_patterns("data", "__pycache__"))
    yaml_file = repo / "feature_store.yaml"
    yaml_file.write_text(yaml_file.read_text().replace("project: fraud", f"project: {project}", 1))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEATURELAKE_")}
    env.update(
        FEATURELAKE_HOME=str(tmp / ".featurelake"),
        FEATURELAKE_PROJECT=project,
        FEATURELAKE_ONLINE_NODES=",".join(nodes),
        FEATURELAKE_STORAGE_ROOT=str(tmp / "lake"),
    )
    applied = subprocess.run(  # noqa: S603 - our own CLI
        [str(BIN / "featurelake"), "apply"], cwd=tmp, env=env, capture_output=True, text=True, timeout=600
    )
    if applied.returncode != 0:
        raise RuntimeError(applied.stdout + applied.stderr)
    client = ClusterClient(nodes)
    views = {fv.name: fv for fv in load_repo(repo).feature_views}
    ts = to_epoch_micros(NOW - timedelta(hours=1))
    refs = []
    for name, take in (("user_transaction_stats", 6), ("user_profile", 4)):
        view = online_view_from_feast(views[name])
        kinds = [k for _, k in view.features]
        make = {
            "int64": lambda u, i: u % 97 + i,
            "double": lambda u, i: u * 0.25 + i,
            "string": lambda u, i: "US",
        }
        OnlineWriter(client, project=project, view=view).write_rows(
            ([u], ts, [make[k](u, i) for i, k in enumerate(kinds)]) for u in range(USERS)
        )
        refs += [f"{name}:{f}" for f in view.feature_names[:take]]
    return repo, env, refs


def cleanup(nodes: list[str], project: str) -> None:
    from featurelake.lakehouse.online import ClusterClient, Command
    from featurelake.lakehouse.online.encoding import serialize_entity_key

    client = ClusterClient(nodes)
    keys = [serialize_entity_key((("user_id", "int64"),), [u]) + project.encode() for u in range(USERS)]
    for lo in range(0, USERS, 5000):
        client.execute([Command(k, ("DEL", k)) for k in keys[lo : lo + 5000]])


def bodies(refs: list[str], size: int, count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {"features": refs, "entities": {"user_id": [rng.randrange(USERS) for _ in range(size)]}}
        for _ in range(count)
    ]


# --------------------------------------------------------------------------- servers
def start_server(name: str, repo: Path, env: dict[str, str], workers: int, log: Path) -> tuple[Any, int]:
    port = free_port()
    if name == "feast":
        cmd = [str(BIN / "feast"), "serve", "-p", str(port), "--no-access-log", "-w", str(workers)]
    else:
        cmd = [str(BIN / "featurelake"), "serve", "--port", str(port), "--workers", str(workers)]
    with log.open("w") as out:
        proc = subprocess.Popen(  # noqa: S603 - our own tools
            cmd, cwd=repo, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:  # noqa: S310
                if resp.status == 200:
                    return proc, port
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"{name} did not become healthy:\n{log.read_text()}")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a server process and all its descendants (workers), from /proc."""
    total = 0
    procs, i = [str(pid)], 0
    while i < len(procs):
        for task in Path(f"/proc/{procs[i]}/task").iterdir():
            procs += (task / "children").read_text().split()
        i += 1
    for p in procs:
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def stop_server(proc: Any) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# --------------------------------------------------------------------------- HTTP load generator
async def _http_load(
    port: int, payloads: list[bytes], rate: float, seconds: float, conns: int, timeout: float
) -> dict[str, Any]:
    clock = time.perf_counter  # uvloop's loop.time() has millisecond resolution
    pool: asyncio.Queue = asyncio.Queue()
    for _ in range(conns):
        pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    latencies: list[float] = []
    lags: list[float] = []
    errors = 0

    async def one(i: int, due: float) -> None:
        nonlocal errors
        lags.append(clock() - due)  # the generator's own lateness (timer granularity, its CPU share)
        try:
            reader, writer = await asyncio.wait_for(pool.get(), timeout)
        except TimeoutError:  # every connection is busy with an unanswered request
            errors += 1
            return
        try:
            writer.write(payloads[i % len(payloads)])
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await asyncio.wait_for(reader.readexactly(length), timeout)
            if not head.startswith(b"HTTP/1.1 200"):
                errors += 1
            latencies.append(clock() - due)
        except (TimeoutError, OSError, asyncio.IncompleteReadError):
            errors += 1
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        pool.put_nowait((reader, writer))

    total = int(rate * seconds)
    t0 = clock() + 0.1
    tasks = []
    i = 0
    while i < total:
        now = clock()
        if now - (t0 + i / rate) > timeout:  # hopelessly behind: the rest are never sent
            errors += total - i
            break
        while i < total and t0 + i / rate <= now:
            tasks.append(asyncio.create_task(one(i, t0 + i / rate)))
            i += 1
        if i < total:
            await asyncio.sleep(max(0.0, t0 + i / rate - clock()))
    await asyncio.gather(*tasks)
    elapsed = clock() - t0
    return {"latencies": latencies, "lags": lags, "errors": errors, "elapsed": elapsed, "sent": total}


def _http_load_main(
    port: int, payloads: list[bytes], rate: float, seconds: float, timeout: float, out: str
) -> None:
    import uvloop

    result = uvloop.run(_http_load(port, payloads, rate, seconds, conns=64, timeout=timeout))
    Path(out).write_text(json.dumps(result))


def http_run(
    port: int, docs: list[dict[str, Any]], rate: float, seconds: float, timeout: float
) -> dict[str, Any]:
    payloads = []
    for doc in docs:
        body = json.dumps(doc).encode()
        payloads.append(
            b"POST /get-online-features HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
    out = tempfile.mktemp(suffix=".json")  # noqa: S306 - a private temp file for one child
    proc = mp.get_context("spawn").Process(
        target=_http_load_main, args=(port, payloads, rate, seconds, timeout, out)
    )
    proc.start()
    proc.join()
    data = json.loads(Path(out).read_text())
    Path(out).unlink()
    return data


# --------------------------------------------------------------------------- in-process SDKs
def sdk_run(
    call: Any, docs: list[dict[str, Any]], rate: float, seconds: float, timeout: float
) -> dict[str, Any]:
    """Open loop in this thread: call i at t0 + i/rate (or as soon as the previous call returns)."""
    for doc in docs[:50]:  # warm-up
        call(doc)
    total = int(rate * seconds)
    latencies, lags = [], []
    errors = 0
    t0 = time.perf_counter() + 0.05
    for i in range(total):
        due = t0 + i / rate
        now = time.perf_counter()
        if now - due > timeout:
            errors += total - i
            break
        if due > now:
            time.sleep(due - now)
        lags.append(max(0.0, time.perf_counter() - due))
        try:
            call(docs[i % len(docs)])
        except Exception:  # noqa: BLE001 - counted
            errors += 1
            continue
        latencies.append(time.perf_counter() - due)
    return {
        "latencies": latencies,
        "lags": lags,
        "errors": errors,
        "elapsed": time.perf_counter() - t0,
        "sent": total,
    }


# --------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="500,1000,2000", help="offered requests/s, comma-separated")
    parser.add_argument("--seconds", type=float, default=5.0, help="load per path, shape and rate")
    parser.add_argument("--workers", type=int, default=1, help="server workers (both servers)")
    parser.add_argument(
        "--timeout", type=float, default=2.0, help="seconds before a request counts as an error"
    )
    parser.add_argument("--skip-sdk", action="store_true", help="HTTP servers only")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    rates = [float(r) for r in args.rates.split(",")]
    nodes = stack_nodes()
    started = time.time()
    load_before = os.getloadavg()
    results: list[tuple[str, str, float, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        repo, env, refs = setup(tmp, nodes)
        project = env["FEATURELAKE_PROJECT"]
        shapes = {"single": bodies(refs, 1, 2000, 1), f"batch {BATCH}": bodies(refs, BATCH, 200, 2)}
        servers = {}
        try:
            for name in ("featurelake", "feast"):
                servers[name] = start_server(name, repo, env, args.workers, tmp / f"{name}.log")
            check = {}
            for name, (_, port) in servers.items():
                req = urllib.request.Request(  # noqa: S310 - loopback
                    f"http://127.0.0.1:{port}/get-online-features",
                    data=json.dumps(shapes["single"][0]).encode(),
                    headers={"content-type": "application/json"},
                )
                with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
                    doc = json.loads(resp.read())
                check[name] = {
                    n: r["values"]
                    for n, r in zip(doc["metadata"]["feature_names"], doc["results"], strict=True)
                }
            if check["featurelake"] != check["feast"]:
                raise RuntimeError(f"the servers disagree: {check}")
            for shape, docs in shapes.items():
                for rate in rates:
                    for name, (proc, port) in servers.items():
                        cpu_before = cpu_seconds(proc.pid)
                        res = http_run(port, docs, rate, args.seconds, args.timeout)
                        res["cpu"] = cpu_seconds(proc.pid) - cpu_before
                        results.append((f"{name} serve (HTTP)", shape, rate, res))
                        print(
                            f"  {name:<12} {shape:<10} {rate:>6.0f}/s  p99 {quantiles(res['latencies'])[1]:.2f} ms"
                        )
        finally:
            for proc, _ in servers.values():
                stop_server(proc)
        if not args.skip_sdk:
            os.environ["FEATURELAKE_ONLINE_NODES"] = ",".join(nodes)
            from feast import FeatureStore

            from featurelake.jobs.online import FeatureCatalog, OnlineFeatureClient
            from featurelake.repo import load_repo

            loaded = load_repo(repo)
            ours = OnlineFeatureClient.connect(
                FeatureCatalog.from_feast(project, feature_views=loaded.feature_views), nodes
            )
            store = FeatureStore(repo_path=str(repo))
            sdks = {
                "featurelake SDK": lambda d: ours.get_online_features(
                    features=d["features"], entity_rows=d["entities"]
                ).to_dict(),
                "Feast SDK": lambda d: store.get_online_features(
                    features=d["features"], entity_rows=[{"user_id": u} for u in d["entities"]["user_id"]]
                ).to_dict(),
            }
            for shape, docs in shapes.items():
                for rate in rates:
                    for name, call in sdks.items():
                        res = sdk_run(call, docs, rate, args.seconds, args.timeout)
                        results.append((name, shape, rate, res))
                        print(
                            f"  {name:<12} {shape:<10} {rate:>6.0f}/s  p99 {quantiles(res['latencies'])[1]:.2f} ms"
                        )
        cleanup(nodes, project)
    load_after = os.getloadavg()
    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"{datetime.fromtimestamp(started, UTC):%Y-%m-%d %H:%M} UTC, {time.time() - started:.0f} s; "
        f"load average before {load_before[0]:.1f}, after {load_after[0]:.1f}"
    )
    print(
        f"{USERS:,} users; 10 features from 2 views; {args.seconds:.0f} s per line, open loop; servers with "
        f"{args.workers} worker(s); HTTP load: 1 asyncio process, 64 keep-alive connections, same cores"
    )
    header = (
        f"{'path':<26} {'shape':<10} {'offered':>8} {'achieved':>9} {'errors':>7} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'p999 ms':>8} {'gen lag p99':>11} {'server CPU ms/req':>17}"
    )
    print(header)
    by_key = {}
    for name, shape, rate, res in results:
        p50, p99, p999 = quantiles(res["latencies"])
        lag = quantiles(res["lags"])[1]
        achieved = len(res["latencies"]) / res["elapsed"] if res["elapsed"] else 0
        by_key[(name, shape, rate)] = (p99, achieved)
        # "-": no answers, or a worker process was replaced during the run (its CPU time left with it)
        cpu_ms = (
            f"{1000 * res['cpu'] / len(res['latencies']):.2f}"
            if res.get("cpu", -1) >= 0 and res["latencies"]
            else "-"
        )
        print(
            f"{name:<26} {shape:<10} {rate:>8.0f} {achieved:>9.0f} {res['errors']:>7} "
            f"{p50:>8.2f} {p99:>8.2f} {p999:>8.2f} {lag:>11.2f} {cpu_ms:>17}"
        )
    print(
        "\nFeast / featurelake: p99 ratio (above 1: featurelake ahead), achieved-rate ratio (below 1: ahead)"
    )
    for shape in shapes:
        for rate in rates:
            parts = []
            for label, theirs, ours in (
                ("HTTP", "feast serve (HTTP)", "featurelake serve (HTTP)"),
                ("SDK", "Feast SDK", "featurelake SDK"),
            ):
                if (ours, shape, rate) not in by_key:
                    continue
                (p99_t, rate_t), (p99_o, rate_o) = by_key[(theirs, shape, rate)], by_key[(ours, shape, rate)]
                p99_ratio = f"{p99_t / p99_o:.1f}x" if p99_t == p99_t else "Feast answered none in time"
                parts.append(
                    f"{label} p99 {p99_ratio}, rate {rate_t / rate_o if rate_o else float('nan'):.2f}"
                )
            print(f"  {shape:<10} {rate:>6.0f}/s: " + "; ".join(parts))


if __name__ == "__main__":
    main()
