"""The production path to the online store: AUTH token, ACL user and TLS, on real Redis.

Runs on a private throwaway cluster (ports 7201-7206), started once per configuration
(password; then TLS + password with a throwaway CA). Values go in from Spark executors through
``featurelake.jobs.materialize.redis_target`` and come out through ``featurelake.jobs.online.connect`` and Feast's own
SDK, all built from featurelake settings, so the settings -> client threading is what is tested.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from featurelake.config.settings import Settings, load_settings_from_dict
from featurelake.errors import ConfigError, ServiceUnavailableError
from featurelake.jobs.materialize import redis_target
from featurelake.jobs.online import FeatureCatalog, connect, online_view_from_feast
from featurelake.lakehouse.online import ClusterClient, FeatureStatus, OnlineView, OnlineWriter
from featurelake.lakehouse.online.encoding import to_epoch_micros
from featurelake.lakehouse.online.spark_writer import write_online
from tests.online.helpers import feast_store, unique_project
from tests.online.throwaway_cluster import ThrowawayCluster

pytestmark = [pytest.mark.spark, pytest.mark.slow]

PASSWORD = "tl-auth-token-9f3"  # not JSON-decodable: Feast json-decodes connection_string values
PASSWORD_ENV = "FL_TEST_REDIS_PASSWORD"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
VIEW = OnlineView("acct", (("account_id", "int64"),), (("balance", "double"), ("tier", "string")))
N = 12


class _Clusters:
    """One throwaway cluster at a time (all use ports 7201-7206), started once per configuration."""

    def __init__(self, root: Path):
        self.root = root
        self.current: ThrowawayCluster | None = None
        self._key: tuple[str | None, bool] | None = None

    def get(self, *, password: str | None, tls: bool) -> ThrowawayCluster:
        if self._key != (password, tls):
            self.close()
            cluster = ThrowawayCluster(
                self.root / f"{'tls' if tls else 'plain'}-{len(list(self.root.iterdir()))}",
                password=password,
                tls=tls,
            )
            self.current = cluster
            cluster.start()
            self._key = (password, tls)
        assert self.current is not None
        return self.current

    def close(self) -> None:
        if self.current is not None:
            self.current.stop()
        self.current, self._key = None, None


@pytest.fixture(scope="module")
def clusters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Clusters]:
    manager = _Clusters(tmp_path_factory.mktemp("auth-tls"))
    try:
        yield manager
    finally:
        manager.close()


@pytest.fixture
def password_cluster(clusters: _Clusters) -> ThrowawayCluster:
    return clusters.get(password=PASSWORD, tls=False)


@pytest.fixture
def tls_cluster(clusters: _Clusters) -> ThrowawayCluster:
    return clusters.get(password=PASSWORD, tls=True)


def _settings(cluster: ThrowawayCluster, project: str, **online: Any) -> Settings:
    return load_settings_from_dict(
        {"project": project, "online": {"nodes": cluster.nodes[:3], **online}}, environ={}
    )


def _catalog(project: str) -> FeatureCatalog:
    return FeatureCatalog(project=project, views={"acct": VIEW}, statuses={"acct": "active"})


def _frame(spark: Any) -> Any:
    rows = [(i, T0 + timedelta(hours=h), T0, i * 10.0 + h, f"t{i}-{h}") for i in range(N) for h in (1, 2)]
    return spark.createDataFrame(
        rows,
        "account_id long, event_timestamp timestamp, created_timestamp timestamp, balance double, tier string",
    )


def _round_trip(spark: Any, settings: Settings) -> None:
    """Materialize from the executors, then read every value back through the reader SDK."""
    stats = write_online(_frame(spark), view=VIEW, target=redis_target(settings), partitions=2)
    assert (stats.written, stats.skipped_older) == (N, 0)
    sdk = connect(settings, _catalog(settings.project))
    try:
        got = sdk.get_online_features(
            features=["acct:balance", "acct:tier"],
            entity_rows=[{"account_id": i} for i in range(N)],
            now=T0 + timedelta(days=1),
        )
    finally:
        sdk.client.close()
    assert got.status_dict()["balance"] == ["PRESENT"] * N
    assert got.status_dict()["tier"] == ["PRESENT"] * N
    assert got.to_dict()["balance"] == [i * 10.0 + 2 for i in range(N)]
    assert got.to_dict()["tier"] == [f"t{i}-2" for i in range(N)]


def _clear_one_liner(message: str, *names: str) -> None:
    for name in names:
        assert name in message, message
    assert "Traceback" not in message and "\n" not in message, message


def _feast_reads_what_we_wrote(
    spark: Any, tmp: Path, cluster: ThrowawayCluster, settings_online: dict
) -> None:
    project = unique_project()
    # Feast's redis connection_string: nodes, then key=value options passed to redis-py's RedisCluster.
    options = [f"password={PASSWORD}"]
    if cluster.tls:
        options += ["ssl=true", f"ssl_ca_certs={cluster.ca_file}"]
    store, stats_view, _ = feast_store(tmp, project, [*cluster.nodes[:3], *options])
    view = online_view_from_feast(stats_view)
    settings = _settings(cluster, project, **settings_online)
    rows = [
        (i, T0 + timedelta(minutes=i), T0, i / 4, i * 3, f"city-{i}é", i % 2 == 0, i + 0.5) for i in range(N)
    ]
    df = spark.createDataFrame(
        rows,
        "driver_id long, event_timestamp timestamp, created_timestamp timestamp, conv_rate double, "
        "trips long, city string, active boolean, score float",
    )
    write_online(df, view=view, target=redis_target(settings))
    result = store.get_online_features(
        features=["driver_stats:conv_rate", "driver_stats:trips", "driver_stats:city", "driver_stats:active"],
        entity_rows=[{"driver_id": i} for i in range(N)] + [{"driver_id": 999}],
    ).to_dict()
    assert result["conv_rate"][:N] == [i / 4 for i in range(N)]
    assert result["trips"][:N] == [i * 3 for i in range(N)]
    assert result["city"][:N] == [f"city-{i}é" for i in range(N)]
    assert result["active"][:N] == [i % 2 == 0 for i in range(N)]
    assert result["trips"][N] is None


# ---------------------------------------------------------------- AUTH (password) cluster


def test_password_round_trip_from_spark_executors(spark, password_cluster, monkeypatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    settings = _settings(password_cluster, unique_project(), password_env=PASSWORD_ENV)
    assert redis_target(settings).password == PASSWORD  # what the executors receive
    _round_trip(spark, settings)


@pytest.mark.timeout(120)  # a hang fails the test; no wall-clock assertion
def test_wrong_or_missing_password_names_password_env(spark, password_cluster, monkeypatch) -> None:
    project = unique_project()
    monkeypatch.setenv(PASSWORD_ENV, "not-the-token")
    wrong = _settings(password_cluster, project, password_env=PASSWORD_ENV)
    with pytest.raises(ConfigError) as err:
        connect(wrong, _catalog(project))
    _clear_one_liner(str(err.value), "online.password_env", "refused the password", "127.0.0.1:72")
    with pytest.raises(ConfigError) as err:  # the writer fails on the driver, before any task runs
        write_online(_frame(spark), view=VIEW, target=redis_target(wrong))
    _clear_one_liner(str(err.value), "online.password_env", "refused the password")

    missing = _settings(password_cluster, project)
    with pytest.raises(ConfigError) as err:
        connect(missing, _catalog(project))
    _clear_one_liner(str(err.value), "online.password_env", "requires a password")

    monkeypatch.delenv(PASSWORD_ENV)
    unset = _settings(password_cluster, project, password_env=PASSWORD_ENV)
    with pytest.raises(ConfigError) as err:
        connect(unset, _catalog(project))
    _clear_one_liner(str(err.value), "online.password_env", PASSWORD_ENV, "not set")


def test_acl_user_from_username_env(password_cluster, monkeypatch) -> None:
    # ACL users are per node (not replicated): create it on every node, as ElastiCache RBAC does.
    for port in password_cluster.ports:
        password_cluster.client(port).execute_command(
            "ACL", "SETUSER", "fl_app", "on", ">app-pw-7", "~*", "+@all"
        )
    project = unique_project()
    monkeypatch.setenv("FL_TEST_REDIS_USER", "fl_app")
    monkeypatch.setenv(PASSWORD_ENV, "app-pw-7")
    settings = _settings(
        password_cluster, project, username_env="FL_TEST_REDIS_USER", password_env=PASSWORD_ENV
    )
    online = settings.online
    client = ClusterClient(online.nodes, username=online.username(), password=online.password())
    try:
        OnlineWriter(client, project=project, view=VIEW).write_rows(
            ([i], to_epoch_micros(T0), [float(i), f"u{i}"]) for i in range(N)
        )
    finally:
        client.close()
    sdk = connect(settings, _catalog(project))
    got = sdk.get_online_features(
        features=["acct:balance"], entity_rows=[{"account_id": i} for i in range(N)], now=T0
    )
    sdk.client.close()
    assert got.to_dict()["balance"] == [float(i) for i in range(N)]
    assert got.statuses[1] == [FeatureStatus.PRESENT] * N

    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)  # the default user's token is not fl_app's password
    with pytest.raises(ConfigError) as err:
        connect(settings, _catalog(project))
    _clear_one_liner(str(err.value), "user 'fl_app'", "online.password_env", "online.username_env")


def test_feast_sdk_reads_through_password(spark, tmp_path, password_cluster, monkeypatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    _feast_reads_what_we_wrote(spark, tmp_path, password_cluster, {"password_env": PASSWORD_ENV})


# ---------------------------------------------------------------- TLS + AUTH cluster


def test_tls_password_round_trip_with_ca_file(spark, tls_cluster, monkeypatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    settings = _settings(
        tls_cluster,
        unique_project(),
        ssl=True,
        ssl_ca_file=str(tls_cluster.ca_file),
        password_env=PASSWORD_ENV,
    )
    target = redis_target(settings)
    assert (target.ssl, target.ssl_ca_file) == (True, str(tls_cluster.ca_file))
    _round_trip(spark, settings)


@pytest.mark.timeout(120)
def test_tls_without_the_ca_file_names_ssl_ca_file(spark, tls_cluster, monkeypatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    project = unique_project()
    untrusted = _settings(tls_cluster, project, ssl=True, password_env=PASSWORD_ENV)
    with pytest.raises(ConfigError) as err:
        connect(untrusted, _catalog(project))
    _clear_one_liner(str(err.value), "online.ssl_ca_file", "not trusted", "CERTIFICATE_VERIFY_FAILED")
    with pytest.raises(ConfigError) as err:
        write_online(_frame(spark), view=VIEW, target=redis_target(untrusted))
    _clear_one_liner(str(err.value), "online.ssl_ca_file")


@pytest.mark.timeout(120)
def test_plaintext_to_a_tls_port_fails_clearly(tls_cluster, monkeypatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    project = unique_project()
    plaintext = _settings(tls_cluster, project, password_env=PASSWORD_ENV)
    with pytest.raises(ServiceUnavailableError) as err:
        connect(plaintext, _catalog(project))
    _clear_one_liner(str(err.value), "127.0.0.1:7201", "set online.ssl: true")


def test_feast_sdk_reads_through_tls_and_password(spark, tmp_path, tls_cluster, monkeypatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    _feast_reads_what_we_wrote(
        spark,
        tmp_path,
        tls_cluster,
        {"ssl": True, "ssl_ca_file": str(tls_cluster.ca_file), "password_env": PASSWORD_ENV},
    )
