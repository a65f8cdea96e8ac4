"""Helpers for backfill tests: an isolated lake (settings, demo data, registry, the fixture repo)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

FIXTURE_REPO = Path(__file__).resolve().parent / "fixture_repo"
DATA_START = date(2024, 1, 1)
DATA_DAYS = 40  # 2024-01-01 .. 2024-02-09
ROWS = 4000  # 50 users, 20 merchants


@dataclass
class Lake:
    """One isolated featurelake installation: settings, its config file, a lakehouse, a registry."""

    home: Path
    config: Path
    settings: Any
    lakehouse: Any
    registry: Any

    def rows(self, spark: Any, table: str) -> list[tuple]:
        """Every row of a table, sorted (for exact comparisons)."""
        df = self.lakehouse.read(spark, table)
        return sorted(tuple(r) for r in df.collect())


def make_lake(
    tmp: Path, *, registry_url: str | None = None, project: str = "bftest", with_data: Path | None = None
) -> Lake:
    """Write settings for ``tmp``, demo data (or copy it from ``with_data``) and apply the fixture repo."""
    from featurelake.config.settings import load_settings_from_dict
    from featurelake.jobs.apply import apply_repo
    from featurelake.lakehouse.demo_data import generate
    from featurelake.lakehouse.tables import Lakehouse
    from featurelake.registry import open_registry

    repo = tmp / "repo"
    shutil.copytree(FIXTURE_REPO, repo, ignore=shutil.ignore_patterns("__pycache__"))
    data = {
        "project": project,
        "home": str(tmp / "home"),
        "feature_repo": str(repo),
        "storage": {"root": str(tmp / "data")},
        "registry": {"url": registry_url or f"sqlite:///{tmp / 'registry.db'}"},
        "spark": {
            "master": "local[1]",
            "conf": {"spark.sql.shuffle.partitions": "4", "spark.ui.enabled": "false"},
        },
    }
    config = tmp / "featurelake.yaml"
    config.write_text(yaml.safe_dump(data))
    settings = load_settings_from_dict(data, where=str(config), environ={})
    if with_data is not None:
        shutil.copytree(with_data, tmp / "data")
    else:
        generate(None, settings.storage_root, rows=ROWS, seed=7, start=DATA_START, days=DATA_DAYS)
    registry = open_registry(settings.registry_url, ready=False)
    registry.migrate()
    registry.ensure_ready()
    apply_repo(
        registry,
        project=project,
        repo_path=repo,
        actor="tests",
        registry_url=settings.registry_url,
        online_nodes=[],
        feast=False,
    )
    return Lake(tmp / "home", config, settings, Lakehouse(settings.storage_root), registry)
