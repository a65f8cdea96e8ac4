"""A streaming test world: settings, a SQLite registry, the fixture repo, the raw events table."""

from __future__ import annotations

import random
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

FIXTURE_REPO = Path(__file__).resolve().parent / "fixture_repo"
# recent, so that online reads (which enforce the views' 2-day TTL) return the values
T0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=12)
EVENTS = "card_events"


@dataclass
class World:
    """One isolated installation streaming into the stack's Redis cluster under its own project."""

    tmp: Path
    config: Path
    settings: Any
    lakehouse: Any
    registry: Any

    def append(self, spark: Any, rows: list[tuple[int, datetime, float]]) -> int:
        """Append raw events (card, ts, amount) in one Delta commit; returns its version."""
        from pyspark.sql import functions as F

        df = spark.createDataFrame(rows, "card long, ts timestamp, amount double")
        df = df.withColumn("event_date", F.to_date("ts"))
        return self.lakehouse.write(df, EVENTS, partition_by=["event_date"]).version

    def table(self, view: str) -> str:
        return self.registry.assert_usable(self.settings.project, view, None, "materialize").table_name

    def feature_rows(self, spark: Any, view: str) -> list[Any]:
        return self.lakehouse.read(spark, self.table(view)).collect()

    def online(self, view: str, cards: list[int], features: list[str]) -> dict[str, list[Any]]:
        from featurelake.jobs.online import connect, load_catalog

        sdk = connect(self.settings, load_catalog(self.settings, registry=self.registry))
        try:
            resp = sdk.get_online_features(
                entity_rows={"card_id": cards}, features=[f"{view}:{f}" for f in features]
            )
            return resp.to_dict()
        finally:
            sdk.client.close()


def make_world(tmp: Path, redis_nodes: list[str]) -> World:
    """Settings for ``tmp`` (a fresh project name, so Redis keys never collide), the repo applied."""
    from featurelake.config.settings import load_settings_from_dict
    from featurelake.jobs.apply import apply_repo
    from featurelake.lakehouse.tables import Lakehouse
    from featurelake.registry import open_registry

    repo = tmp / "repo"
    shutil.copytree(FIXTURE_REPO, repo, ignore=shutil.ignore_patterns("__pycache__"))
    project = f"st{uuid.uuid4().hex[:8]}"
    data = {
        "project": project,
        "home": str(tmp / "home"),
        "feature_repo": str(repo),
        "storage": {"root": str(tmp / "data")},
        "registry": {"url": f"sqlite:///{tmp / 'registry.db'}"},
        "online": {"nodes": list(redis_nodes)},
        "spark": {
            "master": "local[2]",
            "conf": {"spark.sql.shuffle.partitions": "2", "spark.ui.enabled": "false"},
        },
    }
    config = tmp / "featurelake.yaml"
    config.write_text(yaml.safe_dump(data))
    settings = load_settings_from_dict(data, where=str(config), environ={})
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
    return World(tmp, config, settings, Lakehouse(settings.storage_root), registry)


def random_events(seed: int, n: int, *, cards: int = 4, hours: int = 6) -> list[tuple[int, datetime, float]]:
    """``n`` events over ``hours`` hours from T0, in event-time order, integer amounts."""
    rnd = random.Random(seed)
    rows = [
        (
            rnd.randint(1, cards),
            T0 + timedelta(seconds=rnd.randint(0, hours * 3600 - 1)),
            float(rnd.randint(1, 50)),
        )
        for _ in range(n)
    ]
    return sorted(rows, key=lambda r: r[1])
