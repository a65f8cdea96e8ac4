"""Push: ``POST /push`` (Feast's push request) and ``featurelake push`` into a view's event log."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.streaming.world import EVENTS, T0, World, make_world

pytestmark = [pytest.mark.redis]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, redis_nodes: list[str]) -> World:
    from deltalake import write_deltalake

    w = make_world(tmp_path_factory.mktemp("push"), redis_nodes)
    seed = pa.table(
        {
            "card": pa.array([1], pa.int64()),
            "ts": pa.array([T0], pa.timestamp("us", tz="UTC")),
            "amount": pa.array([1.0]),
            "event_date": pa.array([T0.date()]),
        }
    )
    write_deltalake(w.lakehouse.table_uri(EVENTS), seed, partition_by=["event_date"])
    yield w
    w.registry.dispose()


@pytest.fixture(scope="module")
def http(world: World):
    from fastapi.testclient import TestClient

    from featurelake.jobs.online import connect, load_catalog
    from featurelake.jobs.push import Pusher
    from featurelake.server.app import create_app

    sdk = connect(world.settings, load_catalog(world.settings, registry=world.registry))
    pusher = Pusher(world.settings, world.registry)
    with TestClient(create_app(sdk, registry=world.registry, pusher=pusher)) as client:
        yield client
    pusher.close()
    sdk.client.close()


def _length(world: World, view: str) -> int:
    from featurelake.jobs.materialize import redis_target
    from featurelake.lakehouse.streaming.event_log import event_log_key, stream_info

    client = redis_target(world.settings).client()
    try:
        return stream_info(client, event_log_key(world.settings.project, view))["length"]
    finally:
        client.close()


def _ts(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def test_push_appends_rows_in_feast_shape(http, world: World) -> None:
    before = _length(world, "card_hourly")
    resp = http.post(
        "/push",
        json={
            "push_source_name": "card_hourly",
            "df": {"card": [5, 6], "ts": [_ts(1), _ts(2)], "amount": [2.5, 3]},
            "to": "online_and_offline",
        },
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["rows"] == 2
    assert _length(world, "card_hourly") == before + 2


@pytest.mark.parametrize(
    ("df", "named"),
    [
        ({"ts": [_ts(1)], "amount": [1.0]}, "'card'"),  # a missing join key
        ({"card": [1], "ts": [_ts(1)], "amount": ["lots"]}, "'amount'"),  # a wrong type
        ({"card": [None], "ts": [_ts(1)], "amount": [1.0]}, "'card'"),  # a null join key
        ({"card": [1], "ts": ["yesterday"], "amount": [1.0]}, "'ts'"),  # not a timestamp
        ({"card": [1], "ts": [_ts(1)], "amount": [1.0], "colour": ["red"]}, "'colour'"),  # unknown column
        ({"card": [2**70], "ts": [_ts(1)], "amount": [1.0]}, "'card'"),  # beyond int64 (was a 500)
    ],
)
def test_bad_rows_get_400_naming_the_column_and_write_nothing(http, world: World, df, named) -> None:
    before = _length(world, "card_hourly")
    resp = http.post("/push", json={"push_source_name": "card_hourly", "df": df, "to": "online"})
    assert resp.status_code == 400, resp.text
    assert named in resp.text
    assert _length(world, "card_hourly") == before


def test_unknown_view_is_refused(http, world: World) -> None:
    resp = http.post("/push", json={"push_source_name": "no_such_view", "df": {"card": [1]}, "to": "online"})
    assert resp.status_code == 400 and "no_such_view" in resp.text


def test_cli_push_file(world: World, tmp_path: Path) -> None:
    good = tmp_path / "rows.parquet"
    pq.write_table(
        pa.table(
            {
                "card": [8, 9, 8],
                "ts": pa.array([T0, T0, T0], pa.timestamp("us", tz="UTC")),
                "amount": [1.0, 2.0, 3.0],
            }
        ),
        good,
    )
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"card": [8], "amount": [1.0]}), bad)
    cmd = [
        sys.executable,
        "-m",
        "featurelake.cli.main",
        "--config",
        str(world.config),
        "push",
        "--view",
        "card_txn",
    ]
    before = _length(world, "card_txn")
    ok = subprocess.run([*cmd, "--file", str(good)], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert _length(world, "card_txn") == before + 3
    refused = subprocess.run([*cmd, "--file", str(bad)], capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "'ts'" in refused.stderr
    assert _length(world, "card_txn") == before + 3


def test_stream_cli_refusals_come_before_spark(world: World) -> None:
    import os
    import socket

    from click.testing import CliRunner

    from featurelake.cli.main import cli
    from featurelake.jobs.entrypoint import exit_code_for

    runner = CliRunner()
    base = ["--config", str(world.config), "stream"]
    unknown = runner.invoke(cli, [*base, "run", "--view", "no_such_view"])
    assert exit_code_for(unknown.exception) == 2 and "no_such_view" in str(unknown.exception)
    never = runner.invoke(cli, [*base, "status", "--view", "card_txn"])
    assert exit_code_for(never.exception) == 2 and "card_txn" in str(never.exception)
    running = world.registry.start_run(
        world.settings.project,
        "stream",
        {"view": "card_txn", "pid": os.getpid(), "host": socket.gethostname()},
        "tests",
        target="card_txn",
        exclusive_span=("0001-01-01", "9999-12-31"),
    )
    try:
        twice = runner.invoke(cli, [*base, "start", "--view", "card_txn"])
        assert exit_code_for(twice.exception) == 5 and running in str(twice.exception)
    finally:
        world.registry.finish_run(running, status="failed", error="test")


def test_a_source_feeding_two_views_is_refused_naming_both(http, world: World) -> None:
    before = _length(world, "card_hourly")
    df = {"card": [5], "ts": [_ts(1)], "amount": [2.5]}
    resp = http.post("/push", json={"push_source_name": "card_events", "df": df})
    assert resp.status_code == 400, resp.text
    assert "feeds several views" in resp.text and "card_hourly" in resp.text
    assert _length(world, "card_hourly") == before


def test_a_body_over_the_limit_gets_413_naming_it_and_writes_nothing(world: World) -> None:
    from fastapi.testclient import TestClient

    from featurelake.jobs.online import connect, load_catalog
    from featurelake.jobs.push import Pusher
    from featurelake.server.app import create_app

    sdk = connect(world.settings, load_catalog(world.settings, registry=world.registry))
    pusher = Pusher(world.settings, world.registry)
    try:
        with TestClient(create_app(sdk, max_request_bytes=2000, pusher=pusher)) as small:
            before = _length(world, "card_hourly")
            rows = {"card": [5] * 200, "ts": [_ts(1)] * 200, "amount": [2.5] * 200}
            big = small.post("/push", json={"push_source_name": "card_hourly", "df": rows})
            assert big.status_code == 413, big.text
            assert "limit of 2000 bytes" in big.text and "--max-request-bytes" in big.text
            chunked = small.post(  # no Content-Length: refused while it streams in
                "/push",
                content=iter(
                    [b'{"push_source_name": "card_hourly", "df": {"card": [', b"1, " * 1000, b"1]}}"]
                ),
            )
            assert chunked.status_code == 413, chunked.text
            not_json = small.post("/push", content=b"{not json")
            assert not_json.status_code == 422, not_json.text
            one = {"card": [5], "ts": [_ts(1)], "amount": [2.5]}
            fits = small.post("/push", json={"push_source_name": "card_hourly", "df": one})
            assert fits.status_code == 200, fits.text
            assert _length(world, "card_hourly") == before + 1
    finally:
        pusher.close()
        sdk.client.close()


def test_a_view_archived_after_pushes_were_accepted_is_refused_at_once(http, world: World) -> None:
    df = {"card": [8], "ts": [_ts(3)], "amount": [1.0]}
    assert http.post("/push", json={"push_source_name": "card_txn", "df": df}).status_code == 200
    project = world.settings.project
    world.registry.set_status(
        project, "card_txn", None, "deprecated", reason="test", actor="tests", force=True
    )
    world.registry.set_status(project, "card_txn", None, "archived", reason="test", actor="tests", force=True)
    before = _length(world, "card_txn")
    resp = http.post("/push", json={"push_source_name": "card_txn", "df": df})
    assert resp.status_code == 400 and "archived" in resp.text, resp.text  # not the cached definition
    assert _length(world, "card_txn") == before
