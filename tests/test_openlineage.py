"""OpenLineage run events of job runs: real jobs, the client's own transports, checked against the spec.

- file transport: a real backfill (Spark, Delta, SQLite registry) emits START + COMPLETE whose run
  id is the registry run's and whose datasets and Delta versions are what the registry recorded;
  a backfill that fails its expectations emits START + FAIL with the error message facet;
- HTTP transport: a real materialization (Delta read by pyarrow, Redis cluster written) POSTs its
  events to a real ``http.server`` on loopback, bearer token included;
- an unreachable endpoint leaves the job and its registry run succeeded (warnings, counted);
- parents (nested runs, ``OPENLINEAGE_PARENT_ID``), training set outputs and the off default, on a
  SQLite registry without services.

Every event is validated against a JSON Schema that encodes the OpenLineage spec's required keys
and formats (RunEvent, Run, Job, datasets, BaseFacet, and the standard facets emitted).
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from featurelake.config.settings import (
    OpenLineageFile,
    OpenLineageHttp,
    OpenLineageSettings,
    Settings,
    load_settings_from_dict,
)
from featurelake.jobs.wiring import open_job_registry

D1, D2 = date(2024, 1, 10), date(2024, 1, 14)

# --------------------------------------------------------------------------- the spec, as a schema

_FACET = {
    "type": "object",
    "required": ["_producer", "_schemaURL"],
    "properties": {
        "_producer": {"type": "string", "format": "uri"},
        "_schemaURL": {"type": "string", "format": "uri"},
    },
}


def _facet(required: list[str], **properties: Any) -> dict[str, Any]:
    return {
        "allOf": [
            {"$ref": "#/$defs/BaseFacet"},
            {"type": "object", "required": required, "properties": properties},
        ]
    }


_STRING = {"type": "string", "minLength": 1}
OPENLINEAGE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$defs": {
        "BaseFacet": _FACET,
        "Facets": {"type": "object", "additionalProperties": {"$ref": "#/$defs/BaseFacet"}},
        "DatasetFacets": {
            "type": "object",
            "additionalProperties": {"$ref": "#/$defs/BaseFacet"},
            "properties": {
                "version": _facet(["datasetVersion"], datasetVersion=_STRING),
                "storage": _facet(["storageLayer"], storageLayer=_STRING),
                "schema": _facet(
                    ["fields"],
                    fields={"type": "array", "items": {"type": "object", "required": ["name"]}},
                ),
                "symlinks": _facet(
                    ["identifiers"],
                    identifiers={
                        "type": "array",
                        "minItems": 1,
                        "items": {"type": "object", "required": ["namespace", "name", "type"]},
                    },
                ),
            },
        },
        "Dataset": {
            "type": "object",
            "required": ["namespace", "name"],
            "properties": {
                "namespace": _STRING,
                "name": _STRING,
                "facets": {"$ref": "#/$defs/DatasetFacets"},
                "inputFacets": {"$ref": "#/$defs/Facets"},
                "outputFacets": {
                    "$ref": "#/$defs/Facets",
                    "properties": {
                        "outputStatistics": _facet(["rowCount"], rowCount={"type": "integer", "minimum": 0})
                    },
                },
            },
        },
    },
    "type": "object",
    "required": ["eventType", "eventTime", "run", "job", "producer", "schemaURL"],
    "properties": {
        "eventType": {"enum": ["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"]},
        "eventTime": {"type": "string", "format": "date-time"},
        "producer": {"type": "string", "format": "uri"},
        "schemaURL": {
            "type": "string",
            "format": "uri",
            "pattern": r"^https://openlineage\.io/spec/.*RunEvent$",
        },
        "run": {
            "type": "object",
            "required": ["runId"],
            "properties": {
                "runId": {"type": "string", "format": "uuid"},
                "facets": {
                    "$ref": "#/$defs/Facets",
                    "properties": {
                        "errorMessage": _facet(["message", "programmingLanguage"], message=_STRING),
                        "parent": _facet(
                            ["run", "job"],
                            run={
                                "type": "object",
                                "required": ["runId"],
                                "properties": {"runId": {"type": "string", "format": "uuid"}},
                            },
                            job={"type": "object", "required": ["namespace", "name"]},
                        ),
                        "processing_engine": _facet(["version"]),
                    },
                },
            },
        },
        "job": {
            "type": "object",
            "required": ["namespace", "name"],
            "properties": {
                "namespace": _STRING,
                "name": _STRING,
                "facets": {
                    "$ref": "#/$defs/Facets",
                    "properties": {"jobType": _facet(["processingType", "integration"])},
                },
            },
        },
        "inputs": {"type": "array", "items": {"$ref": "#/$defs/Dataset"}},
        "outputs": {"type": "array", "items": {"$ref": "#/$defs/Dataset"}},
    },
}

_FORMATS = FormatChecker()


@_FORMATS.checks("uri")
def _is_uri(value: object) -> bool:
    return not isinstance(value, str) or bool(urlparse(value).scheme) and " " not in value


_VALIDATOR = Draft202012Validator(OPENLINEAGE_SCHEMA, format_checker=_FORMATS)


def assert_valid(event: dict[str, Any]) -> None:
    """Fail with every spec violation of one serialized event."""
    problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in _VALIDATOR.iter_errors(event)]
    assert not problems, problems


def test_the_schema_rejects_what_the_spec_forbids() -> None:
    """The validator is not a rubber stamp: each required key and format is enforced."""
    good = {
        "eventType": "START",
        "eventTime": "2026-01-01T00:00:00+00:00",
        "producer": "urn:featurelake:0",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "n", "name": "j"},
        "outputs": [
            {
                "namespace": "file",
                "name": "/t",
                "facets": {"version": {"_producer": "urn:x", "_schemaURL": "urn:y", "datasetVersion": "3"}},
            }
        ],
    }
    assert_valid(good)
    for key in ("eventTime", "producer", "schemaURL", "run", "job"):
        assert list(_VALIDATOR.iter_errors({k: v for k, v in good.items() if k != key}))
    assert list(_VALIDATOR.iter_errors({**good, "run": {"runId": "not-a-uuid"}}))
    assert list(_VALIDATOR.iter_errors({**good, "eventTime": "yesterday"}))
    broken = json.loads(json.dumps(good))
    del broken["outputs"][0]["facets"]["version"]["_producer"]
    assert list(_VALIDATOR.iter_errors(broken))


def read_events(path: Path) -> list[dict[str, Any]]:
    """The events of a file transport (one JSON object per line), each validated."""
    events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for event in events:
        assert_valid(event)
    return events


def with_openlineage(settings: Settings, transport: OpenLineageFile | OpenLineageHttp) -> Settings:
    return settings.model_copy(update={"openlineage": OpenLineageSettings(transport=transport)})


def by_name(datasets: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in datasets}


# --------------------------------------------------------------------------- file transport, real backfill


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tests.backfill.lakes import make_lake

    lk = make_lake(tmp_path_factory.mktemp("ol-lake"), project="oltest")
    yield lk
    lk.registry.dispose()


@pytest.mark.spark
def test_backfill_emits_start_complete_and_fail_to_a_file(spark, lake, tmp_path) -> None:
    from featurelake.errors import ValidationFailedError
    from featurelake.jobs.backfill import BackfillOptions, run_backfill

    events_file = tmp_path / "lineage" / "events.jsonl"
    settings = with_openlineage(lake.settings, OpenLineageFile(type="file", path=events_file))

    result = run_backfill(
        spark, settings, BackfillOptions(view="user_counts", start=D1, end=D1), actor="alice"
    )
    with pytest.raises(
        ValidationFailedError
    ):  # > 60 rows: the strict view's expectation fails, nothing commits
        run_backfill(
            spark,
            settings,
            BackfillOptions(view="user_counts_strict", start=D1, end=D1 + timedelta(days=1)),
            actor="bob",
        )

    events = read_events(events_file)
    assert [e["eventType"] for e in events] == ["START", "COMPLETE", "START", "FAIL"]
    ok = lake.registry.get_run(result.run_id)
    (failed,) = lake.registry.list_runs(
        "oltest", kind="backfill", target="user_counts_strict", status="failed"
    )
    assert {e["run"]["runId"] for e in events[:2]} == {ok.run_id}
    assert {e["run"]["runId"] for e in events[2:]} == {failed.run_id}
    assert events[0]["job"] == events[1]["job"] and events[0]["job"]["name"] == "oltest.backfill.user_counts"
    assert events[0]["job"]["namespace"] == "featurelake"
    assert events[1]["eventTime"] == ok.finished_at.isoformat()
    assert events[0]["inputs"] == events[0]["outputs"] == []  # datasets are known when the run is recorded

    complete = events[1]
    assert complete["run"]["facets"]["featurelake_run"]["status"] == "succeeded"
    assert complete["run"]["facets"]["featurelake_run"]["rowsOut"] == ok.rows_out
    # inputs: exactly what the registry recorded, as OpenLineage file datasets with the Delta version read
    assert [(i.table, i.version) for i in ok.inputs] == [
        ("raw_transactions", lake.lakehouse.version("raw_transactions"))
    ]
    inputs = by_name(complete["inputs"])
    assert set(inputs) == {lake.lakehouse.table_uri(i.table) for i in ok.inputs}
    for recorded in ok.inputs:
        ds = inputs[lake.lakehouse.table_uri(recorded.table)]
        assert ds["namespace"] == "file"
        assert ds["facets"]["version"]["datasetVersion"] == str(recorded.version)
        assert ds["facets"]["featurelake_delta"]["table"] == recorded.table
        assert ds["facets"]["featurelake_delta"]["version"] == recorded.version
    # the output names the Delta version the run committed (the Z-order commit came after it)
    (out,) = ok.outputs
    (ds,) = complete["outputs"]
    assert ds["name"] == lake.lakehouse.table_uri("user_counts__v1") and out.table == "user_counts__v1"
    assert ds["facets"]["version"]["datasetVersion"] == str(out.version)
    assert lake.lakehouse.history("user_counts__v1")[0]["operation"] == "OPTIMIZE"
    assert out.version == lake.lakehouse.version("user_counts__v1") - 1
    assert ds["facets"]["storage"]["storageLayer"] == "delta"
    assert ds["facets"]["symlinks"]["identifiers"] == [
        {"namespace": "featurelake", "name": "oltest.user_counts__v1", "type": "TABLE"}
    ]
    columns = lake.lakehouse.read(spark, "user_counts__v1", version=out.version).columns
    assert [f["name"] for f in ds["facets"]["schema"]["fields"]] == columns
    assert ds["outputFacets"]["outputStatistics"]["rowCount"] == ok.rows_out > 0

    fail = events[3]
    error = fail["run"]["facets"]["errorMessage"]
    assert error["message"] == failed.error and "expect_table_row_count_to_be_between" in error["message"]
    assert error["programmingLanguage"] == "python" and "ExpectationsFailed" in error["stackTrace"]
    assert [d["facets"]["featurelake_delta"]["table"] for d in fail["inputs"]] == [
        i.table for i in failed.inputs
    ]
    assert fail["outputs"] == []  # nothing was committed


# --------------------------------------------------------------------------- HTTP transport, real materialize


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, str], dict[str, Any]]]

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, dict(self.headers), json.loads(body)))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        del args


@pytest.fixture
def lineage_server() -> Iterator[tuple[str, list[tuple[str, dict[str, str], dict[str, Any]]]]]:
    received: list[tuple[str, dict[str, str], dict[str, Any]]] = []
    handler = type("Collector", (_Collector,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def _online_world(tmp_path: Path, redis_nodes: list[str]) -> tuple[Settings, Any, Any]:
    """A project with the ``user_activity`` view and its Delta table in two commits (no Spark)."""
    import pyarrow as pa
    from deltalake import write_deltalake

    from featurelake.lakehouse.tables import Lakehouse
    from featurelake.registry import open_registry
    from tests.online.helpers import unique_project, user_activity_definitions

    project = unique_project()
    settings = load_settings_from_dict(
        {"project": project, "home": str(tmp_path / "home"), "online": {"nodes": redis_nodes}}, environ={}
    )
    registry = open_registry(settings.registry_url)
    registry.apply_definitions(project, user_activity_definitions(), actor="test")
    lakehouse = Lakehouse(settings.storage_root)
    uri = lakehouse.table_uri(registry.get_view_version(project, "user_activity").table_name)
    d0 = datetime(2026, 2, 1, tzinfo=UTC)
    for day in range(2):
        ts = d0 + timedelta(days=day + 1)
        rows = [
            (u, ts, ts, (ts - timedelta(microseconds=1)).date(), u * 100 + day, f"c{day}") for u in range(20)
        ]
        cols = list(zip(*rows, strict=True))
        tz = pa.timestamp("us", tz="UTC")
        write_deltalake(
            uri,
            pa.table(
                {
                    "user_id": pa.array(cols[0], pa.int64()),
                    "event_timestamp": pa.array(cols[1], tz),
                    "created_timestamp": pa.array(cols[2], tz),
                    "event_date": pa.array(cols[3], pa.date32()),
                    "clicks": pa.array(cols[4], pa.int64()),
                    "country": pa.array(cols[5], pa.string()),
                }
            ),
            partition_by=["event_date"],
            mode="append",
        )
    return settings, registry, lakehouse


@pytest.mark.redis
def test_materialize_posts_its_events_to_an_http_endpoint(
    tmp_path, redis_nodes, lineage_server, monkeypatch
) -> None:
    from featurelake.jobs.materialize import materialize_view

    url, received = lineage_server
    monkeypatch.setenv("OL_TEST_TOKEN", "s3cret-token")
    settings, registry, lakehouse = _online_world(tmp_path, redis_nodes)
    settings = with_openlineage(
        settings, OpenLineageHttp(type="http", url=url, api_key_env="OL_TEST_TOKEN", timeout_s=5)
    )
    job_registry = open_job_registry(settings)
    try:
        result = materialize_view(
            None,
            settings=settings,
            registry=job_registry,
            lakehouse=lakehouse,
            view="user_activity",
            actor="carol",
            incremental=True,
        )
    finally:
        job_registry.dispose()
    assert result.written == 20
    run = registry.get_run(result.run_id)
    assert [p for p, _, _ in received] == ["/api/v1/lineage", "/api/v1/lineage"]
    assert {h.get("Authorization") for _, h, _ in received} == {"Bearer s3cret-token"}
    assert {h.get("Content-Type") for _, h, _ in received} == {"application/json"}
    events = [e for _, _, e in received]
    for event in events:
        assert_valid(event)
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    assert {e["run"]["runId"] for e in events} == {run.run_id}
    assert events[1]["job"]["name"] == f"{settings.project}.materialize.user_activity"
    assert events[1]["job"]["facets"]["jobType"]["jobType"] == "MATERIALIZE"
    (table_in,) = run.inputs
    assert table_in.version == lakehouse.version(table_in.table) == 1
    (ds_in,) = events[1]["inputs"]
    assert (ds_in["namespace"], ds_in["name"]) == ("file", lakehouse.table_uri(table_in.table))
    assert ds_in["facets"]["version"]["datasetVersion"] == "1"
    # the Redis online store as the output, named by the cluster it lives on and the registry's node
    (online_out,) = run.outputs
    (ds_out,) = events[1]["outputs"]
    assert ds_out["namespace"] == f"redis://{sorted(redis_nodes)[0]}"
    assert ds_out["name"] == f"{settings.project}/user_activity"
    assert ds_out["facets"]["featurelake_online"]["node"] == online_out.table
    assert ds_out["facets"]["storage"]["storageLayer"] == "redis"
    assert ds_out["outputFacets"]["outputStatistics"]["rowCount"] == 20


@pytest.mark.redis
def test_an_unreachable_endpoint_leaves_the_job_successful(tmp_path, redis_nodes, caplog) -> None:
    from featurelake.jobs.materialize import materialize_view

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings, registry, lakehouse = _online_world(tmp_path, redis_nodes)
    settings = with_openlineage(
        settings, OpenLineageHttp(type="http", url=f"http://127.0.0.1:{port}", retries=1)
    )
    job_registry = open_job_registry(settings)
    (emitter,) = job_registry.run_listeners
    try:
        with caplog.at_level(logging.WARNING, logger="featurelake.openlineage"):
            result = materialize_view(
                None,
                settings=settings,
                registry=job_registry,
                lakehouse=lakehouse,
                view="user_activity",
                actor="dave",
                incremental=True,
            )
    finally:
        job_registry.dispose()
    run = registry.get_run(result.run_id)
    assert run.status == "succeeded" and result.written == 20 and run.rows_out == 20
    assert (emitter.emitted, emitter.failed) == (0, 2)
    warnings = [r.getMessage() for r in caplog.records if r.name == "featurelake.openlineage"]
    assert len(warnings) == 2
    assert "START event of materialize run " + run.run_id in warnings[0]
    assert "COMPLETE event" in warnings[1] and "the run itself is unaffected" in warnings[1]


# --------------------------------------------------------------------------- registry only (no services)


def _sqlite_settings(tmp_path: Path, events: Path | None) -> Settings:
    data: dict[str, Any] = {"project": "p", "home": str(tmp_path)}
    if events is not None:
        data["openlineage"] = {"transport": {"type": "file", "path": str(events)}, "namespace": "acme"}
    return load_settings_from_dict(data, environ={})


def test_off_by_default_and_bad_transport_settings_are_refused(tmp_path) -> None:
    from featurelake.errors import ConfigError
    from featurelake.registry import open_registry

    settings = _sqlite_settings(tmp_path, None)
    open_registry(settings.registry_url).dispose()
    registry = open_job_registry(settings)
    assert settings.openlineage.transport is None and registry.run_listeners == ()
    registry.dispose()
    for bad, named in (
        ({"type": "kafka"}, "'kafka'"),
        ({"type": "http", "url": "marquez:5000"}, "openlineage.transport.http.url"),
        ({"type": "file"}, "openlineage.transport.file.path"),
        ({"type": "http", "url": "http://x", "timeout_s": 0}, "timeout_s"),
    ):
        with pytest.raises(ConfigError, match=named):
            load_settings_from_dict({"openlineage": {"transport": bad}}, environ={})


def test_parents_and_training_set_outputs(tmp_path, monkeypatch) -> None:
    """A run started inside another gets it as parent; the outermost gets the orchestrator's."""
    from featurelake.registry import open_registry

    events_file = tmp_path / "events.jsonl"
    settings = _sqlite_settings(tmp_path, events_file)
    open_registry(settings.registry_url).dispose()
    orchestrator_run = str(uuid.uuid4())
    monkeypatch.setenv("OPENLINEAGE_PARENT_ID", f"airflow/daily_features.build/{orchestrator_run}")
    registry = open_job_registry(settings)
    outer = registry.start_run("p", "training-set", {"training_set": "fraud_ts"}, "erin")
    inner = registry.start_run("p", "monitor", {"view": "v"}, "erin")
    registry.finish_run(inner, status="succeeded", inputs=[{"table": "v__v1", "version": 4}])
    registry.finish_run(
        outer,
        status="succeeded",
        rows_out=7,
        inputs=[{"table": "entities", "version": 0}],
        outputs=[{"table": "ts__fraud_ts__1", "version": 0}],
        report={"training_set_version": 3, "checksum": "sha256:abc"},
    )
    registry.dispose()
    events = read_events(events_file)
    assert [(e["eventType"], e["run"]["runId"]) for e in events] == [
        ("START", outer),
        ("START", inner),
        ("COMPLETE", inner),
        ("COMPLETE", outer),
    ]
    parents = [e["run"]["facets"]["parent"] for e in events]
    for i in (0, 3):
        assert parents[i]["run"]["runId"] == orchestrator_run
        assert parents[i]["job"] == {"namespace": "airflow", "name": "daily_features.build", "facets": {}}
    for i in (1, 2):
        assert parents[i]["run"]["runId"] == outer
        assert parents[i]["job"] == {"namespace": "acme", "name": "p.training-set.fraud_ts", "facets": {}}
    (ts_out,) = events[3]["outputs"]
    assert ts_out["facets"]["featurelake_training_set"]["name"] == "fraud_ts"
    assert ts_out["facets"]["featurelake_training_set"]["version"] == 3
    assert ts_out["facets"]["featurelake_training_set"]["checksum"] == "sha256:abc"
    assert ts_out["facets"]["version"]["datasetVersion"] == "0"
    assert "schema" not in ts_out["facets"]  # the table does not exist: no schema facet, the event still goes
