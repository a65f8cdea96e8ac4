"""One large request must not hold up the feature server: /health keeps answering while it runs.

A real uvicorn server (not the in-process TestClient, which runs one request at a time) gets a
120,000-row lookup; meanwhile /health is polled. Before the request path moved off the event
loop, no health check completed until the big request was done. The test asserts that health
checks complete *while* the big request is in flight (an ordering, not a time limit) and prints
the health latencies it saw.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from featurelake.jobs.online import FeatureCatalog, OnlineFeatureClient
from featurelake.lakehouse.online import ClusterClient, OnlineView, OnlineWriter
from featurelake.lakehouse.online.encoding import to_epoch_micros
from featurelake.server.app import create_app
from tests.online.helpers import unique_project

pytestmark = pytest.mark.redis

ROWS = 120_000
VIEW = OnlineView("merchant", (("merchant_id", "int64"),), (("risk", "double"),), ttl=timedelta(days=1))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _request(
    port: int, method: str, path: str, body: bytes | None = None, timeout: float = 300
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers={"content-type": "application/json"} if body else {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_health_answers_while_a_maximal_request_runs(redis_nodes) -> None:
    import uvicorn

    project = unique_project()
    OnlineWriter(ClusterClient(redis_nodes), project=project, view=VIEW).write_rows(
        [([i], to_epoch_micros(datetime.now(UTC)), [i / 10]) for i in range(100)]
    )
    sdk = OnlineFeatureClient.connect(FeatureCatalog(project=project, views={"merchant": VIEW}), redis_nodes)
    app = create_app(sdk, max_request_bytes=4_000_000)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.05)
        assert server.started, "uvicorn did not start"
        body = json.dumps(
            {"features": ["merchant:risk"], "entities": {"merchant_id": list(range(ROWS))}}
        ).encode()
        big: dict[str, object] = {}

        def run_big() -> None:
            big["start"] = time.monotonic()
            big["status"], big["body"] = _request(port, "POST", "/get-online-features", body)
            big["end"] = time.monotonic()

        worker = threading.Thread(target=run_big)
        worker.start()
        latencies, during = [], 0
        while worker.is_alive():
            t0 = time.monotonic()
            status, _ = _request(port, "GET", "/health", timeout=60)
            t1 = time.monotonic()
            assert status == 200
            latencies.append((t1 - t0) * 1000)
            if worker.is_alive():  # this health check finished while the big request was still running
                during += 1
            time.sleep(0.01)
        worker.join()
        assert big["status"] == 200, big["body"][:300]
        result = json.loads(big["body"])
        assert len(result["results"][0]["values"]) == ROWS
        assert result["results"][1]["statuses"][:2] == ["PRESENT", "PRESENT"]
        latencies.sort()
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else float("nan")
        print(
            f"\nbig request {ROWS} rows: {big['end'] - big['start']:.2f}s; health checks during it: {during}, "
            f"latency p50 {latencies[len(latencies) // 2] if latencies else float('nan'):.1f} ms, p99 {p99:.1f} ms"
        )
        assert during >= 3, f"only {during} health checks completed while the large request ran"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
