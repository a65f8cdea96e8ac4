"""The feature server's fast lookup path (``featurelake.server.lookup``) and ``--workers``.

* The plan path answers exactly as the SDK path (``OnlineFeatureClient.get_online_features``):
  JSON-equal, key order included, over present, null, stale and missing values, two views
  sharing one Redis hash, full feature names, services and view metadata.
* A 100-row batch is ONE pipelined send per master and one HMGET per entity key for two views
  keyed by the same entity (counted on the real cluster's connections).
* ``featurelake serve --workers 2`` runs two worker processes that answer on one port.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from featurelake.jobs.online import FeatureCatalog, OnlineFeatureClient
from featurelake.lakehouse.online import ClusterClient, OnlineView, OnlineWriter
from featurelake.lakehouse.online.encoding import to_epoch_micros
from featurelake.server.app import create_app
from tests.online.helpers import unique_project

pytestmark = pytest.mark.redis

RISK = OnlineView(
    "risk",
    (("merchant_id", "int64"),),
    (("score", "double"), ("mcc", "string"), ("count", "int64"), ("ratio", "float")),
    ttl=timedelta(days=1),
)
PROFILE = OnlineView(  # same join key: Feast keeps both views in one Redis hash per merchant
    "profile", (("merchant_id", "int64"),), (("country", "string"), ("age", "int64")), ttl=None
)
PAIR = OnlineView(
    "pair", (("merchant_id", "int64"), ("user", "string")), (("seen", "int64"),), ttl=timedelta(days=1)
)


class CountingClient(ClusterClient):
    """A cluster client that counts, per node, the pipelines of HMGETs sent, and the HMGETs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sends: Counter[str] = Counter()
        self.hmgets = 0

    def _conn(self, node: str) -> Any:
        conn = super()._conn(node)
        if not getattr(conn, "_counted", False):
            send = conn.send_packed_command

            def counted(command: Any, *args: Any, **kwargs: Any) -> Any:
                hmgets = b"".join(command).count(b"$5\r\nHMGET\r\n")
                if hmgets:  # not the connection's own handshake (CLIENT SETINFO)
                    self.sends[node] += 1
                    self.hmgets += hmgets
                return send(command, *args, **kwargs)

            conn.send_packed_command = counted
            conn._counted = True
        return conn


@pytest.fixture(scope="module")
def served(redis_nodes) -> dict[str, Any]:
    project = unique_project()
    now = datetime.now(UTC)
    fresh, old = to_epoch_micros(now - timedelta(hours=1)), to_epoch_micros(now - timedelta(days=3))
    client = ClusterClient(redis_nodes)
    rows = [([m], fresh, [m / 8, f"m{m}", m * 1000, 0.5]) for m in range(1, 120)]
    rows[1] = ([2], fresh, [None, "null score", -5, None])
    rows[2] = ([3], old, [0.75, "stale", 3, 1.5])
    OnlineWriter(client, project=project, view=RISK).write_rows(rows)
    OnlineWriter(client, project=project, view=PROFILE).write_rows(
        [([m], old, ["FR" if m % 2 else "DE", m]) for m in range(1, 60)]
    )
    OnlineWriter(client, project=project, view=PAIR).write_rows(
        [([1, "a"], fresh, [7]), ([2, "b"], old, [8])]
    )
    catalog = FeatureCatalog(
        project=project,
        views={"risk": RISK, "profile": PROFILE, "pair": PAIR},
        services={"svc": [("profile", ("age",)), ("risk", ("score", "mcc"))]},
    )
    counting = CountingClient(redis_nodes)
    counting.refresh()
    sdk = OnlineFeatureClient(catalog, counting)
    return {"sdk": sdk, "http": TestClient(create_app(sdk)), "client": counting}


CASES = [
    {
        "features": ["risk:score", "risk:mcc", "profile:country"],
        "entities": {"merchant_id": [1, 2, 3, 500, 1]},
    },
    {
        "features": ["profile:age", "risk:count", "risk:ratio", "risk:score"],
        "entities": {"other": ["x", "y"], "merchant_id": [70, 4]},
        "full_feature_names": True,
        "include_feature_view_version_metadata": True,
    },
    {"feature_service": "svc", "entities": {"merchant_id": [5, 3]}},
    {
        "features": ["pair:seen", "risk:score"],
        "entities": {"user": ["a", "b", "c"], "merchant_id": [1, 2, 1]},
    },
]


@pytest.mark.parametrize("body", CASES, ids=["statuses", "full names", "service", "two join keys"])
def test_plan_path_answers_as_the_sdk_path(served, body) -> None:
    response = served["http"].post("/get-online-features", json=body)
    assert response.status_code == 200, response.text
    expected = (
        served["sdk"]
        .get_online_features(
            entity_rows=body["entities"],
            features=body.get("features"),
            feature_service=body.get("feature_service"),
            full_feature_names=body.get("full_feature_names", False),
        )
        .to_feast_json(
            include_feature_view_version_metadata=body.get("include_feature_view_version_metadata", False)
        )
    )
    # JSON-equal, key order included (dict equality ignores order; the dumps do not)
    assert json.dumps(response.json()) == json.dumps(expected)
    plan = served["http"].app.state.lookup_plans.get(  # the plan path answered (it has a plan)
        served["sdk"].catalog,
        features=body.get("features"),
        feature_service=body.get("feature_service"),
        full_feature_names=body.get("full_feature_names", False),
        entity_names=list(body["entities"]),
    )
    assert plan is not None


def test_plan_path_hands_errors_to_the_sdk_path(served) -> None:
    wrong = served["http"].post(
        "/get-online-features", json={"features": ["risk:score"], "entities": {"merchant_id": [1, "x"]}}
    )
    assert wrong.status_code == 400 and "must be an integer" in wrong.json()


def test_a_100_row_batch_is_one_pipeline_per_master(served) -> None:
    client: CountingClient = served["client"]
    ids = list(range(1, 101))
    client.sends.clear()
    client.hmgets = 0
    response = served["http"].post(
        "/get-online-features",
        json={"features": ["risk:score", "profile:country", "risk:mcc"], "entities": {"merchant_id": ids}},
    )
    assert response.status_code == 200
    assert response.json()["results"][1]["values"][:2] == [1 / 8, None]
    masters = set(client.masters())
    assert set(client.sends) == masters, client.sends  # 100 keys land on every master
    assert all(n == 1 for n in client.sends.values()), client.sends  # one pipelined send each
    assert client.hmgets == 100  # one HMGET per entity for both views (one Redis hash)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_with_two_workers(tmp_path: Path, redis_nodes) -> None:
    from featurelake.registry.writer import open_registry

    url = f"sqlite:///{tmp_path / 'registry.db'}"
    open_registry(url, create=True).dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEATURELAKE_")}
    env.update(
        FEATURELAKE_HOME=str(tmp_path / ".featurelake"),
        FEATURELAKE_REGISTRY_URL=url,
        FEATURELAKE_ONLINE_NODES=",".join(redis_nodes),
        FEATURELAKE_PROJECT=unique_project(),
    )
    port = _free_port()
    cli = Path(sys.executable).parent / "featurelake"
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(cli), "serve", "--port", str(port), "--workers", "2"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        workers = [c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]
        assert len(workers) == 2, (children, log.read_text())
        answered = 0
        for _ in range(10):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as resp:
                answered += resp.status == 200
        assert answered == 10
        assert "2 workers" in log.read_text()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
