"""plan/apply of the real demo feature repo: our registry and Feast's, no-op re-apply, BREAKING plan."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from featurelake.errors import DefinitionError
from featurelake.registry import open_registry

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    target = tmp_path / "feature_repo"
    shutil.copytree(ROOT / "feature_repo", target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def _cli(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "FEATURELAKE_REGISTRY_URL": url,
        "FEATURELAKE_HOME": str(tmp_path / ".featurelake"),
        "FEATURELAKE_ACTOR": "ci-bot",
    }
    return subprocess.run(
        [sys.executable, "-m", "featurelake.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )


def test_cli_apply_writes_both_registries_and_reapply_is_a_no_op(tmp_path: Path, repo: Path) -> None:
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    first = _cli(tmp_path, url, "apply", "--repo", str(repo), "-o", "json")
    assert first.returncode == 0, first.stderr
    kinds = {(c["object_type"], c["name"]): c["kind"] for c in json.loads(first.stdout)["changes"]}
    assert kinds[("view", "user_transaction_stats")] == "added"
    assert kinds[("service", "fraud_detection")] == "added"

    reg = open_registry(url)
    vv = reg.get_view_version("fraud", "user_transaction_stats")
    assert (vv.version, vv.table_name, vv.created_by, vv.status) == (
        "1.0",
        "user_transaction_stats__v1",
        "ci-bot",
        "active",
    )
    assert "txn_amount_sum_7d" in vv.feature_names and '"function": "sum"' in vv.transformation
    assert {g.view for g in reg.get_service_version("fraud", "fraud_detection").views} == {
        "user_transaction_stats",
        "user_profile",
        "merchant_risk_stats",
    }

    # Feast's own registry got the same objects
    from feast import FeatureStore

    from featurelake.jobs.apply import feast_repo_config

    store = FeatureStore(config=feast_repo_config(repo, project="fraud", registry_url=url, online_nodes=[]))
    assert sorted(fv.name for fv in store.list_feature_views()) == [
        "merchant_risk_stats",
        "user_profile",
        "user_transaction_stats",
    ]

    second = _cli(tmp_path, url, "apply", "--repo", str(repo))
    assert second.returncode == 0, second.stderr
    assert "No changes" in second.stdout
    assert [v.version for v in reg.list_view_versions("fraud", "user_transaction_stats")] == ["1.0"]

    # a TTL change is BREAKING: plan shows it and writes nothing
    source = repo / "user_features.py"
    text = source.read_text()
    assert "ttl=timedelta(days=2)" in text  # the first view in the file is user_transaction_stats
    source.write_text(text.replace("ttl=timedelta(days=2)", "ttl=timedelta(days=3)", 1))
    planned = _cli(tmp_path, url, "plan", "--repo", str(repo))
    assert planned.returncode == 0, planned.stderr
    assert "changed BREAKING:" in planned.stdout
    assert "view user_transaction_stats 1.0 -> 2.0 (TTL changed: 172800 -> 259200" in planned.stdout
    assert [v.version for v in reg.list_view_versions("fraud", "user_transaction_stats")] == ["1.0"]
    reg.dispose()


def test_definition_problems_are_reported_together_and_nothing_is_written(tmp_path: Path, repo: Path) -> None:
    (repo / "broken.py").write_text(
        "from datetime import timedelta\n"
        "from feast import FeatureService\n"
        "from user_features import user_profile\n"
        "broken_service = FeatureService(name='broken', features=[user_profile[['no_such_feature']]])\n"
    )
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    result = _cli(tmp_path, url, "apply", "--repo", str(repo))
    assert result.returncode == 2  # bad input
    assert "no_such_feature" in result.stderr
    reg = open_registry(url)
    assert reg.list_views("fraud") == []
    reg.dispose()


@pytest.mark.postgres
def test_apply_shares_the_postgres_database_with_feasts_sql_registry(fresh_pg_url: str, repo: Path) -> None:
    from featurelake.jobs.apply import apply_repo, plan_repo

    reg = open_registry(fresh_pg_url, ready=False)
    reg.migrate()
    plan = apply_repo(
        reg, project="fraud", repo_path=repo, actor="alice", registry_url=fresh_pg_url, online_nodes=[]
    )
    assert plan.has_changes
    assert not plan_repo(reg, project="fraud", repo_path=repo).has_changes
    with reg.engine.connect() as conn:
        feast_views = (
            conn.exec_driver_sql("SELECT feature_view_name FROM feature_views ORDER BY 1").scalars().all()
        )
    assert feast_views == ["merchant_risk_stats", "user_profile", "user_transaction_stats"]
    assert reg.get_view_version("fraud", "user_profile").table_name == "user_profile__v1"
    with pytest.raises(DefinitionError):
        (repo / "dup.py").write_text(
            "from entities import user\nfrom feast import Entity, ValueType\n"
            "user2 = Entity(name='user', join_keys=['user_id'], value_type=ValueType.INT64)\n"
        )
        plan_repo(reg, project="fraud", repo_path=repo)
    reg.dispose()


def _one_red_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout + result.stderr  # bad input
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_bad_refs_in_registry_commands_are_one_clear_line(tmp_path: Path, repo: Path) -> None:
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    applied = _cli(tmp_path, url, "apply", "--repo", str(repo), "--skip-feast")
    assert applied.returncode == 0, applied.stderr
    line = _one_red_line(_cli(tmp_path, url, "registry", "show", "user_profile:x"))
    assert "'user_profile:x' is not NAME or NAME:VERSION" in line and "user_profile:1.0" in line
    line = _one_red_line(
        _cli(tmp_path, url, "registry", "status", "set", "user_profile:v1.x", "deprecated", "--reason", "r")
    )
    assert "'user_profile:v1.x'" in line
    # one reference syntax: NAME:vN works wherever NAME:N does
    shown_v = _cli(tmp_path, url, "registry", "show", "user_profile:v1")
    assert shown_v.returncode == 0 and "1.0" in shown_v.stdout, shown_v.stderr
    line = _one_red_line(_cli(tmp_path, url, "registry", "show", "user_profile:9"))
    assert "no version '9'" in line and "1.0" in line
    line = _one_red_line(_cli(tmp_path, url, "registry", "history", "no_such_view"))
    assert "'no_such_view'" in line and "registry list" in line
    shown = _cli(tmp_path, url, "registry", "history", "user_profile", "-o", "json")
    assert shown.returncode == 0, shown.stderr
    assert [(e["action"], e["object_key"]) for e in json.loads(shown.stdout)] == [
        ("view.add", "user_profile"),
        ("view_version.create", "user_profile@1.0"),
    ]
    reg = open_registry(url)
    assert reg.get_view_version("fraud", "user_profile").status == "active"  # the refused set changed nothing
    reg.dispose()


def test_a_moved_copy_of_the_repo_plans_no_change(tmp_path: Path, repo: Path) -> None:
    """Sources name their tables under the settings' storage root, wherever the repo folder is."""
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    env_clean = {k: v for k, v in os.environ.items() if k != "FEATURELAKE_STORAGE_ROOT"}
    applied = subprocess.run(
        [sys.executable, "-m", "featurelake.cli.main", "apply", "--repo", str(repo), "--skip-feast"],
        capture_output=True,
        text=True,
        env={
            **env_clean,
            "FEATURELAKE_REGISTRY_URL": url,
            "FEATURELAKE_HOME": str(tmp_path / ".featurelake"),
        },
        cwd=ROOT,
        timeout=300,
    )
    assert applied.returncode == 0, applied.stderr
    moved = tmp_path / "elsewhere" / "deeper" / "feature_repo"
    shutil.copytree(repo, moved, ignore=shutil.ignore_patterns("__pycache__"))
    planned = subprocess.run(
        [sys.executable, "-m", "featurelake.cli.main", "plan", "--repo", str(moved), "--output", "json"],
        capture_output=True,
        text=True,
        env={
            **env_clean,
            "FEATURELAKE_REGISTRY_URL": url,
            "FEATURELAKE_HOME": str(tmp_path / ".featurelake"),
        },
        cwd=ROOT,
        timeout=300,
    )
    assert planned.returncode == 0, planned.stderr
    changes = json.loads(planned.stdout)["changes"]
    assert changes and {c["kind"] for c in changes} == {"unchanged"}, changes
    reg = open_registry(url)
    locations = {s.name: s.location for s in reg.list_sources("fraud")}
    reg.dispose()
    data = str(tmp_path / ".featurelake" / "data")
    assert locations, locations
    assert [loc for loc in locations.values() if loc and not loc.startswith(data)] == [], (
        data
    )  # "": request sources
