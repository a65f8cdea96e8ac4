"""The governance CLI (`featurelake registry ...`) in process, on a SQLite registry.

What a reviewer reads: list, show, lineage in every format and both directions, runs, audit,
and a status change, with user text (SQL metacharacters, rich markup) printed verbatim.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from featurelake.cli.main import cli
from featurelake.registry import (
    Definitions,
    EntityDef,
    FeatureDef,
    JoinKey,
    Node,
    ServiceDef,
    SourceDef,
    ViewDef,
    open_registry,
)

PROJECT = "gov"
EVIL = "x'; DROP TABLE fl_audit_log; -- [bold]50%_[/bold]"
VIEW = "robert'); DROP TABLE fl_features;--"


def _defs() -> Definitions:
    from datetime import timedelta

    return Definitions(
        entities=(EntityDef("user", (JoinKey("user_id", "INT64"),), owner="risk"),),
        sources=(SourceDef("transactions", "delta", "s3://b/raw/transactions", timestamp_field="ts"),),
        views=(
            ViewDef(
                VIEW,
                ("user",),
                (FeatureDef("spend_7d", "Float64", tags={"pii": "false"}),),
                timedelta(days=7),
                source="transactions",
                owner="risk",
                tags={"note": EVIL},
                description=EVIL,
            ),
        ),
        services=(ServiceDef("fraud", ((VIEW, ("spend_7d",)),)),),
    )


@pytest.fixture
def gov(tmp_path: Path, monkeypatch):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    reg = open_registry(url)
    reg.apply_definitions(PROJECT, _defs(), actor=EVIL)
    vv = reg.get_view_version(PROJECT, VIEW)
    run = reg.start_run(PROJECT, "backfill", {"view": VIEW}, "alice")
    reg.finish_run(
        run,
        status="succeeded",
        rows_in=10,
        rows_out=5,
        inputs=[{"table": "transactions", "version": 3}],
        outputs=[{"table": vv.table_name, "version": 1}],
        lineage_edges=[
            (Node.data_source("transactions", 3), Node.feature_view_version(VIEW, vv.version)),
            (Node.feature_view_version(VIEW, vv.version), Node.delta_output(vv.table_name, 1)),
        ],
    )
    failed = reg.start_run(PROJECT, "materialize", {"view": VIEW}, "alice")
    reg.finish_run(failed, status="failed", error="redis down")
    reg.dispose()
    monkeypatch.delenv("FEATURELAKE_CONFIG", raising=False)
    env = {
        "FEATURELAKE_HOME": str(tmp_path / "home"),
        "FEATURELAKE_PROJECT": PROJECT,
        "FEATURELAKE_REGISTRY_URL": url,
        "FEATURELAKE_ACTOR": "reviewer",
        "COLUMNS": "400",
    }

    def run_cli(*args: str) -> str:
        result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    run_cli.table = vv.table_name  # type: ignore[attr-defined]
    run_cli.run_id = run  # type: ignore[attr-defined]
    return run_cli


def test_list_and_show_print_user_text_verbatim(gov) -> None:  # type: ignore[no-untyped-def]
    listed = json.loads(gov("registry", "list", "-o", "json"))
    assert [(v["name"], v["version"], v["status"]) for v in listed] == [(VIEW, "1.0", "active")]
    shown = json.loads(gov("registry", "show", VIEW, "-o", "json"))
    assert (shown["name"], shown["description"], shown["tags"], shown["created_by"]) == (
        VIEW,
        EVIL,
        {"note": EVIL},
        EVIL,
    )
    text = gov("registry", "show", VIEW)
    assert VIEW in text and EVIL in text  # rich markup in user text is not interpreted
    services = json.loads(gov("registry", "list", "--kind", "service", "-o", "json"))
    assert [(s["name"], s["status"]) for s in services] == [("fraud", "active")]


def test_lineage_both_directions_in_every_format(gov) -> None:  # type: ignore[no-untyped-def]
    src = "data_source:transactions@3"
    edges = json.loads(gov("registry", "lineage", src, "--downstream", "--depth", "2", "--format", "json"))
    pairs = {(e["src"]["id"], e["dst"]["id"], e["depth"], e["run_id"]) for e in edges}
    view_node = f"feature_view_version:{VIEW}@1.0"
    out_node = f"delta_output:{gov.table}@1"
    assert (src, view_node, 1, gov.run_id) in pairs and (view_node, out_node, 2, gov.run_id) in pairs
    assert len(json.loads(gov("registry", "lineage", src, "--depth", "1", "--format", "json"))) == 1
    up = json.loads(gov("registry", "lineage", out_node, "--upstream", "--depth", "5", "--format", "json"))
    assert {e["src"]["id"] for e in up} >= {src, view_node}
    mermaid = gov("registry", "lineage", src, "--format", "mermaid")
    assert mermaid.startswith("graph LR") and mermaid.count("-->") == len(edges)
    assert f'["{view_node}"]' in mermaid  # node labels carry the name verbatim
    dot = gov("registry", "lineage", src, "--format", "dot")
    assert (
        dot.startswith("digraph lineage {") and dot.count("->") == len(edges) and dot.rstrip().endswith("}")
    )
    table = gov("registry", "lineage", src)
    assert gov.run_id in table and "transactions@3" in table


def test_runs_audit_and_a_status_change(gov) -> None:  # type: ignore[no-untyped-def]
    runs = json.loads(gov("registry", "runs", "-o", "json"))
    assert sorted((r["kind"], r["status"]) for r in runs) == [
        ("backfill", "succeeded"),
        ("materialize", "failed"),
    ]
    failed = json.loads(gov("registry", "runs", "--status", "failed", "-o", "json"))
    assert [(r["kind"], r["error"]) for r in failed] == [("materialize", "redis down")]
    # Refused (an active service uses the view), then forced: both answers are exact.
    from featurelake.errors import RegistryError

    with pytest.raises(RegistryError, match="active feature services use it: fraud@1"):
        gov("registry", "status", "set", f"{VIEW}:1.0", "deprecated", "--reason", "old")
    done = gov(
        "registry", "status", "set", "fraud:1", "deprecated", "--reason", "v2 ships", "--kind", "service"
    )
    assert "fraud:1: active -> deprecated (by reviewer)" in done
    audit = json.loads(gov("registry", "audit", "--action", "status.set", "-o", "json"))
    assert [(a["actor"], a["object_key"], a["after"]) for a in audit] == [
        ("reviewer", "fraud@1", {"status": "deprecated", "reason": "v2 ships"})
    ]
    history = json.loads(gov("registry", "history", VIEW, "-o", "json"))
    assert [(e["action"], e["actor"]) for e in history][:2] == [
        ("view.add", EVIL),
        ("view_version.create", EVIL),
    ]
