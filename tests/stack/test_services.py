"""The shared local stack, checked through the real services (never stopped here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from featurelake.config.settings import Settings
from featurelake.localstack import status, up
from tests.spark_submit import spark_submit_command

ROOT = Path(__file__).resolve().parents[2]


def _status_json() -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "featurelake.cli.main", "services", "status", "--output", "json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.s3
@pytest.mark.cluster
def test_status_reports_every_service_healthy_at_the_state_file_addresses(stack: dict[str, Any]) -> None:
    report = _status_json()
    services = report["services"]
    assert set(services) == {"postgres", "redis", "s3", "spark"}
    unhealthy = {name: svc["detail"] for name, svc in services.items() if not svc["healthy"]}
    assert not unhealthy
    assert report["healthy"] is True
    for svc in services.values():
        assert isinstance(svc["pid"], int) and Path(f"/proc/{svc['pid']}").exists()
    assert services["postgres"]["url"] == stack["postgres"]["url"]
    assert services["postgres"]["address"] == f"{stack['postgres']['host']}:{stack['postgres']['port']}"
    assert services["redis"]["nodes"] == stack["redis"]["nodes"]
    assert (services["redis"]["cluster_state"], services["redis"]["node_count"]) == ("ok", 6)
    assert services["redis"]["replicas_linked"] == 3
    assert services["s3"]["endpoint_url"] == stack["s3"]["endpoint_url"]
    assert services["spark"]["master_url"] == stack["spark"]["master_url"]
    assert services["spark"]["workers_alive"] >= 1
    # Everything on loopback only.
    assert all(svc["address"].startswith("127.0.0.1:") for svc in services.values())
    assert all(n.startswith("127.0.0.1:") for n in stack["redis"]["nodes"])


def _pids(report: dict[str, Any]) -> dict[str, Any]:
    return {name: svc.get("pids", svc["pid"]) for name, svc in report["services"].items()}


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.s3
@pytest.mark.cluster
def test_up_on_a_running_stack_is_idempotent(stack: dict[str, Any], shared_settings: Settings) -> None:
    before = status(shared_settings)
    assert before["healthy"], before
    lines: list[str] = []
    state = up(shared_settings, echo=lines.append)
    after = status(shared_settings)
    assert _pids(after) == _pids(before)
    assert state == stack
    assert not any("starting" in line or "creating" in line for line in lines), lines
    assert sum("already running" in line for line in lines) == 4, lines


@pytest.mark.redis
def test_redis_is_a_cluster_of_3_masters_and_3_linked_replicas(redis_nodes: list[str]) -> None:
    import redis
    from redis.cluster import ClusterNode, RedisCluster

    host, port = redis_nodes[0].rsplit(":", 1)
    with redis.Redis(host=host, port=int(port), decode_responses=True) as node:
        slots = node.execute_command("CLUSTER", "SLOTS")
    covered = sorted((int(s[0]), int(s[1])) for s in slots)
    assert len(covered) == 3
    assert covered[0][0] == 0 and covered[-1][1] == 16383
    assert all(covered[i][1] + 1 == covered[i + 1][0] for i in range(2)), covered
    masters = {f"{s[2][0]}:{s[2][1]}" for s in slots}
    replicas = {f"{r[0]}:{r[1]}" for s in slots for r in s[3:]}
    assert len(masters) == 3 and len(replicas) == 3
    assert masters | replicas == set(redis_nodes)
    for addr in replicas:
        h, p = addr.rsplit(":", 1)
        with redis.Redis(host=h, port=int(p), decode_responses=True) as rep:
            info = rep.info("replication")
        assert info["role"] == "slave" and info["master_link_status"] == "up", (addr, info)

    startup = [ClusterNode(h, int(p)) for h, p in (n.rsplit(":", 1) for n in redis_nodes)]
    client = RedisCluster(startup_nodes=startup, decode_responses=True)
    try:
        keys = {f"stack-test:{uuid.uuid4().hex}:{i}": f"value-{i}" for i in range(30)}
        for key, value in keys.items():
            client.set(key, value, ex=60)
        # 30 random keys land on every master (probability of missing one is ~(2/3)^30).
        owners = {client.get_node_from_key(k).name for k in keys}
        assert owners == masters
        assert {k: client.get(k) for k in keys} == keys
        for key in keys:  # keys live in different slots: one DEL each
            client.delete(key)
    finally:
        client.close()


@pytest.mark.s3
def test_s3_bucket_exists_and_round_trips_an_object(s3: dict[str, Any]) -> None:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=s3["endpoint_url"],
        aws_access_key_id=s3["access_key_id"],
        aws_secret_access_key=s3["secret_access_key"],
        region_name=s3["region"],
    )
    names = [b["Name"] for b in client.list_buckets()["Buckets"]]
    assert s3["bucket"] in names
    key = f"stack-test/{uuid.uuid4().hex}.txt"
    body = uuid.uuid4().bytes
    client.put_object(Bucket=s3["bucket"], Key=key, Body=body)
    try:
        assert client.get_object(Bucket=s3["bucket"], Key=key)["Body"].read() == body
    finally:
        client.delete_object(Bucket=s3["bucket"], Key=key)


@pytest.mark.postgres
def test_postgres_answers_and_the_role_can_create_a_database(pg_url: str) -> None:
    import sqlalchemy as sa

    name = f"stack_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            assert conn.execute(sa.text("select 1")).scalar() == 1
            assert conn.execute(
                sa.text("select rolsuper from pg_roles where rolname = current_user")
            ).scalar()
            conn.execute(sa.text(f'create database "{name}"'))
        scratch = sa.create_engine(pg_url.rsplit("/", 1)[0] + f"/{name}")
        try:
            with scratch.begin() as conn:
                conn.execute(sa.text("create table t (x int)"))
                conn.execute(sa.text("insert into t values (1), (2), (3)"))
                assert conn.execute(sa.text("select sum(x) from t")).scalar() == 6
        finally:
            scratch.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))
        admin.dispose()


_SPARK_JOB = """
import json, os, sys
from pyspark.sql import SparkSession

