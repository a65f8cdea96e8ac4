"""`feast materialize` through featurelake's engine into a password-protected cluster, read by Feast.

One throwaway cluster (ports 7201-7206, AUTH on) for the module. The password lives only in
feature_store.yaml's connection string (``password=${VAR}``, expanded by Feast's own loader):
featurelake.yaml says nothing about it, so the engine must take it from Feast's config. Then
``featurelake``'s own path (``featurelake.jobs.apply.feast_repo_config`` on a repo that delegates the
connection with a bare ``${FEATURELAKE_ONLINE_NODES}``) must build a Feast store that can read
the same cluster with the password from ``online.password_env``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from featurelake.config.settings import load_settings_from_dict
from featurelake.jobs.apply import feast_repo_config
from featurelake.registry.writer import open_registry
from tests.online.helpers import unique_project, user_activity_definitions, write_user_activity
from tests.online.throwaway_cluster import ThrowawayCluster

pytestmark = [pytest.mark.spark, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "fl-e2e-token-4k"  # not a JSON literal
PASSWORD_ENV = "FL_E2E_REDIS_PASSWORD"
D0 = datetime(2026, 3, 1, tzinfo=UTC)
USERS = 4


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThrowawayCluster]:
    c = ThrowawayCluster(tmp_path_factory.mktemp("feast-conn"), password=PASSWORD)
    try:
        c.start()
        yield c
    finally:
        c.stop()


def _lake(spark: Any, home: Path, project: str) -> None:
    """featurelake's registry and Delta table for view user_activity (user u, day d: u*100+d)."""
    from featurelake.lakehouse.tables import Lakehouse

    settings = load_settings_from_dict({"project": project, "home": str(home)}, environ={})
    registry = open_registry(settings.registry_url)
    try:
        registry.apply_definitions(
            project,
            user_activity_definitions(),
            actor="test",
        )
        table = registry.get_view_version(project, "user_activity").table_name
    finally:
        registry.dispose()
    write_user_activity(spark, Lakehouse(settings.storage_root), table, start=D0, days=2, users=USERS)


def _feast_repo(folder: Path, project: str, connection_string: str, registry_db: Path, cfg: Path) -> Path:
    folder.mkdir()
    (folder / "feature_store.yaml").write_text(
        yaml.safe_dump(
            {
                "project": project,
                "provider": "local",
                "registry": {"registry_type": "file", "path": str(registry_db)},
                "online_store": {
                    "type": "redis",
                    "redis_type": "redis_cluster",
                    "connection_string": connection_string,
                },
                "batch_engine": {
                    "type": "featurelake.feast_plugins.materialization_engine.FeaturelakeSparkEngine",
                    "featurelake_config": str(cfg),
                },
                "entity_key_serialization_version": 3,
            }
        )
    )
    return folder


def _read(store: Any) -> dict[str, list[Any]]:
    return store.get_online_features(
        features=["user_activity:clicks", "user_activity:country"],
        entity_rows=[{"user_id": u} for u in range(USERS)] + [{"user_id": 999}],
    ).to_dict()


@pytest.mark.timeout(400)  # a hang fails the test; no wall-clock assertion
def test_feast_materialize_cli_into_password_cluster(spark, cluster, tmp_path: Path, monkeypatch) -> None:
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.types import Int64, String

    project = unique_project()
    home = tmp_path / "home"
    _lake(spark, home, project)
    cfg = tmp_path / "featurelake.yaml"  # no online keys: the connection is Feast's
    cfg.write_text(yaml.safe_dump({"project": project, "home": str(home), "spark": {"master": "local[1]"}}))
    nodes = ",".join(cluster.nodes[:3])
    repo = _feast_repo(
        tmp_path / "repo", project, f"{nodes},password=${{{PASSWORD_ENV}}}", tmp_path / "feast.db", cfg
    )

    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    monkeypatch.delenv("FEATURELAKE_ONLINE_NODES", raising=False)
    store = FeatureStore(repo_path=str(repo))  # Feast's loader expands ${FL_E2E_REDIS_PASSWORD}
    user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64)
    fv = FeatureView(
        name="user_activity",
        entities=[user],
        ttl=timedelta(days=3000),
        online=True,
        source=FileSource(path=str(tmp_path / "unused.parquet"), timestamp_field="event_timestamp"),
        schema=[
            Field(name="user_id", dtype=Int64),
            Field(name="clicks", dtype=Int64),
            Field(name="country", dtype=String),
        ],
    )
    store.apply([user, fv])

    env = {k: v for k, v in os.environ.items() if k not in ("FEATURELAKE_ONLINE_NODES", "FEATURELAKE_CONFIG")}
    env.update({PASSWORD_ENV: PASSWORD, "PYTHONPATH": str(REPO_ROOT)})
    start, end = (
        D0.replace(tzinfo=None).isoformat(),
        (D0 + timedelta(days=3)).replace(tzinfo=None).isoformat(),
    )
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "feast"),
            "-c",
            str(repo),
            "materialize",
            start,
            end,
            "-v",
            "user_activity",
        ],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=360,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    got = _read(store)  # Feast's SDK, with the password from feature_store.yaml
    assert got["clicks"] == [u * 100 + 1 for u in range(USERS)] + [None]
    assert got["country"] == ["c1"] * USERS + [None]
    registry = open_registry(
        load_settings_from_dict({"project": project, "home": str(home)}, environ={}).registry_url
    )
    try:
        newest = registry.list_runs(project=project, kind="materialize")[0]
    finally:
        registry.dispose()
    assert (newest.status, newest.actor) == ("succeeded", "feast")

    # featurelake builds Feast's store from its own settings (the repo delegates the connection):
    # the password from online.password_env must reach Feast's connection string.
    delegating = _feast_repo(
        tmp_path / "delegating", project, "${FEATURELAKE_ONLINE_NODES}", tmp_path / "feast.db", cfg
    )
    settings = load_settings_from_dict(
        {
            "project": project,
            "home": str(home),
            "online": {"nodes": cluster.nodes[:3], "password_env": PASSWORD_ENV},
        },
        environ={},
    )
    config = feast_repo_config(
        delegating, project=project, registry_url=settings.registry_url, online=settings.online
    )
    assert f"password={PASSWORD}" in config.online_store.connection_string
    assert _read(FeatureStore(config=config)) == got


def test_a_wrong_password_from_feature_store_yaml_is_named_as_such(cluster) -> None:
    """The engine's password comes from Feast's connection string: the error must point there."""
    from featurelake.config.redis_connection import online_settings_from_feast, parse_connection_string
    from featurelake.errors import ConfigError
    from featurelake.jobs.materialize import redis_target

    where = "online_store.connection_string in feature_store.yaml"
    settings = load_settings_from_dict({"project": "p"}, environ={})
    conn = parse_connection_string(f"{','.join(cluster.nodes[:3])},password=not-the-token", source=where)
    online = online_settings_from_feast(conn, settings.online, source=where)
    target = redis_target(settings.model_copy(update={"online": online}))
    with pytest.raises(ConfigError) as err:
        target.client().refresh()
    assert "feature_store.yaml" in str(err.value) and "password=" in str(err.value)
    assert "online.password_env" not in str(err.value)
