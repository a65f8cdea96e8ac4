"""A small registry and lakehouse for the console tests: every page has something to show.

Built with the registry's own write API (apply, runs, lineage, training sets, models, monitor
checks) and real Delta tables written by delta-rs. Everything is tiny: it builds in ~1 s.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa

from featurelake.config.settings import ConsoleIdentity, ConsoleSettings
from featurelake.console.access import AccessControl, token_hash
from featurelake.lakehouse import Lakehouse
from featurelake.registry import (
    Definitions,
    EntityDef,
    FeatureDef,
    JoinKey,
    MonitorCheck,
    Node,
    Registry,
    ServiceDef,
    SourceDef,
    ViewDef,
)

PROJECT = "fraud"
XSS_DESCRIPTION = '<script>window.__xss=1</script>"><img src=x onerror="window.__xss=2">'
XSS_TAG = '"><img src=x onerror="window.__xss=3"><script>window.__xss=4</script>'
TOKENS = {
    "vera": "viewer-token-0001",
    "ed": "editor-token-0002",
    "alice": "approver-token-0003",
    "bob": "approver-token-0004",
    "root": "admin-token-0005",
}
ROLES = {"vera": "viewer", "ed": "editor", "alice": "approver", "bob": "approver", "root": "admin"}

USER = EntityDef("user", (JoinKey("user_id", "INT64"),), description="a card holder", owner="risk")
TX = SourceDef(
    "transactions", "delta", "s3://bucket/raw/transactions", timestamp_field="event_ts", owner="data-eng"
)
LABELS = SourceDef("labels", "delta", "s3://bucket/raw/labels", timestamp_field="event_ts", owner="risk")
STATS = ViewDef(
    "user_stats",
    ("user",),
    (
        FeatureDef("amount_sum_7d", "Float64", description="sum of amounts over 7 days"),
        FeatureDef("email_domain", "String", tags={"pii": "true"}),
    ),
    timedelta(days=7),
    source="transactions",
    transformation="sum(amount) over 7d",
    description="spending of a user",
    owner="risk",
    tags={"team": "risk", "pii": "email"},
)
XSS_VIEW = ViewDef(
    "notes_view",
    ("user",),
    (FeatureDef("note_len", "Int64", description=XSS_DESCRIPTION, tags={"x": XSS_TAG}),),
    timedelta(days=1),
    source="transactions",
    description=XSS_DESCRIPTION,
    owner="mallory",
    tags={"note": XSS_TAG},
)
SERVICE = ServiceDef("fraud_model", (("user_stats", ("amount_sum_7d",)),), owner="risk")


@dataclass(frozen=True)
class World:
    registry: Registry
    lakehouse: Lakehouse
    backfill_run: str
    failed_run: str
    monitor_run: str


def identities(*, four_eyes: bool = False) -> ConsoleSettings:
    return ConsoleSettings(
        identities=[
            ConsoleIdentity(name=n, role=ROLES[n], token_sha256=token_hash(t)) for n, t in TOKENS.items()
        ],  # type: ignore[arg-type]
        four_eyes=four_eyes,
    )


def access(*, four_eyes: bool = False, demo_local: bool = False) -> AccessControl:
    return AccessControl(identities(four_eyes=four_eyes), demo_local=demo_local, demo_actor="demo")


def _write_delta(root: Path, name: str) -> Lakehouse:
    from deltalake import write_deltalake

    lake = Lakehouse(str(root))
    for day in (date(2026, 3, 1), date(2026, 3, 2)):
        batch = pa.table(
            {
                "user_id": pa.array([1, 2, 3], pa.int64()),
                "amount_sum_7d": pa.array([1.0, 2.5, 4.0]),
                "event_date": pa.array([day] * 3, pa.date32()),
            }
        )
        write_deltalake(lake.table_uri(name), batch, mode="append", partition_by=["event_date"])
    lake.optimize(name, zorder_by=["user_id"])
    return lake


def build(registry: Registry, lake_root: Path) -> World:
    """Fill ``registry`` (one project) and write the view's Delta table under ``lake_root``."""
    reg = registry
    defs = Definitions(entities=(USER,), sources=(TX, LABELS), views=(STATS, XSS_VIEW), services=(SERVICE,))
    reg.apply_definitions(PROJECT, defs, actor="carol")
    # alice authors a minor version 1.1 as a draft: four-eyes must refuse her approving it
    minor = dataclasses.replace(STATS, description="spending of a user, in EUR")
    reg.apply_definitions(
        PROJECT, dataclasses.replace(defs, views=(minor, XSS_VIEW)), actor="alice", status="draft"
    )
    lake = _write_delta(lake_root, "user_stats__v1")
    version = lake.describe("user_stats__v1").version

    run = reg.start_run(
        PROJECT, "backfill", {"view": "user_stats", "start": "2026-03-01"}, "carol", target="user_stats"
    )
    reg.finish_run(
        run,
        status="succeeded",
        rows_in=6,
        rows_out=6,
        inputs=[{"table": "transactions", "version": 3}],
        outputs=[{"table": "user_stats__v1", "version": version}],
        lineage_edges=[
            (Node.data_source("transactions", 3), Node.feature_view_version("user_stats", "1.0")),
            (Node.feature_view_version("user_stats", "1.0"), Node.delta_output("user_stats__v1", version)),
        ],
    )
    reg.add_lineage_edge(
        Node.feature_view_version("user_stats", "1.0"),
        Node.feature_service_version("fraud_model", 1),
        project=PROJECT,
    )
    failed = reg.start_run(
        PROJECT, "backfill", {"view": "user_stats", "start": "2026-03-03"}, "carol", target="user_stats"
    )
    reg.finish_run(
        failed,
        status="failed",
        rows_in=3,
        error="ValidationFailedError: 1 expectation failed",
        report={
            "validation": {
                "success": False,
                "failed": [{"expectation": "amount_sum_7d >= 0", "unexpected": 1}],
            }
        },
    )
    ts_run = reg.start_run(PROJECT, "training-set", {"name": "fraud_train"}, "trainer", target="fraud_train")
    reg.register_training_set(
        PROJECT,
        "fraud_train",
        service="fraud_model",
        service_version=1,
        entity_source={"table": "labels", "version": 0},
        feature_tables=[{"table": "user_stats__v1", "version": version}],
        features=["user_stats:amount_sum_7d"],
        output={"table": "training_set__fraud_train", "version": 0},
        row_count=3,
        checksum="9f2c" * 16,
        actor="trainer",
        run_id=ts_run,
    )
    reg.finish_run(
        ts_run, status="succeeded", rows_out=3, outputs=[{"table": "training_set__fraud_train", "version": 0}]
    )
    reg.register_model(
        PROJECT, "fraud-xgb-1", training_set="fraud_train", training_set_version=1, actor="trainer"
    )

    mon = reg.start_run(PROJECT, "monitor", {"view": "user_stats"}, "monitor", target="user_stats")
    checks = [
        MonitorCheck("user_stats", "", "freshness_offline", "ok", 3600.0, warn=86400.0, fail=172800.0),
        MonitorCheck("user_stats", "", "skew", "warn", 0.04, warn=0.01, fail=0.1),
    ]
    for i, psi in enumerate((0.01, 0.05, 0.22)):
        status = "ok" if psi < 0.1 else "fail"
        checks.append(
            MonitorCheck(
                "user_stats",
                "amount_sum_7d",
                "psi",
                status,
                psi,
                day=date(2026, 3, 1 + i),
                warn=0.1,
                fail=0.2,
            )
        )
    reg.finish_monitor_run(
        mon,
        checks=checks,
        inputs=[{"table": "user_stats__v1", "version": version}],
        lineage_edges=[(Node.delta_output("user_stats__v1", version), Node.monitor_run("user_stats", mon))],
    )
    return World(reg, lake, run, failed, mon)