def executor_jvm(_):
    # Walk up from the Python worker to the executor JVM that forked it.
    pid = os.getpid()
    while pid > 1:
        cmd = open(f"/proc/{pid}/cmdline", "rb").read()
        if b"CoarseGrainedExecutorBackend" in cmd:
            return (os.getpid(), pid)
        pid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
    return (os.getpid(), None)

spark = SparkSession.builder.appName("featurelake-stack-test").getOrCreate()
sc = spark.sparkContext
rows = sc.parallelize(range(8), 4).map(executor_jvm).distinct().collect()
total = sc.parallelize(range(1000), 4).sum()
print("RESULT " + json.dumps({"driver_pid": os.getpid(), "driver_ppid": os.getppid(), "master": sc.master,
                              "workers": rows, "total": total}))
spark.stop()
"""


@pytest.mark.cluster
def test_spark_submit_runs_executors_in_separate_processes(spark_master: str, tmp_path: Path) -> None:
    script = tmp_path / "tiny_job.py"
    script.write_text(_SPARK_JOB)
    env = {
        **os.environ,
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": "127.0.0.1",
    }
    out = subprocess.run(
        spark_submit_command(script, master=spark_master, cores=2, executor_memory="512m"),
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    assert result["master"] == spark_master
    assert result["total"] == sum(range(1000))
    driver = {result["driver_pid"], result["driver_ppid"]}
    python_workers = {w[0] for w in result["workers"]}
    executor_jvms = {w[1] for w in result["workers"]}
    assert None not in executor_jvms, "a task did not run under a CoarseGrainedExecutorBackend JVM"
    assert not (python_workers | executor_jvms) & driver
