"""The feature repo is a real Feast repo: `feast plan` runs offline on it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .repo_fixtures import copy_feature_repo

FEAST = str(Path(sys.executable).with_name("feast"))


def _feast(repo: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FEAST, *args], cwd=repo, capture_output=True, text=True, timeout=600, env=env)


def test_feast_plan_file_registry(tmp_path: Path) -> None:
    repo = copy_feature_repo(tmp_path / "feature_repo")
    env = {**os.environ, "FEATURELAKE_STORAGE_ROOT": str(tmp_path / "lake")}
    out = _feast(repo, "plan", env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    for line in (
        "Created entity user",
        "Created entity merchant",
        "Created feature view user_transaction_stats",
        "Created feature view merchant_risk_stats",
        "Created feature view user_profile",
        "Created on demand feature view transaction_vs_history",
        "Created feature service fraud_detection",
    ):
        assert line in out.stdout, out.stdout


def test_feast_plan_sql_registry(tmp_path: Path) -> None:
    repo = copy_feature_repo(tmp_path / "feature_repo")
    env = {
        **os.environ,
        "FEATURELAKE_STORAGE_ROOT": str(tmp_path / "lake"),
        "FEATURELAKE_FEAST_REGISTRY_URL": f"sqlite:///{tmp_path / 'feast.db'}",
    }
    out = _feast(repo, "-f", "feature_store.sql.yaml", "plan", env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Created feature service fraud_detection" in out.stdout
    assert (tmp_path / "feast.db").exists()
